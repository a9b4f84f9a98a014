package host_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
)

// maxRate holds a run's source to its rate: a lower bound on the time a
// run takes, which a busy machine can only lengthen.
func TestRunMaxRate(t *testing.T) {
	var lines strings.Builder
	for i := range 300 {
		fmt.Fprintf(&lines, "l%d\n", i)
	}
	sink := hosttest.NewTestSink()
	start := time.Now()
	err := Run(hosttest.Ctx(t), RunConfig{
		Sources:   map[string]Source{"in": hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, t.TempDir(), "in.txt", lines.String()))},
		Sink:      sink,
		Processor: hosttest.Pass{},
		Interval:  10 * time.Millisecond,
		MaxRate:   map[string]float64{"in": 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	got, _ := sink.Result()
	n := 0
	for _, b := range got {
		n += strings.Count(b, `"l`)
	}
	if n != 300 {
		t.Fatalf("%d records arrived, want 300", n)
	}
	if took < 290*time.Millisecond {
		t.Fatalf("300 records at 1000/s took %v", took)
	}
	t.Logf("300 records at maxRate 1000/s: %v, %d batches", took, len(got))
	if err := CheckRunConfig(&RunConfig{Sources: map[string]Source{"in": &hosttest.ChanSource{}}, Sink: sink, Processor: hosttest.Pass{}, Interval: time.Second,
		MaxRate: map[string]float64{"other": 5}}); err == nil || !strings.Contains(err.Error(), `source "other"`) {
		t.Fatalf("a rate for an unknown source: %v", err)
	}
}

// A late batch under the system clock engages backpressure, with a log
// line; the run goes on.
func TestRunBackpressureLogs(t *testing.T) {
	const start = 1700000000000
	dir := t.TempDir()
	a := hosttest.Gated(hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, dir, "a.txt", strings.Repeat("x\n", 20))))
	clk := hosttest.NewFakeClock(start)
	sink := hosttest.NewTestSink()
	var log hosttest.SyncBuffer
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	defer cancel()
	done := hosttest.RunAsync(ctx, RunConfig{
		Sources: map[string]Source{"in": a},
		Sink:    sink,
		Processor: hosttest.Pass{Hook: func(ctx context.Context, t int64) error {
			switch t {
			case start + 1000:
				a.Allow(5)            // records for the next batch
				clk.Set(start + 3500) // 2.5 intervals: late, but the first batch sets no rate
			case start + 2000:
				clk.Set(start + 5000) // late again: engage
			}
			return nil
		}},
		Interval:     time.Second,
		Wall:         clk,
		Log:          hosttest.Logger(&log),
		Backpressure: true,
	})
	a.Ready()
	a.Allow(5)
	<-clk.Slept
	clk.Set(start + 1000)
	sink.Expect(t, fmt.Sprintf(`%d "x","x","x","x","x"`, start+1000))
	sink.Expect(t, fmt.Sprintf(`%d "x","x","x","x","x"`, start+2000))
	cancel()
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	if want := `backpressure: batch 1700000002000 ms took 1.5s, longer than the 1s interval: source "in" is slowed to 100 records/s`; !strings.Contains(log.String(), want) {
		t.Fatalf("log %q\nwant %q", log.String(), want)
	}
}

// Lines longer than the byte budget still go through, one at a time, and
// every line arrives once, in order.
func TestRunBufferBytes(t *testing.T) {
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, "%d%s\n", i, strings.Repeat("x", 1000))
	}
	sink := hosttest.NewTestSink()
	err := Run(hosttest.Ctx(t), RunConfig{
		Sources:     map[string]Source{"in": hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, t.TempDir(), "in.txt", in.String()))},
		Sink:        sink,
		Processor:   hosttest.Pass{},
		Interval:    time.Millisecond,
		BufferBytes: 2500, // two lines
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := sink.Result()
	all := strings.Join(got, ",")
	for i := range 50 {
		if n := strings.Count(all, fmt.Sprintf(`"%dxxx`, i)); n != 1 {
			t.Fatalf("line %d arrived %d times", i, n)
		}
	}
}
