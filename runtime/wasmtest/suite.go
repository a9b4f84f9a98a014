package wasmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// NewEngine makes an engine for the suite, which closes it.
type NewEngine func(context.Context) (runtime.Engine, error)

// RunSuite runs the tests every runtime adapter must pass against the
// engine newEngine makes: each adapter's tests call it once, as wazero's
// spectest runs one suite per engine, so that the adapters are held to the
// same behaviour and messages. What only one engine has (its cache files,
// its shutdown) stays in that adapter's own tests.
func RunSuite(t *testing.T, newEngine NewEngine) {
	s := &suite{newEngine: newEngine}
	for _, tc := range []struct {
		name string
		run  func(*suite, *testing.T)
	}{
		{"RoundTrip", (*suite).roundTrip},
		{"Pool", (*suite).pool},
		{"MissingExport", (*suite).missingExport},
		{"Imports", (*suite).imports},
		{"NotWasm", (*suite).notWasm},
		{"ABIVersion", (*suite).abiVersion},
		{"CallTimeout", (*suite).callTimeout},
		{"CallerCancel", (*suite).callerCancel},
		{"InitializeLoop", (*suite).initializeLoop},
		{"GCDuringRunawayGuest", (*suite).gcDuringRunawayGuest},
		{"MemoryLimit", (*suite).memoryLimit},
		{"BadPointer", (*suite).badPointer},
		{"InvalidResponse", (*suite).invalidResponse},
		{"Panic", (*suite).panic},
		{"Exit", (*suite).exit},
		{"Stderr", (*suite).stderr},
		{"Log", (*suite).log},
		{"CacheUnusable", (*suite).cacheUnusable},
		{"Capabilities", (*suite).capabilities},
		{"HostileGuests", (*suite).hostileGuests},
		{"SleeperIsStopped", (*suite).sleeperIsStopped},
		{"FSCapability", (*suite).fsCapability},
		{"Corpus", (*suite).corpus},
		{"ModuleSize", (*suite).moduleSize},
		{"CompileTimeout", (*suite).compileTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(s, t) })
	}
}

type suite struct {
	newEngine NewEngine
}

// engine makes an engine that is closed when the test ends.
func (s *suite) engine(tb testing.TB) runtime.Engine {
	tb.Helper()
	ctx := context.Background()
	e, err := s.newEngine(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close(ctx) })
	return e
}

// config uses the default compilation cache, as wstream does: the Go guest
// takes seconds to compile (20s under -race), and only once per machine.
func config() (runtime.Config, *SyncBuffer) {
	stderr := &SyncBuffer{}
	return runtime.Config{Stderr: stderr, Workers: 2}, stderr
}

func (s *suite) load(tb testing.TB, wasm []byte, cfg runtime.Config) *runtime.Plugin {
	tb.Helper()
	ctx := context.Background()
	p, err := runtime.Load(ctx, s.engine(tb), "guest.wasm", wasm, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(ctx) })
	return p
}

// loadErr loads a module that must be refused and returns why.
func (s *suite) loadErr(t *testing.T, wasm []byte, cfg runtime.Config) error {
	t.Helper()
	ctx := context.Background()
	p, err := runtime.Load(ctx, s.engine(t), "hostile.wasm", wasm, cfg)
	if err == nil {
		p.Close(ctx)
		t.Fatal("Load succeeded, want an error")
	}
	t.Logf("Load: %v", err) // go test -v shows what users would read
	return err
}

