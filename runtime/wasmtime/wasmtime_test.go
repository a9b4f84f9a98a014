//go:build cgo

package wasmtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtime"
)

var (
	tmpDir    string
	guestOnce sync.Once
	guestWasm []byte
	guestErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wstream-wasmtime-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildGuest builds the Go package in dir for wasip1 as a reactor.
func buildGuest(dir, out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-o", out, dir)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", dir, err, msg)
	}
	return nil
}

// goGuest builds the wazero adapter's test guest once per test run: both
// adapters are tested against the same module.
func goGuest(tb testing.TB) []byte {
	tb.Helper()
	guestOnce.Do(func() {
		out := filepath.Join(tmpDir, "guest.wasm")
		if guestErr = buildGuest("../wazero/testdata/guest", out); guestErr == nil {
			guestWasm, guestErr = os.ReadFile(out)
		}
	})
	if guestErr != nil {
		tb.Fatal(guestErr)
	}
	return guestWasm
}

// syncBuffer is a goroutine-safe bytes.Buffer for Config.Stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig(t testing.TB) (runtime.Config, *syncBuffer) {
	stderr := &syncBuffer{}
	return runtime.Config{Stderr: stderr, CacheDir: filepath.Join(tmpDir, "cache"), Workers: 2}, stderr
}

func newEngine(t testing.TB) runtime.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := wasmtime.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e
}

