package host

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/logs"
)

// testCtx is a context that ends the test rather than hang it.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeNow is a limiter clock the test moves by hand.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time      { return f.t }
func (f *fakeNow) add(d time.Duration) { f.t = f.t.Add(d) }
func limiterAt(f *fakeNow, max float64) *limiter {
	l := newLimiter(max)
	l.now = f.now
	return l
}

// A limiter lets maxRate records a second through, whatever the unit
// sizes: a reader that waits as told reads rate × seconds records, plus at
// most one second's burst.
func TestLimiterRate(t *testing.T) {
	for _, unit := range []int{1, 7, 250, 5000} {
		clk := &fakeNow{t: time.Unix(1000, 0)}
		l := limiterAt(clk, 1000)
		read := 0
		for clk.t.Before(time.Unix(1010, 0)) {
			clk.add(l.take(unit))
			read += unit
		}
		// 10 s at 1000/s; the wait for the last unit taken falls on the next.
		if read < 10000 || read > 10000+unit+1000 {
			t.Errorf("unit %d: %d records in 10s at 1000/s", unit, read)
		}
	}
}

func TestLimiterPaysLater(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1000, 0)}
	l := limiterAt(clk, 100)
	if d := l.take(500); d != 0 {
		t.Fatalf("first unit waits %v, want 0", d)
	}
	if d := l.take(1); d != 5*time.Second {
		t.Fatalf("after 500 records at 100/s the next waits %v, want 5s", d)
	}
	clk.add(time.Hour) // idle: the bucket refills, but only to one second's worth
	if d := l.take(100); d != 0 {
		t.Fatalf("after an idle hour: wait %v", d)
	}
	if d := l.take(100); d != 0 {
		t.Fatalf("the burst is one second: wait %v", d)
	}
	if d := l.take(1); d != time.Second {
		t.Fatalf("past the burst: wait %v, want 1s", d)
	}
}

func TestLimiterEstimate(t *testing.T) {
	clk := &fakeNow{t: time.Unix(1000, 0)}
	for _, c := range []struct{ max, est, want float64 }{{0, 0, 0}, {100, 0, 100}, {0, 50, 50}, {100, 50, 50}, {100, 500, 100}} {
		l := limiterAt(clk, c.max)
		l.setEstimate(c.est)
		if got := l.current(); got != c.want {
			t.Errorf("max %v, estimate %v: rate %v, want %v", c.max, c.est, got, c.want)
		}
	}
	// A rate change wakes a waiting reader, which then waits by the new rate.
	l := newLimiter(1) // real time: one record a second
	l.take(10)         // ten seconds of debt
	done := make(chan error, 1)
	go func() { done <- l.wait(context.Background(), 1) }()
	for !l.sawThrottle() {
		time.Sleep(time.Millisecond) // until the reader sleeps
	}
	l.mu.Lock()
	l.max = 0 // unlimited
	l.mu.Unlock()
	l.setEstimate(0)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting reader was not woken by the rate change")
	}
	// Cancelling ends a wait.
	l = newLimiter(1)
	l.take(100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx, 1); err != context.Canceled {
		t.Fatalf("wait after cancel: %v", err)
	}
}

// The PID estimator behaves as Spark's (PIDRateEstimatorSuite).
func TestPIDEstimator(t *testing.T) {
	pid := func(intervalMs int64, p, i, d, minRate float64) *pidEstimator {
		e := newPID(time.Duration(intervalMs) * time.Millisecond)
		e.proportional, e.integral, e.deriv, e.minRate = p, i, d, minRate
		return e
	}
	e := pid(20, 1, 0, 0, 10)
	if _, ok := e.compute(0, 10, 10, 0); ok {
		t.Error("the first batch gave a rate")
	}
	if r, ok := e.compute(10, 10, 10, 0); !ok || r != 1000 {
		t.Errorf("second batch: %v %v, want 1000 records/s", r, ok)
	}
	for _, c := range []struct {
		t, n, proc int64
		why        string
	}{{10, 10, 10, "same time"}, {20, 0, 10, "no records"}, {30, 10, 0, "no processing time"}} {
		if _, ok := e.compute(c.t, int(c.n), c.proc, 0); ok {
			t.Errorf("%s gave a rate", c.why)
		}
	}

	// Never below the minimum rate, with errors piling up.
	e = pid(20, 1, 1, 0, 5)
	for k := int64(0); k < 50; k++ {
		r, ok := e.compute(k*20, 1, 20, 100)
		if k > 0 && (!ok || r != 5) {
			t.Fatalf("batch %d: %v %v, want the minimum 5", k, r, ok)
		}
	}
	// Without scheduling delay, the rate follows the processing speed, up
	// and down.
	for _, dir := range []int64{1, -1} {
		e = pid(20, 1, 1, 0, 10)
		for k := int64(0); k < 50; k++ {
			n := (k + 1) * 20
			if dir < 0 {
				n = (50 - k) * 20
			}
			r, ok := e.compute(k*20, int(n), 20, 0)
			if k > 0 && (!ok || r != float64(n)*50) {
				t.Fatalf("dir %d batch %d: %v %v, want %d", dir, k, r, ok, n*50)
			}
		}
	}
	// With scheduling delay, it stays below the processing speed.
	e = pid(20, 1, 0.01, 0, 10)
	for k := int64(0); k < 50; k++ {
		n, sched := 37*k%1000+1, 7*k%19
		r, ok := e.compute(k*20, int(n), 20, sched)
		if speed := float64(n) / 20 * 1000; k > 0 && sched > 0 && r > 10 && r >= speed {
			t.Fatalf("batch %d: rate %v not below the processing speed %v", k, r, speed)
		}
		if k > 0 && !ok {
			t.Fatalf("batch %d: no rate", k)
		}
	}
}

