//go:build cgo

package wasmtime_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtest"
	"github.com/wstream/wstream/runtime/wazero"
)

// batchesFor are call inputs (ABI.md §6) for each kind, including ones a
// function rejects: an error response must be byte-identical too.
var batchesFor = map[abi.Kind][]string{
	abi.KindMap: {
		`[]`, `[1, 2, 3]`, `["a b", "c", ""]`,
		`[1, "x", null, true, 1.5, [1, 2], {"k": "v"}, -4000000000, 18446744073709551615]`,
		`[["k", 1], ["k", 2], ["j", -3]]`,
	},
	abi.KindReduce: {`[]`, `[[1, 2, 3], [4, 5]]`, `[[1.5, 2], ["a", "b"], [[1], [2]]]`},
	abi.KindUpdate: {`[1000, []]`, `[2000, [["k", [1, 2], []], ["j", [], [5]], ["i", [3], [[4, 1]]]]]`, `[3000, [["k", [], [[0, 1]]]]]`},
}

func init() {
	batchesFor[abi.KindFlatMap] = batchesFor[abi.KindMap]
	batchesFor[abi.KindFilter] = batchesFor[abi.KindMap]
}

// bigBatch is a map input of 2n items, of about 15n bytes: batches of
// growing n make both adapters grow their input buffer.
func bigBatch(n int) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `%d,"w%d w%d"`, i*7919, i, i%13)
	}
	sb.WriteByte(']')
	return sb.String()
}

type engineUnderTest struct {
	name   string
	engine runtime.Engine
	stderr *wasmtest.SyncBuffer
	cfg    runtime.Config
}

func bothEngines(t *testing.T, cfg runtime.Config) []*engineUnderTest {
	ctx := context.Background()
	wt := newEngine(t)
	wz := wazero.New(ctx)
	t.Cleanup(func() { wz.Close(ctx) })
	var out []*engineUnderTest
	for _, e := range []runtime.Engine{wz, wt} {
		stderr := &wasmtest.SyncBuffer{}
		c := cfg
		c.Stderr = stderr
		out = append(out, &engineUnderTest{name: e.Name(), engine: e, stderr: stderr, cfg: c.Defaults()})
	}
	return out
}

func instantiate(t *testing.T, e *engineUnderTest, name string, wasm []byte) runtime.Instance {
	t.Helper()
	ctx := context.Background()
	mod, err := e.engine.Compile(ctx, name, wasm, e.cfg)
	if err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	t.Cleanup(func() { mod.Close(ctx) })
	inst, err := mod.Instantiate(ctx)
	if err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	t.Cleanup(func() { inst.Close(ctx) })
	return inst
}