func load(t testing.TB, wasm []byte, cfg runtime.Config) *runtime.Plugin {
	t.Helper()
	ctx := context.Background()
	p, err := runtime.Load(ctx, newEngine(t), "guest.wasm", wasm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

func loadErr(t *testing.T, wasm []byte, cfg runtime.Config) error {
	t.Helper()
	ctx := context.Background()
	p, err := runtime.Load(ctx, newEngine(t), "hostile.wasm", wasm, cfg)
	if err == nil {
		p.Close(ctx)
		t.Fatal("Load succeeded, want an error")
	}
	t.Logf("Load: %v", err) // go test -v shows what users would read
	return err
}

// batch encodes JSON values as a call input array.
func batch(t testing.TB, jsonArray string) ([]byte, int) {
	t.Helper()
	b, err := abi.FromJSON(nil, []byte(jsonArray))
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := abi.ArrayHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, n
}

func call(t testing.TB, p *runtime.Plugin, fn, jsonArray string) (abi.Response, error) {
	t.Helper()
	f, err := p.Func(fn)
	if err != nil {
		t.Fatal(err)
	}
	in, n := batch(t, jsonArray)
	r, err := f.Call(context.Background(), in, n)
	if err != nil {
		t.Logf("Call: %v", err)
	}
	return r, err
}

// results renders a response's results as JSON, nil results as null.
func results(t testing.TB, r abi.Response) string {
	t.Helper()
	out := []byte{'['}
	for i, v := range r.Results {
		if i > 0 {
			out = append(out, ',')
		}
		if v == nil {
			out = append(out, "null"...)
			continue
		}
		var err error
		if out, err = abi.AppendJSON(out, v); err != nil {
			t.Fatal(err)
		}
	}
	return string(append(out, ']'))
}

func TestRoundTrip(t *testing.T) {
	cfg, _ := testConfig(t)
	p := load(t, goGuest(t), cfg)
	if m := p.Manifest(); m.Name != "guest" || m.Language != "go" || len(m.Functions) < 2 {
		t.Fatalf("manifest = %+v", m)
	}
	r, err := call(t, p, "double", `[1, 2, "x", -4000000000]`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := results(t, r), `[2,4,null,-8000000000]`; got != want {
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
		r, err := call(t, p, "double", sb.String())
		if err != nil {
			t.Fatal(err)
		}
		if got := results(t, r); got != string(want) {
			t.Errorf("size %d: results differ", size)
		}
	}
}

func TestPool(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.Workers = 4
	p := load(t, goGuest(t), cfg)
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

func TestMissingExport(t *testing.T) {
	cfg, _ := testConfig(t)
	command := hostile{extra: `(func (export "_start"))`}
	for _, tc := range []struct {
		name, want string
		wasm       []byte
	}{
		{"no call", "wstream_call is not exported", hostile{drop: abi.ExportCall}.bytes(t)},
		{"no alloc", "wstream_alloc is not exported", hostile{drop: abi.ExportAlloc}.bytes(t)},
		{"no version", "wstream_abi_version is not exported", hostile{drop: abi.ExportVersion}.bytes(t)},
		{"no manifest", "wstream_manifest is not exported", hostile{drop: abi.ExportManifest}.bytes(t)},
		{"no memory", `no exported memory named "memory"`, hostile{drop: "memory"}.bytes(t)},
		{"mistyped manifest", "wstream_manifest has signature () -> (), want () -> (i64)", hostile{retype: abi.ExportManifest}.bytes(t)},
		{"mistyped call", "wstream_call has signature () -> (), want (i32, i32, i32) -> (i64)", hostile{retype: abi.ExportCall}.bytes(t)},
		{"mistyped initialize", "_initialize has signature (v128) -> (), want () -> ()", hostile{extra: `(func (export "_initialize") (param v128))`}.bytes(t)},
		{"command", "exports _start", command.bytes(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := loadErr(t, tc.wasm, cfg)
			if !errors.Is(err, runtime.ErrMissingExp) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "wstream guest SDK") {
				t.Errorf("err = %v, want ErrMissingExp saying %q and how to fix it", err, tc.want)
			}
		})
	}
}

func TestImports(t *testing.T) {
	cfg, _ := testConfig(t)
	for _, tc := range []struct {
		name string
		h    hostile
		want string
	}{
		{"foreign", hostile{imports: `(import "env" "foo" (func))`}, "imports env.foo, which wstream does not provide"},
		{"foreign global", hostile{imports: `(import "env" "g" (global i32))`}, "imports env.g, which wstream does not provide"},
		{"unknown host function", hostile{imports: `(import "wstream_v1" "nope" (func))`}, "imports wstream_v1.nope, which does not exist"},
		{"unknown wasi", hostile{imports: `(import "wasi_snapshot_preview1" "nope" (func))`}, "imports wasi_snapshot_preview1.nope, which does not exist"},
		{"mistyped log", hostile{imports: `(import "wstream_v1" "log" (func (param i32 i32)))`}, "imports wstream_v1.log with signature (i32, i32) -> (), but it is (i32, i32, i32) -> ()"},
		{"mistyped wasi", hostile{imports: `(import "wasi_snapshot_preview1" "fd_write" (func (param i32)))`}, "imports wasi_snapshot_preview1.fd_write with signature (i32) -> (), but it is (i32, i32, i32, i32) -> (i32)"},
		{"memory", hostile{importMem: true}, "imports memory env.mem; a guest must define and export its own memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := loadErr(t, tc.h.bytes(t), cfg)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	// The allowed imports load.
	ok := hostile{imports: `(import "wstream_v1" "log" (func (param i32 i32 i32)))
		(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))`}
	p := load(t, ok.bytes(t), cfg)
	if _, err := call(t, p, "f", `[]`); err != nil {
		t.Error(err)
	}
}

func TestNotWasm(t *testing.T) {
	cfg, _ := testConfig(t)
	for _, wasm := range [][]byte{[]byte("hello, world"), []byte("\x00asm\x01\x00\x00\x00\xffgarbage")} {
		if err := loadErr(t, wasm, cfg); !errors.Is(err, runtime.ErrNotWasm) {
			t.Errorf("err = %v, want ErrNotWasm", err)
		}
		// The engine checks too, without the Plugin's help.
		if _, err := newEngine(t).Compile(context.Background(), "x.wasm", wasm, cfg); !errors.Is(err, runtime.ErrNotWasm) {
			t.Errorf("Compile: err = %v, want ErrNotWasm", err)
		}
	}
}

func TestABIVersion(t *testing.T) {
	cfg, _ := testConfig(t)
	err := loadErr(t, hostile{version: 2}.bytes(t), cfg)
	if !errors.Is(err, runtime.ErrABIVersion) || !strings.Contains(err.Error(), "ABI 2, this host speaks ABI 1") {
		t.Errorf("err = %v, want ErrABIVersion naming both versions", err)
	}
}

func TestCallTimeout(t *testing.T) {
	cfg, _ := testConfig(t)
	// Not shorter: the limit also bounds the Go guest's _initialize in the
	// fresh instance below, which is slow under -race on a busy machine.
	cfg.CallTimeout = time.Second
	cfg.Workers = 1
	p := load(t, goGuest(t), cfg)
	start := time.Now()
	_, err := call(t, p, "loop", `[1]`)
	if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), "time limit of 1s") {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	var ce *runtime.CallError
	if !errors.As(err, &ce) || ce.Plugin != "guest.wasm" || ce.Func != "loop" {
		t.Errorf("err = %#v, want a CallError naming the plugin and function", err)
	}
	d := time.Since(start)
	if d < time.Second || d > 10*time.Second {
		t.Errorf("the loop ran %v, want about 1s", d)
	}
	t.Logf("the runaway call was stopped after %v", d)
	// The broken instance was discarded; the next call gets a fresh one.
	r, err := call(t, p, "double", `[21]`)
	if err != nil {
		t.Fatal(err)
	}
	if got := results(t, r); got != "[42]" {
		t.Errorf("after the timeout: %s", got)
	}
}

func TestCallerCancel(t *testing.T) {
	cfg, _ := testConfig(t)
	p := load(t, goGuest(t), cfg)
	f, _ := p.Func("loop")
	in, n := batch(t, `[1]`)
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

func TestInitializeLoop(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.CallTimeout = 200 * time.Millisecond
	err := loadErr(t, hostile{init: watLoopForever}.bytes(t), cfg)
	if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), "_initialize") {
		t.Errorf("err = %v, want ErrTimeout in _initialize", err)
	}
	// An instance of a good module right after it works: the timeout was
	// the looping store's alone.
	p := load(t, hostile{}.bytes(t), cfg)
	if _, err := call(t, p, "f", `[]`); err != nil {
		t.Error(err)
	}
}

func TestMemoryLimit(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.MemoryLimitPages = 1024 // 64 MiB
	t.Run("go", func(t *testing.T) {
		p := load(t, goGuest(t), cfg)
		_, err := call(t, p, "bomb", `[1]`)
		if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "1024 pages (64 MiB)") {
			t.Fatalf("err = %v, want ErrMemoryLimit", err)
		}
		if r, err := call(t, p, "double", `[1]`); err != nil || results(t, r) != "[2]" {
			t.Errorf("after the bomb: %v", err)
		}
	})
	t.Run("wat", func(t *testing.T) {
		p := load(t, hostile{call: watGrowUntilRefused}.bytes(t), cfg)
		_, err := call(t, p, "f", `[]`)
		if !errors.Is(err, runtime.ErrMemoryLimit) {
			t.Fatalf("err = %v, want ErrMemoryLimit", err)
		}
	})
	t.Run("initial memory", func(t *testing.T) {
		err := loadErr(t, hostile{memPages: 2000}.bytes(t), cfg)
		if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "starts with 2000 pages") {
			t.Errorf("err = %v, want ErrMemoryLimit", err)
		}
	})
	t.Run("plain trap", func(t *testing.T) {
		// Far from the limit and silent about memory: a trap, not the limit.
		p := load(t, hostile{call: "unreachable"}.bytes(t), cfg)
		_, err := call(t, p, "f", `[]`)
		if !errors.Is(err, runtime.ErrTrap) || errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "unreachable") {
			t.Errorf("err = %v, want ErrTrap", err)
		}
		if strings.Contains(err.Error(), "Stack backtrace") {
			t.Errorf("err = %v, want no native backtrace", err)
		}
	})
}

