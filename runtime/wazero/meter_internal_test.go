package wazero

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"
)

// TestMeterPlugins rewrites every plugin that `make plugins` built and
// checks that wazero accepts the result: the SDKs' output must never fall
// back to WithCloseOnContextDone.
func TestMeterPlugins(t *testing.T) {
	paths, _ := filepath.Glob("../../plugins/*/*.wasm")
	more, _ := filepath.Glob("../../plugins/*/*/*.wasm")
	paths = append(paths, more...)
	if len(paths) == 0 {
		t.Skip("no plugins built (make plugins)")
	}
	ctx := context.Background()
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out, err := meter(wasm)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		r := wazero.NewRuntime(ctx)
		if _, err := r.CompileModule(ctx, out); err != nil {
			t.Errorf("%s: the metered module does not compile: %v", p, err)
		}
		r.Close(ctx)
	}
}
