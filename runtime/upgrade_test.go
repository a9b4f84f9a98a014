package runtime_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtest"
	"github.com/wstream/wstream/runtime/wazero"
)

// oneResult is a guest whose every call answers one result, v, so that a
// test can tell module versions apart by what a call returns.
func oneResult(v byte, fns ...abi.Function) []byte {
	return wasmtest.Guest{Functions: fns, Response: []byte{0x93, 0x00, 0x91, v, 0x90}}.Bytes()
}

func loadGuest(t *testing.T, wasm []byte) *runtime.Plugin {
	t.Helper()
	ctx := context.Background()
	e := wazero.New(ctx)
	t.Cleanup(func() { e.Close(ctx) })
	p, err := runtime.Load(ctx, e, "guest.wasm", wasm, runtime.Config{Workers: 2, CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// callOne calls f with a batch of one item and returns its one result.
func callOne(t *testing.T, f *runtime.Func) (abi.Raw, error) {
	t.Helper()
	r, err := f.Call(context.Background(), []byte{0x91, 0x01}, 1)
	if err != nil {
		return nil, err
	}
	return r.Results[0], nil
}

func TestUpgradeSwapsCodeAndRefusesBrokenModules(t *testing.T) {
	ctx := context.Background()
	mapF := abi.Function{Name: "f", Kind: abi.KindMap}
	mapG := abi.Function{Name: "g", Kind: abi.KindMap}
	p := loadGuest(t, oneResult(1, mapF, mapG))
	f, err := p.Func("f")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := callOne(t, f); err != nil || got[0] != 1 {
		t.Fatalf("before the upgrade: %v %v, want 1", got, err)
	}

	for name, c := range map[string]struct {
		wasm []byte
		want string
	}{
		"function gone":   {oneResult(2, mapG), `no function "f"`},
		"kind changed":    {oneResult(2, abi.Function{Name: "f", Kind: abi.KindFilter}), `"f" is a filter function in the new module`},
		"not wasm":        {[]byte("not a module"), "not a WebAssembly module"},
		"no wstream_call": {wasmtest.Guest{Functions: []abi.Function{mapF}, Drop: abi.ExportCall}.Bytes(), "wstream_call"},
		"empty module":    {wasmtest.NoExports, "wstream"},
		"traps at start":  {wasmtest.Guest{Functions: []abi.Function{mapF}, Init: wasmtest.Unreachable}.Bytes(), "plugin"},
	} {
		u, err := p.Prepare(ctx, c.wasm)
		if err == nil {
			u.Discard(ctx)
			t.Errorf("%s: Prepare accepted it", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", name, err, c.want)
		}
		if got, err := callOne(t, f); err != nil || got[0] != 1 {
			t.Errorf("%s: after the refusal, a call gives %v %v, want the old module's 1", name, got, err)
		}
	}

	u, err := p.Prepare(ctx, oneResult(2, mapG, mapF)) // f moves to another index
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := callOne(t, f); got[0] != 1 {
		t.Fatalf("prepared but not applied: %v, want the old module's 1", got)
	}
	u.Apply(ctx)
	if got, err := callOne(t, f); err != nil || got[0] != 2 {
		t.Fatalf("after Apply: %v %v, want the new module's 2", got, err)
	}
	if st := f.Stats(); st.Calls != 9 || st.Items != 9 || st.Guest <= 0 {
		t.Errorf("stats %+v: want 9 calls of 1 item each, across the upgrade, with time in the guest", st)
	}
}

func TestSandboxEventsCountTrapsAndRestarts(t *testing.T) {
	p := loadGuest(t, wasmtest.Trap.Bytes())
	f, err := p.Func("f")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := callOne(t, f); !errors.Is(err, runtime.ErrTrap) {
			t.Fatalf("call: %v, want a trap", err)
		}
	}
	sb := p.Sandbox()
	if sb.Events[runtime.EventTrap] != 3 || sb.Restarts != 3 || len(sb.Recent) != 3 {
		t.Fatalf("sandbox %+v: want 3 traps, 3 restarts, 3 recent events", sb)
	}
	if e := sb.Recent[2]; e.Plugin != "guest.wasm" || e.Func != "f" || e.Kind != runtime.EventTrap || e.Message == "" {
		t.Errorf("event %+v: want the plugin, function, kind and message", e)
	}
}