func TestBadPointer(t *testing.T) {
	cfg, _ := testConfig(t)
	p := load(t, goGuest(t), cfg)
	_, err := call(t, p, "badptr", `[1]`)
	var ce *runtime.CallError
	if !errors.Is(err, runtime.ErrBadPointer) || !errors.As(err, &ce) || ce.Func != "badptr" || !strings.Contains(err.Error(), "wstream_call returned 100 bytes at 0xffffff00") {
		t.Errorf("err = %v, want ErrBadPointer from wstream_call", err)
	}
	err = loadErr(t, hostile{manifest: i64c(abi.Pack(1<<20, 10))}.bytes(t), cfg)
	if !errors.Is(err, runtime.ErrBadPointer) || !strings.Contains(err.Error(), "wstream_manifest") {
		t.Errorf("err = %v, want ErrBadPointer from wstream_manifest", err)
	}
	// An input buffer past the end of memory.
	h := hostile{extra: fmt.Sprintf(`(func (export "wstream_alloc") (param i32) (result i32) (i32.const %d))`, 2*64<<10-100), drop: abi.ExportAlloc}
	p = load(t, h.bytes(t), cfg)
	if _, err := call(t, p, "f", `[1]`); !errors.Is(err, runtime.ErrBadPointer) || !strings.Contains(err.Error(), "wstream_alloc(4096) returned 0x1ff9c") {
		t.Errorf("err = %v, want ErrBadPointer from wstream_alloc", err)
	}
	// A guest out of memory returns 0 from wstream_alloc.
	h.extra = `(func (export "wstream_alloc") (param i32) (result i32) (i32.const 0))`
	p = load(t, h.bytes(t), cfg)
	if _, err := call(t, p, "f", `[1]`); !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Errorf("err = %v, want ErrMemoryLimit from wstream_alloc", err)
	}
}

