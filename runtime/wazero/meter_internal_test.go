package wazero

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/wstream/wstream/runtime/internal/wasmbin"
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

// TestMeterRenumbers runs a module whose function indices the rewrite must
// all shift (an import comes first): a start function, an export, a table
// element and calls. start stores 42 at address 0; get calls through the
// table a function that loads it and adds one from a direct call.
func TestMeterRenumbers(t *testing.T) {
	sec := func(id byte, body []byte) []byte { return wasmbin.AppendSection(nil, id, body) }
	vec := func(items ...[]byte) []byte { return wasmbin.AppendVec(nil, items...) }
	code := func(body ...byte) []byte { // no locals
		b := append([]byte{0x00}, body...)
		return append(wasmbin.AppendU32(nil, uint32(len(b))), b...)
	}
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, sec(1, vec(
		[]byte{0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x00}, // 0: (i32, i32, i32) -> ()
		[]byte{0x60, 0x00, 0x00},                   // 1: () -> ()
		[]byte{0x60, 0x00, 0x01, 0x7f},             // 2: () -> i32
	))...)
	m = append(m, sec(2, vec(append(wasmbin.AppendName(wasmbin.AppendName(nil, "wstream_v1"), "log"), 0x00, 0x00)))...) // func 0
	m = append(m, sec(3, vec([]byte{1}, []byte{2}, []byte{2}, []byte{2}))...)                                           // funcs 1 start, 2 get, 3 load, 4 one
	m = append(m, sec(4, vec([]byte{0x70, 0x00, 0x01}))...)                                                             // table of 1 funcref
	m = append(m, sec(5, vec([]byte{0x00, 0x01}))...)                                                                   // memory of 1 page
	m = append(m, sec(7, vec(append(wasmbin.AppendName(nil, "get"), 0x00, 0x02), append(wasmbin.AppendName(nil, "memory"), 0x02, 0x00)))...)
	m = append(m, sec(8, []byte{0x01})...)                                    // start: func 1
	m = append(m, sec(9, vec([]byte{0x00, 0x41, 0x00, 0x0b, 0x01, 0x03}))...) // table[0] = func 3
	m = append(m, sec(10, vec(
		code(0x41, 0x00, 0x41, 42, 0x36, 0x02, 0x00, 0x0b),         // start: i32.store(0, 42)
		code(0x41, 0x00, 0x11, 0x02, 0x00, 0x10, 0x04, 0x6a, 0x0b), // get: call_indirect type 2 [0] + call 4
		code(0x41, 0x00, 0x28, 0x02, 0x00, 0x0b),                   // load: i32.load(0)
		// one: a loop of 25000 iterations (past the first budget), then 1
		func() []byte {
			b := []byte{0x01, 0x01, 0x7f, // one i32 local
				0x03, 0x40, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x22, 0x00, // loop: i = i + 1
				0x41, 0xa8, 0xc3, 0x01, 0x49, 0x0d, 0x00, 0x0b, // br_if (i < 25000)
				0x41, 0x01, 0x0b}
			return append(wasmbin.AppendU32(nil, uint32(len(b))), b...)
		}(),
	))...)
	out, err := meter(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	if _, err := r.NewHostModuleBuilder("wstream_v1").NewFunctionBuilder().
		WithFunc(func(int32, int32, int32) {}).Export("log").Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	ticks := 0
	if _, err := r.NewHostModuleBuilder(meterModule).NewFunctionBuilder().
		WithFunc(func() int32 { ticks++; return 1 }).Export(meterTick).Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	mod, err := r.Instantiate(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mod.ExportedFunction("get").Call(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != 43 {
		t.Errorf("get() = %d, want 43", res[0])
	}
	// The first meterBudget countdowns pass without a tick; after that the
	// budget of 1 makes every one tick.
	if ticks < 10000 {
		t.Errorf("%d ticks, want the loop's 25000 iterations to tick after the first %d", ticks, meterBudget)
	}
}
