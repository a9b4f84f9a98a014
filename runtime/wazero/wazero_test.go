package wazero_test

import (
	"context"
	"os"
	"testing"

	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtest"
	"github.com/wstream/wstream/runtime/wazero"
)

func newEngine(ctx context.Context) (runtime.Engine, error) { return wazero.New(ctx), nil }

// TestSuite runs the tests every adapter must pass.
func TestSuite(t *testing.T) { wasmtest.RunSuite(t, newEngine) }

func BenchmarkCall(b *testing.B) { wasmtest.RunBenchmarks(b, newEngine) }

// TestCache: a second engine compiling the same module finds it in the
// cache directory and writes nothing more there.
func TestCache(t *testing.T) {
	ctx := context.Background()
	cfg := runtime.Config{CacheDir: t.TempDir()}.Defaults()
	wasm := wasmtest.Guest{}.Bytes()
	compile := func() {
		e := wazero.New(ctx)
		defer e.Close(ctx)
		mod, err := e.Compile(ctx, "guest.wasm", wasm, cfg)
		if err != nil {
			t.Fatal(err)
		}
		mod.Close(ctx)
	}
	compile()
	before, _ := os.ReadDir(cfg.CacheDir)
	if len(before) == 0 {
		t.Fatal("the cache directory is empty")
	}
	compile() // a new engine: only the disk can help
	if after, _ := os.ReadDir(cfg.CacheDir); len(after) != len(before) {
		t.Errorf("the second compile wrote to the cache again (%d entries, then %d)", len(before), len(after))
	}
}
