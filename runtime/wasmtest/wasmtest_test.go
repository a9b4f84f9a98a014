package wasmtest_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtest"
	"github.com/wstream/wstream/runtime/wazero"
)

// engines are the engines compiled into this test binary, by name.
var engines = map[string]func(context.Context) (runtime.Engine, error){
	"wazero": func(ctx context.Context) (runtime.Engine, error) { return wazero.New(ctx), nil },
}

// TestHostileGuests runs each hostile guest on every engine and checks the
// error it ends with: the guests are what the CLI's tests rely on.
func TestHostileGuests(t *testing.T) {
	cfg := runtime.Config{CallTimeout: 300 * time.Millisecond, MemoryLimitPages: 256, CacheDir: "-", Workers: 1}
	for name, mk := range engines {
		for _, tc := range []struct {
			name     string
			wasm     []byte
			atLoad   bool
			sentinel error
		}{
			{"loop in init", wasmtest.LoopInInit.Bytes(), true, runtime.ErrTimeout},
			{"no exports", wasmtest.NoExports, true, runtime.ErrMissingExp},
			{"loop in call", wasmtest.LoopInCall.Bytes(), false, runtime.ErrTimeout},
			{"memory bomb", wasmtest.MemoryBomb.Bytes(), false, runtime.ErrMemoryLimit},
			{"bad pointer", wasmtest.BadPointer.Bytes(), false, runtime.ErrBadPointer},
			{"bad msgpack", wasmtest.BadMsgpack.Bytes(), false, abi.ErrBadResponse},
			{"trap", wasmtest.Trap.Bytes(), false, runtime.ErrTrap},
			{"logging trap", wasmtest.LoggingTrap("calling f").Bytes(), false, runtime.ErrTrap},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				e, err := mk(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close(ctx)
				var stderr strings.Builder
				c := cfg
				c.Stderr = &stderr
				if tc.sentinel == runtime.ErrMemoryLimit {
					// Long enough that a loaded -race run is stopped by the
					// memory limit, not the time limit.
					c.CallTimeout = 60 * time.Second
				}
				start := time.Now()
				p, err := runtime.Load(ctx, e, "hostile.wasm", tc.wasm, c)
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
}

// wasmtimeSleepGap: Wasmtime's WASI sleeps in the host, where its epoch
// deadline cannot reach, and its clock cannot be denied (runtime/THREATS.md).
const wasmtimeSleepGap = "known gap: on wasmtime a guest's WASI sleep (poll_oneoff) outlasts the call time limit; the adapter must define its own poll_oneoff (runtime/THREATS.md)"

// A guest that asks WASI to sleep for an hour sleeps until its time limit
// when the clock is granted, and not at all when it is not.
func TestSleeperIsStopped(t *testing.T) {
	for name, mk := range engines {
		t.Run(name, func(t *testing.T) {
			if name == "wasmtime" {
				t.Skip(wasmtimeSleepGap)
			}
			ctx := context.Background()
			e, err := mk(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			for _, allow := range [][]string{{"clock"}, nil} {
				p, err := runtime.Load(ctx, e, "sleeper.wasm", wasmtest.Sleeper(time.Hour).Bytes(),
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
		})
	}
}

// fs:DIR is read-only access to DIR: what is inside opens, and neither
// ".." nor an absolute path leads out. A symbolic link inside DIR that
// points out is refused by Wasmtime but followed by wazero: a known gap
// (runtime/THREATS.md), logged here rather than failed.
func TestFSCapability(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "inside.txt"), []byte("ok"), 0o644)
	os.WriteFile(filepath.Join(root, "secret.txt"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(dir, "link"))
	for name, mk := range engines {
		for path, want := range map[string]bool{"inside.txt": true, "../../secret.txt": false, "/etc/passwd": false, "link": name == "wazero"} {
			t.Run(name+"/"+path, func(t *testing.T) {
				ctx := context.Background()
				e, err := mk(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close(ctx)
				p, err := runtime.Load(ctx, e, "opener.wasm", wasmtest.Opener(path).Bytes(),
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
				if path == "link" && want {
					t.Logf("known gap: %s follows a symbolic link out of the fs: directory", name)
				}
			})
		}
		t.Run(name+"/no capability", func(t *testing.T) {
			ctx := context.Background()
			e, _ := mk(ctx)
			defer e.Close(ctx)
			p, err := runtime.Load(ctx, e, "opener.wasm", wasmtest.Opener("inside.txt").Bytes(), runtime.Config{CacheDir: "-", Workers: 1})
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
}