func TestInvalidResponse(t *testing.T) {
	cfg, _ := testConfig(t)
	p := load(t, goGuest(t), cfg)
	_, err := call(t, p, "garbage", `[1]`)
	var ce *runtime.CallError
	if !errors.As(err, &ce) || ce.Plugin != "guest.wasm" || ce.Func != "garbage" || !errors.Is(err, abi.ErrBadResponse) {
		t.Errorf("err = %v, want a CallError with ErrBadResponse naming plugin and function", err)
	}
}

func TestPanic(t *testing.T) {
	cfg, _ := testConfig(t)
	p := load(t, goGuest(t), cfg)
	_, err := call(t, p, "panic", `[1]`)
	var ce *runtime.CallError
	if !errors.Is(err, runtime.ErrTrap) || !errors.As(err, &ce) || !strings.Contains(ce.Stderr, "the guest panicked on purpose") {
		t.Errorf("err = %v, want ErrTrap with the panic on stderr", err)
	}
}

func TestExit(t *testing.T) {
	cfg, _ := testConfig(t)
	h := hostile{
		imports: `(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))`,
		call:    `(call $exit (i32.const 3)) unreachable`,
	}
	p := load(t, h.bytes(t), cfg)
	_, err := call(t, p, "f", `[]`)
	if !errors.Is(err, runtime.ErrTrap) || !strings.Contains(err.Error(), "wstream_call: the guest exited with code 3") {
		t.Errorf("err = %v, want ErrTrap saying the guest exited", err)
	}
}

