package wazero_test

import (
	"context"
	"errors"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/runtime"
)

// The engine stops runaway guests by metering them (meter.go) instead of
// wazero's WithCloseOnContextDone. TestCallTimeout, TestCallerCancel and
// TestInitializeLoop show that a loop still ends at the time limit; these
// show the rest of what the safety rules ask.

// TestRecursionTimeout: unbounded work without any loop (wstream_call
// calls itself twice per level, 2^len calls in all) also ends at the time
// limit, because function entries count too.
func TestRecursionTimeout(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.CallTimeout = 200 * time.Millisecond
	cfg.Workers = 1
	// wstream_call(fn, ptr, len): if len == 0 { 0 } else { call(fn, ptr, len-1); call(fn, ptr, len-1) }
	self := func() []byte {
		return cat([]byte{0x20, 0x00, 0x20, 0x01, 0x20, 0x02}, i32c(1), []byte{0x6b, 0x10, 0x03})
	}
	body := cat([]byte{0x20, 0x02, 0x45, 0x04, tI64}, i64c(0), []byte{0x05},
		self(), []byte{0x1a}, self(), []byte{0x0b})
	p := load(t, hostile{call: body}.bytes(), cfg)
	_, err := call(t, p, "f", `["a string long enough that 2^len calls never end"]`)
	if !errors.Is(err, runtime.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

// TestGCDuringRunawayGuest: a guest that never returns must not freeze the
// host at the next GC. The Go runtime cannot preempt a goroutine running
// JIT-compiled guest code; it waits until the guest comes back to Go,
// which a metered guest does every few microseconds. Without that, the
// runtime.GC below would never return and this test would hang.
func TestGCDuringRunawayGuest(t *testing.T) {
	cfg, _ := testConfig(t)
	cfg.CallTimeout = time.Hour // only the caller's cancel below stops the loop
	cfg.Workers = 1
	p := load(t, goGuest(t), cfg)
	f, err := p.Func("loop")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, n := batch(t, `[1]`)
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
	if err := <-done; err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("err = %v, want the caller's cancel", err)
	}
}