// TestDifferential runs the same modules on wazero and Wasmtime: every
// response, manifest, stderr and log byte must be identical.
func TestDifferential(t *testing.T) {
	guests := map[string]func(t *testing.T) []byte{
		"guest.wasm": func(t *testing.T) []byte { return wasmtest.GoGuest(t) },
		"conformance.wasm": func(t *testing.T) []byte {
			// The real SDK and vocabulary, built from source. Its own tests
			// judge whether it builds; here it is one more module to compare.
			wasm, err := wasmtest.BuildGo("../../plugins/conformance")
			if err != nil {
				t.Skip(err)
			}
			return wasm
		},
	}
	// Functions of the test guest that break their instance; compared below.
	hostileFns := map[string]bool{"loop": true, "bomb": true, "badptr": true, "panic": true}
	for name, build := range guests {
		t.Run(name, func(t *testing.T) {
			wasm := build(t)
			cfg := runtime.Config{Workers: 2}
			engines := bothEngines(t, cfg)
			ctx := context.Background()
			insts := make([]runtime.Instance, len(engines))
			for i, e := range engines {
				insts[i] = instantiate(t, e, name, wasm)
			}
			var manifests [][]byte
			for i, inst := range insts {
				m, err := inst.Manifest(ctx)
				if err != nil {
					t.Fatalf("%s: %v", engines[i].name, err)
				}
				manifests = append(manifests, m)
			}
			if !bytes.Equal(manifests[0], manifests[1]) {
				t.Fatalf("manifests differ:\n%x\n%x", manifests[0], manifests[1])
			}
			m, err := abi.DecodeManifest(manifests[0])
			if err != nil {
				t.Fatal(err)
			}
			compared := 0
			for id, fn := range append(m.Functions, abi.Function{Name: "(no such function)", Kind: abi.KindMap}) {
				if hostileFns[fn.Name] {
					continue
				}
				inputs := batchesFor[fn.Kind]
				if fn.Kind == abi.KindMap || fn.Kind == abi.KindFlatMap || fn.Kind == abi.KindFilter {
					inputs = append(inputs, bigBatch(500), bigBatch(3000))
				}
				for _, input := range inputs {
					in, _ := wasmtest.Batch(t, input)
					var outs [][]byte
					for i, inst := range insts {
						out, err := inst.Call(ctx, id, in)
						if err != nil {
							t.Fatalf("%s: %s(%.40s): %v", engines[i].name, fn.Name, input, err)
						}
						outs = append(outs, out)
					}
					if !bytes.Equal(outs[0], outs[1]) {
						t.Errorf("%s(%.60s): responses differ:\nwazero   %s\nwasmtime %s", fn.Name, input, abi.Describe(outs[0]), abi.Describe(outs[1]))
					}
					if a, b := insts[0].Stderr(), insts[1].Stderr(); a != b {
						t.Errorf("%s(%.60s): stderr differs:\nwazero   %q\nwasmtime %q", fn.Name, input, a, b)
					}
					compared++
				}
			}
			if a, b := engines[0].stderr.String(), engines[1].stderr.String(); a != b {
				t.Errorf("logs differ:\nwazero   %q\nwasmtime %q", a, b)
			}
			t.Logf("%d calls byte-identical on both engines", compared)
		})
	}
}

// TestDifferentialErrors checks that each kind of guest failure maps to
// the same runtime error on both engines.
func TestDifferentialErrors(t *testing.T) {
	cfg := runtime.Config{Workers: 2}
	cfg.CallTimeout = time.Second // also bounds _initialize, slow under -race
	cfg.MemoryLimitPages = 1024
	engines := bothEngines(t, cfg)
	sentinels := []error{runtime.ErrTimeout, runtime.ErrMemoryLimit, runtime.ErrBadPointer, runtime.ErrTrap}
	class := func(err error) error {
		for _, s := range sentinels {
			if errors.Is(err, s) {
				return s
			}
		}
		return err
	}
	fns := map[string]error{"loop": runtime.ErrTimeout, "bomb": runtime.ErrMemoryLimit, "badptr": runtime.ErrBadPointer, "panic": runtime.ErrTrap}
	ids := map[string]int{"loop": 3, "bomb": 4, "badptr": 5, "panic": 8}
	in, _ := wasmtest.Batch(t, `[1]`)
	for fn, want := range fns {
		for _, e := range engines {
			inst := instantiate(t, e, "guest.wasm", wasmtest.GoGuest(t))
			_, err := inst.Call(context.Background(), ids[fn], in)
			if got := class(err); got != want {
				t.Errorf("%s on %s: err = %v, want %v", fn, e.name, err, want)
			}
		}
	}
}

