//go:build cgo

package wasmtime

import (
	"context"
	"os"
	"regexp"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wstream/wstream/runtime"
)

// tinyGuest is the smallest valid guest; its functions are never called.
const tinyGuest = `(module
	(memory (export "memory") 1)
	(func (export "wstream_abi_version") (result i32) (i32.const 1))
	(func (export "wstream_alloc") (param i32) (result i32) (i32.const 1024))
	(func (export "wstream_manifest") (result i64) (i64.const 0))
	(func (export "wstream_call") (param i32 i32 i32) (result i64) (i64.const 0)))`

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
		wc, err := m.wasiConfig(&capped{limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		wc.Close()
	}
	wasm, err := wasmtime.Wat2Wasm(tinyGuest)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := e.Compile(ctx, "tiny.wasm", wasm, runtime.Config{CacheDir: "-"})
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
		c := &capped{limit: 5}
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
	c := &capped{limit: 100}
	c.Write([]byte("out of mana"))
	if c.sawOOM() {
		t.Error("a mark found in unrelated output")
	}
}