func (s *suite) roundTrip(t *testing.T) {
	cfg, _ := config()
	p := s.load(t, GoGuest(t), cfg)
	if m := p.Manifest(); m.Name != "guest" || m.Language != "go" || len(m.Functions) < 2 {
		t.Fatalf("manifest = %+v", m)
	}
	r, err := CallJSON(t, p, "double", `[1, 2, "x", -4000000000]`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Results(t, r), `[2,4,null,-8000000000]`; got != want {
		t.Errorf("results = %s, want %s", got, want)
	}
	if len(r.Errors) != 1 || r.Errors[0].Index != 2 || !strings.Contains(r.Errors[0].Message, "want int") {
		t.Errorf("errors = %+v, want one for index 2", r.Errors)
	}
	// An empty batch, then a batch much larger than the first input
	// buffer, then a small one again: the buffer grows and is reused.
	for _, size := range []int{0, 20000, 3} {
		var sb strings.Builder
		sb.WriteByte('[')
		want := []byte{'['}
		for i := 0; i < size; i++ {
			if i > 0 {
				sb.WriteByte(',')
				want = append(want, ',')
			}
			fmt.Fprint(&sb, i)
			want = fmt.Append(want, 2*i)
		}
		sb.WriteByte(']')
		want = append(want, ']')
		r, err := CallJSON(t, p, "double", sb.String())
		if err != nil {
			t.Fatal(err)
		}
		if got := Results(t, r); got != string(want) {
			t.Errorf("size %d: results differ", size)
		}
	}
}

func (s *suite) pool(t *testing.T) {
	cfg, _ := config()
	cfg.Workers = 4
	p := s.load(t, GoGuest(t), cfg)
	f, err := p.Func("double")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				base := int64(g*1000 + i*10)
				in := abi.AppendArrayHeader(nil, 10)
				for k := int64(0); k < 10; k++ {
					in = abi.AppendInt(in, base+k)
				}
				r, err := f.Call(context.Background(), in, 10)
				if err != nil {
					errs <- err
					return
				}
				for k, v := range r.Results {
					got, _, err := abi.ReadInt(v)
					if err != nil || got != 2*(base+int64(k)) {
						errs <- fmt.Errorf("goroutine %d call %d item %d: got %d (%v), want %d", g, i, k, got, err, 2*(base+int64(k)))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func (s *suite) missingExport(t *testing.T) {
	cfg, _ := config()
	for _, tc := range []struct {
		name, want string
		wasm       []byte
	}{
		{"no call", "wstream_call is not exported", Guest{Drop: abi.ExportCall}.Bytes()},
		{"no alloc", "wstream_alloc is not exported", Guest{Drop: abi.ExportAlloc}.Bytes()},
		{"no version", "wstream_abi_version is not exported", Guest{Drop: abi.ExportVersion}.Bytes()},
		{"no manifest", "wstream_manifest is not exported", Guest{Drop: abi.ExportManifest}.Bytes()},
		{"no memory", `no exported memory named "memory"`, Guest{Drop: "memory"}.Bytes()},
		{"mistyped manifest", "wstream_manifest has signature () -> (), want () -> (i64)", Guest{Retype: abi.ExportManifest}.Bytes()},
		{"mistyped call", "wstream_call has signature () -> (), want (i32, i32, i32) -> (i64)", Guest{Retype: abi.ExportCall}.Bytes()},
		{"mistyped initialize", "_initialize has signature (v128) -> (), want () -> ()", Guest{Extra: []Func{{Export: abi.ExportInitialize, Params: []byte{V128}}}}.Bytes()},
		{"command", "exports _start", Guest{Extra: []Func{{Export: "_start"}}}.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.loadErr(t, tc.wasm, cfg)
			if !errors.Is(err, runtime.ErrMissingExp) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "wstream guest SDK") {
				t.Errorf("err = %v, want ErrMissingExp saying %q and how to fix it", err, tc.want)
			}
		})
	}
}

func (s *suite) imports(t *testing.T) {
	cfg, _ := config()
	i3, i4 := []byte{I32, I32, I32}, []byte{I32, I32, I32, I32}
	const wasi = "wasi_snapshot_preview1"
	for _, tc := range []struct {
		name string
		g    Guest
		want string
	}{
		{"foreign", Guest{Imports: []Import{{Module: "env", Name: "foo"}}}, "imports env.foo, which wstream does not provide"},
		{"foreign global", Guest{Imports: []Import{{Module: "env", Name: "g", Global: I32}}}, "imports env.g, which wstream does not provide"},
		{"unknown host function", Guest{Imports: []Import{{Module: abi.ImportModule, Name: "nope"}}}, "imports wstream_v1.nope, which does not exist"},
		{"unknown wasi", Guest{Imports: []Import{{Module: wasi, Name: "nope"}}}, "imports wasi_snapshot_preview1.nope, which does not exist"},
		{"mistyped log", Guest{Imports: []Import{{Module: abi.ImportModule, Name: abi.ImportLog, Params: i3[:2]}}}, "imports wstream_v1.log with signature (i32, i32) -> (), but it is (i32, i32, i32) -> ()"},
		{"mistyped wasi", Guest{Imports: []Import{{Module: wasi, Name: "fd_write", Params: i3[:1]}}}, "imports wasi_snapshot_preview1.fd_write with signature (i32) -> (), but it is (i32, i32, i32, i32) -> (i32)"},
		{"memory", Guest{ImportMem: true}, "imports memory env.mem; a guest must define and export its own memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.loadErr(t, tc.g.Bytes(), cfg)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	// The allowed imports load.
	ok := Guest{Imports: []Import{
		{Module: abi.ImportModule, Name: abi.ImportLog, Params: i3},
		{Module: wasi, Name: "fd_write", Params: i4, Results: []byte{I32}},
	}}
	p := s.load(t, ok.Bytes(), cfg)
	if _, err := CallJSON(t, p, "f", `[]`); err != nil {
		t.Error(err)
	}
}

func (s *suite) notWasm(t *testing.T) {
	cfg, _ := config()
	for _, wasm := range [][]byte{[]byte("hello, world"), []byte("\x00asm\x01\x00\x00\x00\xffgarbage")} {
		if err := s.loadErr(t, wasm, cfg); !errors.Is(err, runtime.ErrNotWasm) {
			t.Errorf("err = %v, want ErrNotWasm", err)
		}
		// The engine checks too, without the Plugin's help.
		if _, err := s.engine(t).Compile(context.Background(), "x.wasm", wasm, cfg); !errors.Is(err, runtime.ErrNotWasm) {
			t.Errorf("Compile: err = %v, want ErrNotWasm", err)
		}
	}
}

func (s *suite) abiVersion(t *testing.T) {
	cfg, _ := config()
	err := s.loadErr(t, Guest{Version: 2}.Bytes(), cfg)
	if !errors.Is(err, runtime.ErrABIVersion) || !strings.Contains(err.Error(), "ABI 2, this host speaks ABI 1") {
		t.Errorf("err = %v, want ErrABIVersion naming both versions", err)
	}
}

func (s *suite) callTimeout(t *testing.T) {
	cfg, _ := config()
	// Not shorter: the limit also bounds the Go guest's _initialize in the
	// fresh instance below, which takes ~150ms under -race on a busy machine.
	cfg.CallTimeout = time.Second
	cfg.Workers = 1
	p := s.load(t, GoGuest(t), cfg)
	start := time.Now()
	_, err := CallJSON(t, p, "loop", `[1]`)
	if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), "time limit of 1s") {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	var ce *runtime.CallError
	if !errors.As(err, &ce) || ce.Plugin != "guest.wasm" || ce.Func != "loop" {
		t.Errorf("err = %#v, want a CallError naming the plugin and function", err)
	}
	// Generous: a shared machine may be slow, never stuck.
	t.Logf("stopped after %v", time.Since(start))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the loop ran %v", d)
	}
	// The broken instance was discarded; the next call gets a fresh one.
	r, err := CallJSON(t, p, "double", `[21]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := Results(t, r); got != "[42]" {
		t.Errorf("after the timeout: %s", got)
	}
}

func (s *suite) callerCancel(t *testing.T) {
	cfg, _ := config()
	p := s.load(t, GoGuest(t), cfg)
	f, _ := p.Func("loop")
	in, n := Batch(t, `[1]`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.Call(ctx, in, n)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, runtime.ErrTimeout) {
		t.Errorf("err = %v, want the caller's deadline, not the plugin's time limit", err)
	}
	// A context cancelled before the call stops it before it starts.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := f.Call(ctx, in, n); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func (s *suite) initializeLoop(t *testing.T) {
	cfg, _ := config()
	cfg.CallTimeout = 200 * time.Millisecond
	err := s.loadErr(t, LoopInInit.Bytes(), cfg)
	if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), "_initialize") {
		t.Errorf("err = %v, want ErrTimeout in _initialize", err)
	}
	// An instance of a good module right after it works: the timeout was
	// the looping instance's alone.
	p := s.load(t, Guest{}.Bytes(), cfg)
	if _, err := CallJSON(t, p, "f", `[]`); err != nil {
		t.Error(err)
	}
}

// gcDuringRunawayGuest: a guest that never returns must not freeze the
// host at the next GC. The Go runtime cannot preempt a goroutine running
// JIT-compiled guest code; it waits until the guest comes back to Go,
// which a metered guest does every few microseconds (and a cgo call never
// holds it up). Without that, the GC below would never return and this
// test would hang.
func (s *suite) gcDuringRunawayGuest(t *testing.T) {
	cfg, _ := config()
	cfg.CallTimeout = time.Hour // only the caller's cancel below stops the loop
	cfg.Workers = 1
	p := s.load(t, GoGuest(t), cfg)
	f, err := p.Func("loop")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	in, n := Batch(t, `[1]`)
	done := make(chan error, 1)
	go func() {
		_, err := f.Call(ctx, in, n)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the guest start looping
	for i := 0; i < 3; i++ {
		goruntime.GC()
	}
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want the caller's cancel", err)
	}
}

func (s *suite) memoryLimit(t *testing.T) {
	cfg, _ := config()
	cfg.MemoryLimitPages = 1024 // 64 MiB
	t.Run("go", func(t *testing.T) {
		p := s.load(t, GoGuest(t), cfg)
		_, err := CallJSON(t, p, "bomb", `[1]`)
		if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "1024 pages (64 MiB)") {
			t.Fatalf("err = %v, want ErrMemoryLimit", err)
		}
		if r, err := CallJSON(t, p, "double", `[1]`); err != nil || Results(t, r) != "[2]" {
			t.Errorf("after the bomb: %v", err)
		}
	})
	t.Run("wat", func(t *testing.T) {
		p := s.load(t, MemoryBomb.Bytes(), cfg)
		_, err := CallJSON(t, p, "f", `[]`)
		if !errors.Is(err, runtime.ErrMemoryLimit) {
			t.Fatalf("err = %v, want ErrMemoryLimit", err)
		}
	})
	t.Run("initial memory", func(t *testing.T) {
		err := s.loadErr(t, Guest{MemPages: 2000}.Bytes(), cfg)
		if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "starts with 2000 pages") {
			t.Errorf("err = %v, want ErrMemoryLimit", err)
		}
	})
	t.Run("plain trap", func(t *testing.T) {
		// Far from the limit and silent about memory: a trap, not the limit.
		p := s.load(t, Trap.Bytes(), cfg)
		_, err := CallJSON(t, p, "f", `[]`)
		if !errors.Is(err, runtime.ErrTrap) || errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("err = %v, want ErrTrap", err)
		}
		if strings.Contains(err.Error(), "Stack backtrace") {
			t.Errorf("err = %v, want no native backtrace", err)
		}
	})
}

func (s *suite) badPointer(t *testing.T) {
	cfg, _ := config()
	p := s.load(t, GoGuest(t), cfg)
	_, err := CallJSON(t, p, "badptr", `[1]`)
	var ce *runtime.CallError
	if !errors.Is(err, runtime.ErrBadPointer) || !errors.As(err, &ce) || ce.Func != "badptr" || !strings.Contains(err.Error(), "wstream_call returned 100 bytes at 0xffffff00") {
		t.Errorf("err = %v, want ErrBadPointer from wstream_call", err)
	}
	err = s.loadErr(t, Guest{Manifest: Packed(1<<20, 10)}.Bytes(), cfg)
	if !errors.Is(err, runtime.ErrBadPointer) || !strings.Contains(err.Error(), "wstream_manifest") {
		t.Errorf("err = %v, want ErrBadPointer from wstream_manifest", err)
	}
	// An input buffer past the end of memory.
	p = s.load(t, Guest{Alloc: I32Const(2*64<<10 - 100)}.Bytes(), cfg)
	if _, err := CallJSON(t, p, "f", `[1]`); !errors.Is(err, runtime.ErrBadPointer) || !strings.Contains(err.Error(), "wstream_alloc(4096) returned 0x1ff9c") {
		t.Errorf("err = %v, want ErrBadPointer from wstream_alloc", err)
	}
	// A guest out of memory returns 0 from wstream_alloc.
	p = s.load(t, Guest{Alloc: I32Const(0)}.Bytes(), cfg)
	if _, err := CallJSON(t, p, "f", `[1]`); !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Errorf("err = %v, want ErrMemoryLimit from wstream_alloc", err)
	}
}

func (s *suite) invalidResponse(t *testing.T) {
	cfg, _ := config()
	p := s.load(t, GoGuest(t), cfg)
	_, err := CallJSON(t, p, "garbage", `[1]`)
	var ce *runtime.CallError
	if !errors.As(err, &ce) || ce.Plugin != "guest.wasm" || ce.Func != "garbage" || !errors.Is(err, abi.ErrBadResponse) {
		t.Errorf("err = %v, want a CallError with ErrBadResponse naming plugin and function", err)
	}
}

func (s *suite) panic(t *testing.T) {
	cfg, _ := config()
	p := s.load(t, GoGuest(t), cfg)
	_, err := CallJSON(t, p, "panic", `[1]`)
	var ce *runtime.CallError
	if !errors.Is(err, runtime.ErrTrap) || !errors.As(err, &ce) || !strings.Contains(ce.Stderr, "the guest panicked on purpose") {
		t.Errorf("err = %v, want ErrTrap with the panic on stderr", err)
	}
}

func (s *suite) exit(t *testing.T) {
	cfg, _ := config()
	g := Guest{
		Imports: []Import{{Module: "wasi_snapshot_preview1", Name: "proc_exit", Params: []byte{I32}}},
		Call:    Cat(I32Const(3), Call(0), Unreachable),
	}
	p := s.load(t, g.Bytes(), cfg)
	_, err := CallJSON(t, p, "f", `[]`)
	if !errors.Is(err, runtime.ErrTrap) || !strings.Contains(err.Error(), "wstream_call: the guest exited with code 3") {
		t.Errorf("err = %v, want ErrTrap saying the guest exited", err)
	}
}

func (s *suite) stderr(t *testing.T) {
	cfg, stderr := config()
	cfg.StderrLimit = 100
	p := s.load(t, GoGuest(t), cfg)
	if _, err := CallJSON(t, p, "stderr", `["hello\n", "world\n"]`); err != nil {
		t.Fatal(err)
	}
	if got := stderr.String(); got != "[guest.wasm] hello\n[guest.wasm] world\n" {
		t.Errorf("stderr = %q", got)
	}
	long := strings.Repeat("x", 60) + "\n"
	if _, err := CallJSON(t, p, "stderr", fmt.Sprintf(`[%q, %q, %q]`, long, long, long)); err != nil {
		t.Fatal(err)
	}
	got := stderr.String()
	if !strings.Contains(got, "stderr truncated: 83 more bytes dropped") || strings.Count(got, "x") != 100-61+60 {
		t.Errorf("stderr = %q, want 100 bytes kept and a truncation mark", got)
	}

	// The same through the Instance interface directly.
	ctx := context.Background()
	mod, err := s.engine(t).Compile(ctx, "guest.wasm", GoGuest(t), cfg.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := Batch(t, `["a", "b"]`)
	if _, err := inst.Call(ctx, 2, in); err != nil {
		t.Fatal(err)
	}
	if s := inst.Stderr(); s != "ab" {
		t.Errorf("Stderr() = %q", s)
	}
	if s := inst.Stderr(); s != "" {
		t.Errorf("Stderr() after draining = %q", s)
	}
	if err := inst.Close(ctx); err != nil {
		t.Error(err)
	}
	if err := inst.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := inst.Call(ctx, 2, in); err == nil {
		t.Error("Call after Close succeeded")
	}
	if err := mod.Close(ctx); err != nil {
		t.Error(err)
	}
}

func (s *suite) log(t *testing.T) {
	cfg, stderr := config()
	p := s.load(t, GoGuest(t), cfg)
	if _, err := CallJSON(t, p, "log", `["hello", "two\nlines"]`); err != nil {
		t.Fatal(err)
	}
	if got, want := stderr.String(), "[guest.wasm] info: hello\n[guest.wasm] info: two\n  lines\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	if _, err := CallJSON(t, p, "log", fmt.Sprintf(`[%q]`, strings.Repeat("y", 5000))); err != nil {
		t.Fatal(err)
	}
	if got := stderr.String(); !strings.Contains(got, "… (904 more bytes)") {
		t.Errorf("long log line not capped: %d bytes", len(got))
	}
	if _, err := CallJSON(t, p, "badlog", `[1]`); err != nil {
		t.Fatal(err)
	}
	if got := stderr.String(); !strings.Contains(got, "[guest.wasm] warn: (log message out of bounds: ptr=0xfffffff0 len=100)") {
		t.Errorf("log = %q, want an out-of-bounds note", got)
	}
}

// cacheUnusable: a disabled cache, or one that cannot be created (under a
// file), still compiles and runs.
func (s *suite) cacheUnusable(t *testing.T) {
	cfg, _ := config()
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	ctx := context.Background()
	for _, dir := range []string{"-", filepath.Join(file, "sub")} {
		cfg.CacheDir = dir
		mod, err := s.engine(t).Compile(ctx, "x.wasm", Guest{}.Bytes(), cfg.Defaults())
		if err != nil {
			t.Fatalf("cache %q: %v", dir, err)
		}
		inst, err := mod.Instantiate(ctx)
		if err != nil {
			t.Fatalf("cache %q: %v", dir, err)
		}
		inst.Close(ctx)
		mod.Close(ctx)
	}
}

func (s *suite) capabilities(t *testing.T) {
	cfg, _ := config()
	ctx := context.Background()
	e := s.engine(t)
	dir := t.TempDir()
	wasm := Guest{}.Bytes()
	for allow, want := range map[string]string{
		"network":                          `unknown capability "network"`,
		"fs:" + filepath.Join(dir, "none"): "is not a directory",
	} {
		cfg.Allow = []string{allow}
		if _, err := e.Compile(ctx, "x.wasm", wasm, cfg.Defaults()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Allow %q: err = %v, want %q", allow, err, want)
		}
	}
	cfg.Allow = []string{"fs:" + dir, "fs:" + dir}
	if _, err := e.Compile(ctx, "x.wasm", wasm, cfg.Defaults()); err == nil || !strings.Contains(err.Error(), "only one fs: directory") {
		t.Errorf("two fs: err = %v", err)
	}
	cfg.Allow = []string{"clock", "env", "fs:" + dir}
	mod, err := e.Compile(ctx, "x.wasm", wasm, cfg.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inst.Close(ctx)
	mod.Close(ctx)
}

// hostileGuests runs each hostile guest and checks the error it ends
// with: the guests are what the CLI's tests rely on.
func (s *suite) hostileGuests(t *testing.T) {
	cfg := runtime.Config{CallTimeout: 300 * time.Millisecond, MemoryLimitPages: 256, CacheDir: "-", Workers: 1}
	for _, tc := range []struct {
		name     string
		wasm     []byte
		atLoad   bool
		sentinel error
	}{
		{"loop in init", LoopInInit.Bytes(), true, runtime.ErrTimeout},
		{"no exports", NoExports, true, runtime.ErrMissingExp},
		{"loop in call", LoopInCall.Bytes(), false, runtime.ErrTimeout},
		{"memory bomb", MemoryBomb.Bytes(), false, runtime.ErrMemoryLimit},
		{"bad pointer", BadPointer.Bytes(), false, runtime.ErrBadPointer},
		{"bad msgpack", BadMsgpack.Bytes(), false, abi.ErrBadResponse},
		{"trap", Trap.Bytes(), false, runtime.ErrTrap},
		{"logging trap", LoggingTrap("calling f").Bytes(), false, runtime.ErrTrap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var stderr strings.Builder
			c := cfg
			c.Stderr = &stderr
			if tc.sentinel == runtime.ErrMemoryLimit {
				// Long enough that a loaded -race run is stopped by the
				// memory limit, not the time limit.
				c.CallTimeout = 60 * time.Second
			}
			start := time.Now()
			p, err := runtime.Load(ctx, s.engine(t), "hostile.wasm", tc.wasm, c)
			if tc.atLoad {
				if !errors.Is(err, tc.sentinel) {
					t.Fatalf("Load: %v, want %v", err, tc.sentinel)
				}
				t.Logf("%v after %v", err, time.Since(start))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			f, err := p.Func("f")
			if err != nil {
				t.Fatal(err)
			}
			in := abi.AppendArray(nil, []abi.Raw{abi.AppendInt(nil, 1)})
			start = time.Now()
			_, err = f.Call(ctx, in, 1)
			var ce *runtime.CallError
			if !errors.Is(err, tc.sentinel) || !errors.As(err, &ce) || ce.Plugin != "hostile.wasm" || ce.Func != "f" {
				t.Fatalf("Call: %v, want a CallError wrapping %v", err, tc.sentinel)
			}
			t.Logf("%v after %v", err, time.Since(start))
			if tc.name == "logging trap" && !strings.Contains(stderr.String()+ce.Stderr, "calling f") {
				t.Errorf("no log line: %q", stderr.String())
			}
		})
	}
}

// sleeperIsStopped: a guest that asks WASI to sleep for an hour sleeps
// until its time limit when the clock is granted, and not at all when it
// is not.
func (s *suite) sleeperIsStopped(t *testing.T) {
	ctx := context.Background()
	e := s.engine(t)
	for _, allow := range [][]string{{"clock"}, nil} {
		p, err := runtime.Load(ctx, e, "sleeper.wasm", Sleeper(time.Hour).Bytes(),
			runtime.Config{CallTimeout: time.Second, CacheDir: "-", Workers: 1, Allow: allow})
		if err != nil {
			t.Fatal(err)
		}
		f, _ := p.Func("f")
		start := time.Now()
		_, err = f.Call(ctx, abi.AppendArrayHeader(nil, 0), 0)
		took := time.Since(start)
		t.Logf("allow %v: %v after %v", allow, err, took)
		// At the limit, the guest may still return first.
		if err != nil && !errors.Is(err, runtime.ErrTimeout) || allow == nil && err != nil {
			t.Errorf("allow %v: err = %v", allow, err)
		}
		if took > 20*time.Second {
			t.Errorf("allow %v: the call took %v with a 1s limit", allow, took)
		}
		p.Close(ctx)
	}
}

// fsCapability: fs:DIR is read-only access to DIR: what is inside opens,
// a symbolic link that stays inside too, and neither "..", an absolute path
// nor a symbolic link leads out.
func (s *suite) fsCapability(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "inside.txt"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(root, "secret.txt"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(dir, "link"))
	os.Symlink("inside.txt", filepath.Join(dir, "inner-link"))
	ctx := context.Background()
	for path, want := range map[string]bool{"inside.txt": true, "inner-link": true, "../../secret.txt": false, "/etc/passwd": false, "link": false} {
		t.Run(path, func(t *testing.T) {
			p, err := runtime.Load(ctx, s.engine(t), "opener.wasm", Opener(path).Bytes(),
				runtime.Config{CacheDir: "-", Workers: 1, Allow: []string{"fs:" + dir}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			f, _ := p.Func("f")
			_, err = f.Call(ctx, abi.AppendArrayHeader(nil, 0), 0)
			if opened := err == nil; opened != want {
				t.Errorf("open %q: opened %v, want %v (%v)", path, opened, want, err)
			}
		})
	}
	t.Run("no capability", func(t *testing.T) {
		p, err := runtime.Load(ctx, s.engine(t), "opener.wasm", Opener("inside.txt").Bytes(), runtime.Config{CacheDir: "-", Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		f, _ := p.Func("f")
		if _, err := f.Call(ctx, abi.AppendArrayHeader(nil, 0), 0); !errors.Is(err, runtime.ErrTrap) {
			t.Errorf("opened a file without fs: %v", err)
		}
	})
}

// corpus runs every module of the hostile corpus: each ends with the
// error it must, within its limit (the bound is generous: a shared
// machine may be slow, never stuck), and writes little to stderr.
func (s *suite) corpus(t *testing.T) {
	for _, h := range Corpus() {
		t.Run(h.Name, func(t *testing.T) {
			ctx := context.Background()
			cfg := CorpusConfig(h)
			stderr := &SyncBuffer{}
			cfg.Stderr = stderr
			start := time.Now()
			p, err := runtime.Load(ctx, s.engine(t), h.Name+".wasm", h.Wasm, cfg)
			if h.AtLoad || err != nil {
				s.corpusErr(t, h, err, "")
				return
			}
			defer p.Close(ctx)
			f, err := p.Func("f")
			if err != nil {
				t.Fatal(err)
			}
			r, err := f.Call(ctx, abi.AppendArray(nil, []abi.Raw{abi.AppendInt(nil, 1)}), 1)
			switch {
			case err == nil && len(r.Errors) == 1:
				if msg := r.Errors[0].Message; !strings.Contains(msg, h.Says) || len(msg) > abi.MaxMessage+100 {
					t.Errorf("record error of %d bytes: %.200s", len(msg), msg)
				}
			default:
				s.corpusErr(t, h, err, "f")
			}
			took := time.Since(start)
			t.Logf("ended after %v", took)
			if took > 30*CorpusTimeout {
				t.Errorf("ended after %v, with a time limit of %v", took, CorpusTimeout)
			}
			if n := len(stderr.String()); n > 2*cfg.Defaults().StderrLimit+1024 {
				t.Errorf("%d bytes of stderr", n)
			}
		})
	}
}

func (s *suite) corpusErr(t *testing.T, h Hostile, err error, fn string) {
	t.Helper()
	t.Logf("%v", err)
	switch {
	case err == nil:
		t.Fatal("no error")
	case h.Want != nil && !errors.Is(err, h.Want):
		t.Errorf("err = %v, want %v", err, h.Want)
	case !strings.Contains(err.Error(), h.Says) || !strings.Contains(err.Error(), h.Name+".wasm"):
		t.Errorf("err = %v, want it to name the plugin and say %q", err, h.Says)
	case len(err.Error()) > 16<<10:
		t.Errorf("a message of %d bytes", len(err.Error()))
	}
	var ce *runtime.CallError
	if fn != "" && (!errors.As(err, &ce) || ce.Func != fn) {
		t.Errorf("err = %v, want a CallError naming function %q", err, fn)
	}
}

// moduleSize: a module over the size limit is refused before it is
// compiled.
func (s *suite) moduleSize(t *testing.T) {
	cfg, _ := config()
	cfg.MaxModuleSize = 100
	err := s.loadErr(t, GoGuest(t), cfg)
	if !errors.Is(err, runtime.ErrModuleSize) || !strings.Contains(err.Error(), "over the limit of 100") {
		t.Errorf("err = %v, want ErrModuleSize", err)
	}
}

// compileTimeout: a compile that outlasts its limit fails the load, and
// closing the engine does not wait for it (the test would hang on Close).
func (s *suite) compileTimeout(t *testing.T) {
	cfg, _ := config()
	cfg.CacheDir = "-"
	cfg.CompileTimeout = time.Nanosecond
	ctx := context.Background()
	e, err := s.newEngine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runtime.Load(ctx, e, "slow.wasm", GoGuest(t), cfg)
	if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), "compiling the module took longer than 1ns") {
		t.Errorf("err = %v, want ErrTimeout while compiling", err)
	}
	if err := e.Close(ctx); err != nil {
		t.Error(err)
	}
}

// RunBenchmarks measures the per-call cost of the adapter (Instance.Call)
// and of the whole path (runtime.Func.Call: pool, call, response checks).
func RunBenchmarks(b *testing.B, newEngine NewEngine) {
	s := &suite{newEngine: newEngine}
	ctx := context.Background()
	cfg, _ := config()
	cfg.Workers = 1
	wasm := GoGuest(b)
	e := s.engine(b)
	p, err := runtime.Load(ctx, e, "guest.wasm", wasm, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(ctx)
	mod, err := e.Compile(ctx, "guest.wasm", wasm, cfg.Defaults())
	if err != nil {
		b.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close(ctx)
	f, _ := p.Func("double")

	// A hand-written guest whose wstream_call only returns a constant:
	// what is left is the adapter's own cost per call.
	wat, err := e.Compile(ctx, "wat.wasm", Guest{}.Bytes(), cfg.Defaults())
	if err != nil {
		b.Fatal(err)
	}
	watInst, err := wat.Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer watInst.Close(ctx)
	b.Run("adapter", func(b *testing.B) {
		in := []byte{0x90}
		for b.Loop() {
			if _, err := watInst.Call(ctx, 0, in); err != nil {
				b.Fatal(err)
			}
		}
	})

	for _, n := range []int{0, 1000} {
		in := abi.AppendArrayHeader(nil, n)
		for i := 0; i < n; i++ {
			in = abi.AppendInt(in, int64(i))
		}
		b.Run(fmt.Sprintf("instance/%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := inst.Call(ctx, 0, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("func/%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if _, err := f.Call(ctx, in, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
