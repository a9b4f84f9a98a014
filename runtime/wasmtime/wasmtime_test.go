//go:build cgo

package wasmtime_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtest"
	"github.com/wstream/wstream/runtime/wasmtime"
)

// TestSuite runs the tests every adapter must pass.
func TestSuite(t *testing.T) { wasmtest.RunSuite(t, wasmtime.New) }

func BenchmarkCall(b *testing.B) { wasmtest.RunBenchmarks(b, wasmtime.New) }

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

func TestCache(t *testing.T) {
	ctx := context.Background()
	var cfg runtime.Config
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
		cold := compile(t, wasmtest.GoGuest(t))
		entries, _ := os.ReadDir(cfg.CacheDir)
		if len(entries) != 1 || !strings.HasSuffix(entries[0].Name(), ".cwasm") {
			t.Fatalf("the cache directory holds %v, want one .cwasm file", entries)
		}
		warm := compile(t, wasmtest.GoGuest(t)) // a new engine: only the disk can help
		t.Logf("compile: %v cold, %v from the cache", cold, warm)
		if warm > cold/2 {
			t.Errorf("the second compile took %v, the first %v: the cache did not help", warm, cold)
		}
	})
	t.Run("damaged", func(t *testing.T) {
		// A damaged file is noticed, recompiled and replaced.
		cfg.CacheDir = t.TempDir()
		wasm := wasmtest.Guest{}.Bytes()
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
}

// TestEngineClose checks that Close waits for a call in flight (which its
// time limit still ends), and that everything refuses work afterwards.
func TestEngineClose(t *testing.T) {
	cfg := runtime.Config{CallTimeout: time.Second}.Defaults() // also bounds _initialize, slow under -race
	ctx := context.Background()
	e, err := wasmtime.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := e.Compile(ctx, "guest.wasm", wasmtest.GoGuest(t), cfg)
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
	in, _ := wasmtest.Batch(t, `[1]`)
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
	if _, err := e.Compile(ctx, "x.wasm", wasmtest.Guest{}.Bytes(), cfg); err == nil {
		t.Error("Compile after Close succeeded")
	}
	for _, c := range []interface{ Close(context.Context) error }{looping, idle, mod, e} {
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close after the engine closed: %v", err)
		}
	}
}
