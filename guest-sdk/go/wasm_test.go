//go:build !wasip1

package wstream

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wstream/wstream/abi"
)

// TestWasm builds testdata/sdkprobe as a WASI reactor and drives its exports
// with wazero: what the native tests cannot show is that the exports work
// from this package (not main), that recover catches runtime panics inside
// WebAssembly, that the log import reaches the host, and that the buffers
// the host holds survive the GC.
func TestWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module")
	}
	wasmPath := filepath.Join(t.TempDir(), "sdkprobe.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", wasmPath, "./testdata/sdkprobe")
	cmd.Env = append(cmd.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var logs []string
	_, err := r.NewHostModuleBuilder(abi.ImportModule).NewFunctionBuilder().
		WithFunc(func(_ context.Context, m api.Module, level, ptr, n uint32) {
			b, _ := m.Memory().Read(ptr, n)
			logs = append(logs, fmt.Sprintf("%d:%s", level, b))
		}).Export(abi.ImportLog).Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	mod, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().
		WithStderr(&stderr).WithStartFunctions(abi.ExportInitialize))
	if err != nil {
		t.Fatal(err)
	}
	call := func(name string, args ...uint64) uint64 {
		t.Helper()
		res, err := mod.ExportedFunction(name).Call(ctx, args...)
		if err != nil {
			t.Fatalf("%s: %v\nstderr: %s", name, err, stderr.String())
		}
		return res[0]
	}
	read := func(packed uint64) []byte {
		t.Helper()
		b, ok := mod.Memory().Read(abi.Unpack(packed))
		if !ok {
			t.Fatalf("response %x outside memory", packed)
		}
		return bytes.Clone(b)
	}

	if v := call(abi.ExportVersion); v != abi.Version {
		t.Fatalf("wstream_abi_version = %d", v)
	}
	m, err := abi.DecodeManifest(read(call(abi.ExportManifest)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "sdkprobe" || m.Language != "go" || m.Pipeline != "stages: []\n" || len(m.Functions) != 7 {
		t.Fatalf("manifest %+v", m)
	}
	run := func(fn, in string) string {
		t.Helper()
		id, _, ok := m.Lookup(fn)
		if !ok {
			id = 99
		}
		b, err := abi.FromJSON(nil, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		ptr := uint32(call(abi.ExportAlloc, uint64(len(b))))
		if ptr == 0 || !mod.Memory().Write(ptr, b) {
			t.Fatalf("wstream_alloc(%d) = %d", len(b), ptr)
		}
		j, err := abi.AppendJSON(nil, read(call(abi.ExportCall, uint64(id), uint64(ptr), uint64(len(b)))))
		if err != nil {
			t.Fatal(err)
		}
		return string(j)
	}

	tests := []struct{ fn, in, want string }{
		{"echo-and-log", `["hello",1]`, `[0,["hello",1],[]]`},
		{"misbehave", `["ok","panic","nil-map","index","divide","nil-pointer","error",3]`,
			`[0,["ok",null,null,null,null,null,null,3],[` +
				`[1,"panic: on purpose"],` +
				`[2,"panic: assignment to entry in nil map"],` +
				`[3,"panic: runtime error: index out of range [5] with length 0"],` +
				`[4,"panic: runtime error: integer divide by zero"],` +
				`[5,"panic: runtime error: invalid memory address or nil pointer dereference"],` +
				`[6,"failed on purpose"]]]`},
		{"gc", `["a","gc","b"]`, `[0,["a","gc","b"],[]]`},
		{"concat", `[["a"],["a","b","c"],[1]]`, `[0,["a","abc",1],[]]`},
		{"concat", `[["a",1]]`, `[0,[null],[[0,"panic: interface conversion: interface {} is int64, not string"]]]`},
		{"describe", `[1700000000000,[["k",[1,2],[]],["j",[],[null]],["drop",[],[1]]]]`,
			`[0,[[["k",[1,2],false,null,1700000000000]],[["j",[],true,null,1700000000000]],[]],[]]`},
		{"repeat", `[0,3,-1]`, `[0,[[],[0,1,2],null],[[2,"want a count"]]]`},
		{"truthy", `[true,false,1]`, `[0,[true,false,false],[]]`},
		{"nope", `[1]`, `[2,"plugin \"sdkprobe\" has no function 99 (it has 7)",[]]`},
	}
	for _, tt := range tests {
		if got := run(tt.fn, tt.in); got != tt.want {
			t.Errorf("%s(%s)\n got %s\nwant %s", tt.fn, tt.in, got, tt.want)
		}
	}
	if strings.Join(logs, "|") != "2:hello" {
		t.Errorf("logs %q", logs)
	}

	// Buffers grow and are reused: many calls of mixed sizes, with the GC
	// running inside some of them, all answer from the right bytes.
	for i := range 100 {
		n := (i * 7919) % 5000
		in := make([]string, n)
		for j := range in {
			in[j] = fmt.Sprintf("%q", fmt.Sprint(i, "-", j))
		}
		fn := "echo-and-log"
		if i%10 == 0 && n > 0 {
			fn, in[n/2] = "gc", `"gc"`
		}
		want := "[0,[" + strings.Join(in, ",") + "],[]]"
		if got := run(fn, "["+strings.Join(in, ",")+"]"); got != want {
			t.Fatalf("call %d (%d elements): got %.200s", i, n, got)
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}