// capsGuest reports what WASI shows it: wstream_call(fn) stores an i64 at
// 64 and returns those 8 bytes. fn 0: fd_prestat_get(3)'s errno (0 when a
// directory is pre-opened), 1: the number of environment variables, 2: the
// realtime clock in ns.
var capsGuest = wasmtest.Guest{
	Imports: []wasmtest.Import{
		{Module: "wasi_snapshot_preview1", Name: "fd_prestat_get", Params: []byte{wasmtest.I32, wasmtest.I32}, Results: []byte{wasmtest.I32}},
		{Module: "wasi_snapshot_preview1", Name: "environ_sizes_get", Params: []byte{wasmtest.I32, wasmtest.I32}, Results: []byte{wasmtest.I32}},
		{Module: "wasi_snapshot_preview1", Name: "clock_time_get", Params: []byte{wasmtest.I32, wasmtest.I64, wasmtest.I32}, Results: []byte{wasmtest.I32}},
	},
	Call: wasmtest.Cat(
		wasmtest.LocalGet(0), wasmtest.I32Eqz, wasmtest.If(
			wasmtest.I32Const(64),
			wasmtest.I32Const(3), wasmtest.I32Const(128), wasmtest.Call(0), wasmtest.I64ExtendU,
			wasmtest.I64Store()),
		wasmtest.LocalGet(0), wasmtest.I32Const(1), wasmtest.I32Eq, wasmtest.If(
			wasmtest.I32Const(128), wasmtest.I32Const(132), wasmtest.Call(1), wasmtest.Drop,
			wasmtest.I32Const(64), wasmtest.I32Const(128), wasmtest.I32Load(), wasmtest.I64ExtendU, wasmtest.I64Store()),
		wasmtest.LocalGet(0), wasmtest.I32Const(2), wasmtest.I32Eq, wasmtest.If(
			wasmtest.I32Const(0), wasmtest.I64Const(1), wasmtest.I32Const(128), wasmtest.Call(2), wasmtest.Drop,
			wasmtest.I32Const(64), wasmtest.I32Const(128), wasmtest.I64Load(), wasmtest.I64Store()),
		wasmtest.Packed(64, 8)),
}

// TestCapabilitiesSeen compares what a guest sees of Config.Allow on both
// engines: the same pre-opened directory, environment and clock (the same
// fake one without the clock capability).
func TestCapabilitiesSeen(t *testing.T) {
	ctx := context.Background()
	wasm := capsGuest.Bytes()
	near := func(ns uint64) bool {
		d := time.Since(time.Unix(0, int64(ns)))
		return d > -time.Minute && d < time.Minute
	}
	for _, allow := range [][]string{nil, {"clock", "env", "fs:" + t.TempDir()}} {
		cfg := runtime.Config{Workers: 2}
		cfg.Allow = allow
		var seen [2][3]uint64
		for i, e := range bothEngines(t, cfg) {
			inst := instantiate(t, e, "caps.wasm", wasm)
			for fn := range 3 {
				out, err := inst.Call(ctx, fn, []byte{0x90})
				if err != nil || len(out) != 8 {
					t.Fatalf("%s fn %d: %x, %v", e.name, fn, out, err)
				}
				seen[i][fn] = binary.LittleEndian.Uint64(out)
			}
		}
		t.Logf("allow %q: wazero sees %v, wasmtime %v", allow, seen[0], seen[1])
		if seen[0][0] != seen[1][0] || seen[0][1] != seen[1][1] {
			t.Errorf("allow %q: pre-opened dir errno and env count differ: wazero %v, wasmtime %v", allow, seen[0][:2], seen[1][:2])
		}
		if granted := allow != nil; (seen[1][0] == 0) != granted || (seen[1][1] > 0) != (granted && len(os.Environ()) > 0) {
			t.Errorf("allow %q: wasmtime sees errno %d, %d env vars", allow, seen[1][0], seen[1][1])
		}
		for i, name := range []string{"wazero", "wasmtime"} {
			if granted := allow != nil; near(seen[i][2]) != granted {
				t.Errorf("allow %q: %s's clock reads %v", allow, name, time.Unix(0, int64(seen[i][2])))
			}
		}
		if allow == nil && seen[0][2] != seen[1][2] {
			t.Errorf("without the clock: wazero's fake clock reads %d, wasmtime's %d", seen[0][2], seen[1][2])
		}
	}
}
