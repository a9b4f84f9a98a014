//go:build cgo

package wasmtime

import (
	"context"
	"os"
	"regexp"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtest"
)

// The cache key names the wasmtime-go version; it must follow go.mod.
func TestVersionMatchesGoMod(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/bytecodealliance/wasmtime-go/v\d+ (v\S+)`).FindSubmatch(gomod)
	if m == nil || string(m[1]) != wasmtimeVersion {
		t.Errorf("go.mod requires wasmtime-go %q, wasmtimeVersion is %q", m, wasmtimeVersion)
	}
}

// TestOutputReleased checks that Wasmtime releases the cgo handles of the
// stdout and stderr streams when an instance closes, or fails to start.
func TestOutputReleased(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	before := liveOutputs.Load()
	m := &module{name: "x", engine: e.(*engine), cfg: runtime.Config{StderrLimit: 10}}
	for i := 0; i < 10; i++ {
		wc, err := m.wasiConfig(newCapped(10))
		if err != nil {
			t.Fatal(err)
		}
		wc.Close()
	}
	mod, err := e.Compile(ctx, "tiny.wasm", wasmtest.Guest{}.Bytes(), runtime.Config{CacheDir: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close(ctx)
	for i := 0; i < 10; i++ {
		inst, err := mod.Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if liveOutputs.Load() != before+2 {
			t.Errorf("%d stream handles live with one instance open, want %d", liveOutputs.Load(), before+2)
		}
		inst.Close(ctx)
	}
	deadline := time.Now().Add(5 * time.Second)
	for liveOutputs.Load() != before && time.Now().Before(deadline) {
		goruntime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := liveOutputs.Load(); n != before {
		t.Errorf("%d stream handles live after closing every config, want %d", n, before)
	}
}

func TestCappedOOMMark(t *testing.T) {
	for _, writes := range [][]string{
		{"fatal error: out of memory\n"},
		{"fatal error: ", "out of ", "memory", "\n"},
		{"memory allocation of 1048576 bytes failed\n"},
		{string(make([]byte, 100)), "...out of mem", "ory"},
	} {
		c := newCapped(5)
		for _, w := range writes {
			c.Write([]byte(w))
		}
		if !c.sawOOM() {
			t.Errorf("writes %q: no out-of-memory mark seen", writes)
		}
		c.resetOOM()
		if c.sawOOM() {
			t.Error("resetOOM did not reset")
		}
	}
	c := newCapped(100)
	c.Write([]byte("out of mana"))
	if c.sawOOM() {
		t.Error("a mark found in unrelated output")
	}
}