// Backpressure engages on a late batch, limits only while engaged, and
// lets go after calmBatches batches that keep up, logging both.
func TestPacerEngagesAndLetsGo(t *testing.T) {
	var log strings.Builder
	p := newPacer(RunConfig{Sources: map[string]Source{"in": nil}, Interval: 100 * time.Millisecond, Backpressure: true}, slog.New(logs.NewText(&log, slog.LevelDebug)))
	l := p.limiter("in")
	recs := func(n int) map[string][]abi.Raw { return map[string][]abi.Raw{"in": make([]abi.Raw, n)} }
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	p.observe(100, recs(1000), at(100), at(150)) // first batch: no rate yet
	p.observe(200, recs(1000), at(200), at(250)) // keeps up: not engaged
	if r := l.current(); r != 0 || log.Len() > 0 {
		t.Fatalf("engaged while batches keep up: rate %v, log %q", r, log.String())
	}
	p.observe(300, recs(1000), at(300), at(800)) // 500ms for a 100ms interval
	if r := l.current(); r < 100 || r > 2500 || !strings.Contains(log.String(), `backpressure: batch 300 ms took 500ms, longer than the 100ms interval: source "in" is slowed to`) {
		t.Fatalf("after a late batch: rate %v, log %q", r, log.String())
	}
	log.Reset()
	for k := int64(0); k < calmBatches; k++ {
		bt := 900 + 100*k
		if l.current() == 0 {
			t.Fatalf("let go after %d calm batches, want %d", k, calmBatches)
		}
		p.observe(bt, recs(200), at(bt), at(bt+50))
	}
	if r := l.current(); r != 0 || !strings.Contains(log.String(), `backpressure: batches keep up again (batch 1800 ms took 50ms): source "in" is no longer slowed`) {
		t.Fatalf("after calm batches: rate %v, log %q", r, log.String())
	}
	var nilPacer *pacer
	nilPacer.observe(1, nil, at(0), at(1)) // no rate control: a no-op
	if nilPacer.limiter("in") != nil {
		t.Fatal("a nil pacer has a limiter")
	}
}

// Batches that run empty while the source waits on its rate (catching up
// on a scheduling delay after backpressure engaged) double the rate each
// time, instead of holding the source at the minimum until the delay is
// gone.
func TestPacerRecoversOnEmptyThrottledBatches(t *testing.T) {
	p := newPacer(RunConfig{Sources: map[string]Source{"in": nil}, Interval: 200 * time.Millisecond, Backpressure: true}, slog.New(slog.DiscardHandler))
	l := p.limiter("in")
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	recs := func(n int) map[string][]abi.Raw { return map[string][]abi.Raw{"in": make([]abi.Raw, n)} }
	p.observe(200, recs(50000), at(200), at(300))
	p.observe(400, recs(50000), at(10000), at(19000)) // a flood: 9 s, far behind
	low := l.current()
	if low < 100 || low > 10000 {
		t.Fatalf("engaged at %v records/s", low)
	}
	for k := int64(0); k < 5; k++ {
		l.mu.Lock()
		l.throttled = true // the receiver waited on the rate
		l.mu.Unlock()
		bt := 600 + 200*k // catching up: batch times in the past, each runs in 1 ms
		p.observe(bt, recs(0), at(19000+k), at(19001+k))
	}
	if got := l.current(); got != low*32 {
		t.Fatalf("after 5 empty throttled batches: %v records/s, want %v", got, low*32)
	}
}

func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	ctx := testCtx(t)
	if err := b.acquire(ctx, 500); err != nil { // larger than the budget, but alone
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.acquire(ctx, 10) }()
	select {
	case err := <-got:
		t.Fatalf("acquired over the budget: %v", err)
	default:
	}
	b.release(500)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 90); err != nil { // 10 + 90 fits
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.acquire(cctx, 1); err != context.Canceled {
		t.Fatalf("acquire when full and cancelled: %v", err)
	}
	var none *byteBudget
	none.release(5)
	if none.acquire(ctx, 5) != nil {
		t.Fatal("a nil budget refused")
	}
}