func TestStderr(t *testing.T) {
	cfg, stderr := testConfig(t)
	cfg.StderrLimit = 100
	p := load(t, goGuest(t), cfg)
	if _, err := call(t, p, "stderr", `["hello\n", "world\n"]`); err != nil {
		t.Fatal(err)
	}
	if got := stderr.String(); got != "[guest.wasm] hello\n[guest.wasm] world\n" {
		t.Errorf("stderr = %q", got)
	}
	long := strings.Repeat("x", 60) + "\n"
	if _, err := call(t, p, "stderr", fmt.Sprintf(`[%q, %q, %q]`, long, long, long)); err != nil {
		t.Fatal(err)
	}
	got := stderr.String()
	if !strings.Contains(got, "stderr truncated: 83 more bytes dropped") || strings.Count(got, "x") != 100-61+60 {
		t.Errorf("stderr = %q, want 100 bytes kept and a truncation mark", got)
	}

	// The same through the Instance interface directly.
	ctx := context.Background()
	e := newEngine(t)
	mod, err := e.Compile(ctx, "guest.wasm", goGuest(t), cfg.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	inst, err := mod.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := batch(t, `["a", "b"]`)
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

func TestLog(t *testing.T) {
	cfg, stderr := testConfig(t)
	p := load(t, goGuest(t), cfg)
	if _, err := call(t, p, "log", `["hello", "two\nlines"]`); err != nil {
		t.Fatal(err)
	}
	if got, want := stderr.String(), "[guest.wasm] info: hello\n[guest.wasm] info: two\n  lines\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	if _, err := call(t, p, "log", fmt.Sprintf(`[%q]`, strings.Repeat("y", 5000))); err != nil {
		t.Fatal(err)
	}
	if got := stderr.String(); !strings.Contains(got, "… (904 more bytes)") {
		t.Errorf("long log line not capped: %d bytes", len(got))
	}
	if _, err := call(t, p, "badlog", `[1]`); err != nil {
		t.Fatal(err)
	}
	if got := stderr.String(); !strings.Contains(got, "[guest.wasm] warn: (log message out of bounds: ptr=0xfffffff0 len=100)") {
		t.Errorf("log = %q, want an out-of-bounds note", got)
	}
}

func TestCache(t *testing.T) {
	cfg, _ := testConfig(t)
	ctx := context.Background()
	compile := func(t *testing.T, wasm []byte) time.Duration {
		t.Helper()
		start := time.Now()
		e, err := wasmtime.New(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(ctx)
		mod, err := e.Compile(ctx, "guest.wasm", wasm, cfg.Defaults())
		if err != nil {
			t.Fatal(err)
		}
		inst, err := mod.Instantiate(ctx) // the deserialized code runs
		if err != nil {
			t.Fatal(err)
		}
		inst.Close(ctx)
		mod.Close(ctx)
		return time.Since(start)
	}
	t.Run("dir", func(t *testing.T) {
		cfg.CacheDir = t.TempDir()
		cold := compile(t, goGuest(t))
		entries, _ := os.ReadDir(cfg.CacheDir)
		if len(entries) != 1 || !strings.HasSuffix(entries[0].Name(), ".cwasm") {
			t.Fatalf("the cache directory holds %v, want one .cwasm file", entries)
		}
		warm := compile(t, goGuest(t)) // a new engine: only the disk can help
		t.Logf("compile: %v cold, %v from the cache", cold, warm)
		if warm > cold/2 {
			t.Errorf("the second compile took %v, the first %v: the cache did not help", warm, cold)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		// A damaged file is noticed, recompiled and replaced.
		cfg.CacheDir = t.TempDir()
		wasm := hostile{}.bytes(t)
		compile(t, wasm)
		entries, _ := os.ReadDir(cfg.CacheDir)
		if len(entries) != 1 {
			t.Fatalf("the cache directory holds %v, want one file", entries)
		}
		path := filepath.Join(cfg.CacheDir, entries[0].Name())
		good, _ := os.ReadFile(path)
		bad := bytes.Clone(good)
		bad[len(bad)/2] ^= 0xff
		for _, b := range [][]byte{bad, good[:len(good)/2], []byte("junk"), nil} {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			compile(t, wasm)
			if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
				t.Error("the damaged cache file was not replaced")
			}
		}
	})
	for _, dir := range []string{"-", filepath.Join(goGuestFile(t), "sub")} { // disabled; under a file, so unusable
		cfg.CacheDir = dir
		compile(t, hostile{}.bytes(t))
	}
}

func goGuestFile(t *testing.T) string {
	goGuest(t)
	return filepath.Join(tmpDir, "guest.wasm")
}

func TestCapabilities(t *testing.T) {
	cfg, _ := testConfig(t)
	ctx := context.Background()
	e := newEngine(t)
	wasm := hostile{}.bytes(t)
	for allow, want := range map[string]string{
		"network":                             `unknown capability "network"`,
		"fs:" + filepath.Join(tmpDir, "none"): "is not a directory",
	} {
		cfg.Allow = []string{allow}
		if _, err := e.Compile(ctx, "x.wasm", wasm, cfg.Defaults()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Allow %q: err = %v, want %q", allow, err, want)
		}
	}
	cfg.Allow = []string{"fs:" + tmpDir, "fs:" + tmpDir}
	if _, err := e.Compile(ctx, "x.wasm", wasm, cfg.Defaults()); err == nil || !strings.Contains(err.Error(), "only one fs: directory") {
		t.Errorf("two fs: err = %v", err)
	}
	cfg.Allow = []string{"clock", "env", "fs:" + tmpDir}
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

// TestEngineClose checks that Close waits for a call in flight (which its
// time limit still ends), and that everything refuses work afterwards.
func TestEngineClose(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.CallTimeout = time.Second // also bounds _initialize, slow under -race
	ctx := context.Background()
	e, err := wasmtime.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := e.Compile(ctx, "guest.wasm", goGuest(t), cfg.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	looping, err := mod.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := mod.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := batch(t, `[1]`)
	done := make(chan error)
	go func() {
		_, err := looping.Call(ctx, 3, in) // loop
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, runtime.ErrTimeout) {
		t.Errorf("the call in flight: err = %v, want ErrTimeout", err)
	}
	if _, err := idle.Call(ctx, 0, in); err == nil {
		t.Error("Call after the engine closed succeeded")
	}
	if _, err := mod.Instantiate(ctx); err == nil {
		t.Error("Instantiate after the engine closed succeeded")
	}
	if _, err := e.Compile(ctx, "x.wasm", hostile{}.bytes(t), cfg); err == nil {
		t.Error("Compile after Close succeeded")
	}
	for _, c := range []interface{ Close(context.Context) error }{looping, idle, mod, e} {
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close after the engine closed: %v", err)
		}
	}
}

// BenchmarkCall measures the per-call cost of the adapter (Instance.Call)
// and of the whole path (runtime.Func.Call: pool, call, response checks).
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	cfg, _ := testConfig(b)
	cfg.Workers = 1
	wasm := goGuest(b)
	e := newEngine(b)
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
	wat, err := e.Compile(ctx, "wat.wasm", hostile{}.bytes(b), cfg.Defaults())
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
