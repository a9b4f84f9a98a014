package host_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	. "github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/logs"
	"github.com/wstream/wstream/host/pipeline"
	_ "github.com/wstream/wstream/host/textio" // registers the file:, batches:, stdin and socket:// sources
)

// Manual clock: batch k at k × interval takes one unit of each source; a
// drained source contributes nothing; the run ends when all are drained.
func TestRunManual(t *testing.T) {
	dir := t.TempDir()
	sink := hosttest.NewTestSink()
	err := Run(hosttest.Ctx(t), RunConfig{
		Sources: map[string]Source{
			"a": hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, dir, "a.txt", "a1\na2\r\na3\n")),
			"b": hosttest.MustSource(t, "batches:"+hosttest.WriteFile(t, dir, "b.jsonl", "[\"x\", 1]\nnull\n")),
		},
		Sink:      sink,
		Processor: hosttest.Pass{},
		Interval:  time.Second,
		Clock:     pipeline.ClockManual,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, closed := sink.Result()
	want := []string{`1000 "a1","x",1`, `2000 "a2"`, `3000 "a3"`}
	if fmt.Sprint(got) != fmt.Sprint(want) || !closed {
		t.Fatalf("batches %q (closed %v), want %q", got, closed, want)
	}
}

func TestRunManual10ms(t *testing.T) {
	sink := hosttest.NewTestSink()
	err := Run(hosttest.Ctx(t), RunConfig{
		Sources:   map[string]Source{"in": hosttest.MustSource(t, "stdin", WithStdin(strings.NewReader("p\nq\n")))},
		Sink:      sink,
		Processor: hosttest.Pass{},
		Interval:  10 * time.Millisecond,
		Clock:     pipeline.ClockManual,
	})
	got, _ := sink.Result()
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]string{`10 "p"`, `20 "q"`}) {
		t.Fatalf("%q %v", got, err)
	}
}

// System clock, driven by a fake clock: batch times are aligned to the
// interval; a batch takes every line unit received so far but one whole
// unit per source (an empty batch when none is ready); once every source is
// drained, what remains still runs at its batch time, and the run ends.
func TestRunSystemClock(t *testing.T) {
	for _, iv := range []time.Duration{time.Second, 10 * time.Millisecond} {
		t.Run(iv.String(), func(t *testing.T) {
			dir := t.TempDir()
			a := hosttest.Gated(hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, dir, "a.txt", "l1\nl2\nl3\nl4\nl5\n")))
			b := hosttest.Gated(hosttest.MustSource(t, "batches:"+hosttest.WriteFile(t, dir, "b.jsonl", "[\"w1\"]\nnull\n[\"w3\"]\n")))
			const start = 1700000000123
			clk := hosttest.NewFakeClock(start)
			sink := hosttest.NewTestSink()
			var log hosttest.SyncBuffer
			done := hosttest.RunAsync(hosttest.Ctx(t), RunConfig{
				Sources:   map[string]Source{"a": a, "b": b},
				Sink:      sink,
				Processor: hosttest.Pass{},
				Interval:  iv,
				Wall:      clk,
				Log:       hosttest.Logger(&log),
			})
			ms := iv.Milliseconds()
			first := (start/ms + 1) * ms // the first multiple after the start
			tick := func(k int64) {
				<-clk.Slept
				clk.Set(first + k*ms)
			}
			a.Ready()
			b.Ready()
			a.Allow(2)
			b.Allow(3)
			tick(0)
			sink.Expect(t, fmt.Sprintf(`%d "l1","l2","w1"`, first))
			a.Allow(1)
			tick(1)
			sink.Expect(t, fmt.Sprintf(`%d "l3"`, first+ms))
			tick(2)
			sink.Expect(t, fmt.Sprintf(`%d "w3"`, first+2*ms))
			tick(3)
			sink.Expect(t, fmt.Sprintf(`%d `, first+3*ms))
			b.Release() // drained
			a.Allow(2)
			a.Release() // drained: the rest still waits for its batch time
			tick(4)
			sink.Expect(t, fmt.Sprintf(`%d "l4","l5"`, first+4*ms))
			if err := hosttest.Wait(t, done); err != nil {
				t.Fatal(err)
			}
			if got, closed := sink.Result(); len(got) != 5 || !closed {
				t.Fatalf("batches %q, closed %v", got, closed)
			}
			if log.String() != "" {
				t.Errorf("log: %s", log.String())
			}
		})
	}
}

// A batch slower than the interval delays the next ones, which run back to
// back: no batch time is skipped, falling behind is logged with its
// numbers, and so is catching up.
func TestRunFallsBehind(t *testing.T) {
	const start = 1700000000000
	clk := hosttest.NewFakeClock(start)
	src := &hosttest.ChanSource{Ch: make(chan string)}
	sink := hosttest.NewTestSink()
	var log hosttest.SyncBuffer
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	defer cancel()
	done := hosttest.RunAsync(ctx, RunConfig{
		Sources: map[string]Source{"in": src},
		Sink:    sink,
		Processor: hosttest.Pass{Hook: func(ctx context.Context, t int64) error {
			if t == start+1000 {
				clk.Set(start + 3500) // the first batch takes 2.5 intervals
			}
			return nil
		}},
		Interval: time.Second,
		Wall:     clk,
		Log:      hosttest.Logger(&log),
	})
	<-clk.Slept
	clk.Set(start + 1000)
	for _, want := range []string{"1700000001000 ", "1700000002000 ", "1700000003000 "} {
		sink.Expect(t, want)
	}
	if d := <-clk.Slept; d != 500*time.Millisecond {
		t.Fatalf("caught up: waits %v, want 500ms", d)
	}
	cancel()
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	want := "wstream: warning: falling behind: batch 1700000001000 ms took 2.5s with a 1s interval and ended 1.5s after the next batch was due; batches run back to back until they catch up (a longer batch interval, maxRate or backpressure: true would help)\n" +
		"wstream: caught up: batches keep up with the 1s interval again, after 2 late batches over 0s\n"
	if log.String() != want {
		t.Fatalf("log %q\nwant %q", log.String(), want)
	}
}

// Cancel while a batch is processing: the batch completes (its context is
// not cancelled) and is written, the units received meanwhile make one
// final batch, the sink is closed, and Run returns nil.
func TestRunCancelFinishesBatch(t *testing.T) {
	dir := t.TempDir()
	a := hosttest.Gated(hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, dir, "a.txt", "l1\nl2\nl3\nl4\nl5\n")))
	const start = 1700000000000
	clk := hosttest.NewFakeClock(start)
	sink := hosttest.NewTestSink()
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	defer cancel()
	inProcess, release := make(chan struct{}), make(chan struct{})
	procErr := make(chan error, 10)
	done := hosttest.RunAsync(ctx, RunConfig{
		Sources: map[string]Source{"a": a},
		Sink:    sink,
		Processor: hosttest.Pass{Hook: func(pctx context.Context, t int64) error {
			if t == start+1000 {
				inProcess <- struct{}{}
				<-release
			}
			procErr <- pctx.Err()
			return nil
		}},
		Interval: time.Second,
		Wall:     clk,
	})
	a.Ready()
	a.Allow(2)
	<-clk.Slept
	clk.Set(start + 1000)
	<-inProcess
	a.Allow(2) // received during the batch
	cancel()
	close(release)
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	got, closed := sink.Result()
	want := []string{`1700000001000 "l1","l2"`, `1700000002000 "l3","l4"`}
	if fmt.Sprint(got) != fmt.Sprint(want) || !closed {
		t.Fatalf("batches %q (closed %v), want %q", got, closed, want)
	}
	if err := <-procErr; err != nil {
		t.Fatalf("the batch in flight saw a cancelled context: %v", err)
	}
}

// A unit read but stuck behind a full buffer at cancel is not lost.
func TestRunCancelKeepsBlockedUnit(t *testing.T) {
	a := hosttest.Gated(hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, t.TempDir(), "a.txt", "l1\nl2\nl3\n")))
	clk := hosttest.NewFakeClock(0)
	sink := hosttest.NewTestSink()
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	defer cancel()
	done := hosttest.RunAsync(ctx, RunConfig{
		Sources:   map[string]Source{"a": a},
		Sink:      sink,
		Processor: hosttest.Pass{},
		Interval:  time.Second,
		Wall:      clk,
		Buffer:    1,
	})
	a.Ready()
	a.Allow(1)  // l1 fills the buffer
	a.Release() // l2 is read; its send blocks
	cancel()
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	if got, _ := sink.Result(); fmt.Sprint(got) != fmt.Sprint([]string{`1000 "l1","l2"`}) {
		t.Fatalf("batches %q", got)
	}
}

// Real time, 10 ms batches: it runs and produces consecutive batch times.
func TestRunRealTime10ms(t *testing.T) {
	src := &hosttest.ChanSource{Ch: make(chan string)}
	sink := hosttest.NewTestSink()
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	defer cancel()
	done := hosttest.RunAsync(ctx, RunConfig{
		Sources:   map[string]Source{"in": src},
		Sink:      sink,
		Processor: hosttest.Pass{},
		Interval:  10 * time.Millisecond,
		Log:       logs.Discard(),
	})
	for _, l := range []string{"a", "b", "c"} {
		src.Ch <- l
	}
	var times []int64
	records := 0
	for len(times) < 3 || records < 3 {
		var tm int64
		var rest string
		fmt.Sscanf(<-sink.Got(), "%d %s", &tm, &rest)
		times = append(times, tm)
		if rest != "" {
			records += strings.Count(rest, ",") + 1
		}
	}
	cancel()
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	for i, tm := range times {
		if tm%10 != 0 || (i > 0 && tm != times[i-1]+10) {
			t.Fatalf("batch times %v: want consecutive multiples of 10", times)
		}
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	errBoom := errors.New("boom")
	bad := hosttest.WriteFile(t, dir, "bad.jsonl", "[1]\n[2,\n")

	run := func(cfg RunConfig) error {
		if cfg.Sink == nil {
			cfg.Sink = hosttest.NewTestSink()
		}
		if cfg.Processor == nil {
			cfg.Processor = hosttest.Pass{}
		}
		if cfg.Interval == 0 {
			cfg.Interval = time.Second
		}
		return Run(hosttest.Ctx(t), cfg)
	}
	lines := func() Source { return hosttest.MustSource(t, "stdin", WithStdin(strings.NewReader("x\ny\n"))) }

	err := run(RunConfig{Clock: pipeline.ClockManual, Sources: map[string]Source{"b": hosttest.MustSource(t, "batches:"+bad)}})
	if want := `batch 2000 ms: source "b": batches:` + bad + ` line 2: invalid JSON at byte 3: unexpected end of input; each line must be a JSON array or null`; err == nil || err.Error() != want {
		t.Errorf("source error:\n got %v\nwant %s", err, want)
	}

	err = run(RunConfig{Clock: pipeline.ClockManual, Sources: map[string]Source{"x": &hosttest.ChanSource{Err: errors.New("kaput")}}})
	if want := `batch 1000 ms: source "x" (chan): kaput`; err == nil || err.Error() != want {
		t.Errorf("source error without its URI: %v", err)
	}

	err = run(RunConfig{Clock: pipeline.ClockManual, Sources: map[string]Source{"in": lines()},
		Processor: hosttest.Pass{Hook: func(ctx context.Context, t int64) error {
			if t == 2000 {
				return errBoom
			}
			return nil
		}}})
	if err == nil || err.Error() != "batch 2000 ms: boom" || !errors.Is(err, errBoom) {
		t.Errorf("processor error: %v", err)
	}

	if sink, oerr := OpenSink("jsonl:/dev/full"); oerr == nil {
		err = run(RunConfig{Clock: pipeline.ClockManual, Sources: map[string]Source{"in": lines()}, Sink: sink})
		if want := "batch 1000 ms: sink jsonl:/dev/full: write /dev/full: no space left on device"; err == nil || err.Error() != want {
			t.Errorf("sink error: %v", err)
		}
	}

	// A source error under the system clock surfaces at a batch time.
	// The fake clock runs batches as fast as the test moves it, so a slow
	// receiver may arrive many empty batches later: drain the sink.
	clk := hosttest.NewFakeClock(0)
	sink := hosttest.NewTestSink()
	done := hosttest.RunAsync(hosttest.Ctx(t), RunConfig{Sources: map[string]Source{"b": hosttest.MustSource(t, "batches:"+bad)},
		Sink: sink, Processor: hosttest.Pass{}, Interval: time.Second, Wall: clk})
	for ms := int64(1000); ; {
		select {
		case err = <-done:
		case <-sink.Got():
			continue
		case <-clk.Slept:
			clk.Set(ms)
			ms += 1000
			continue
		}
		break
	}
	// (Which batch depends on when the receiver got there: no fixed time.)
	if err == nil || !strings.HasPrefix(err.Error(), "batch ") || !strings.Contains(err.Error(), ` ms: source "b": batches:`+bad+` line 2: `) {
		t.Errorf("system clock source error: %v", err)
	}

	for iv, want := range map[time.Duration]string{
		500 * time.Microsecond:  "batch interval 500µs is too short: the smallest is 1ms",
		1500 * time.Microsecond: "batch interval 1.5ms is not a whole number of milliseconds",
	} {
		sink := hosttest.NewTestSink()
		err := run(RunConfig{Sources: map[string]Source{"in": lines()}, Interval: iv, Sink: sink})
		if _, closed := sink.Result(); err == nil || err.Error() != want || !closed {
			t.Errorf("interval %v: %v (sink closed %v)", iv, err, closed)
		}
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	sink = hosttest.NewTestSink()
	err = run(RunConfig{Sources: map[string]Source{"in": hosttest.MustSource(t, "socket://"+addr)}, Sink: sink})
	if err == nil || !strings.HasPrefix(err.Error(), `source "in": cannot connect to socket://`+addr+": connection refused") {
		t.Errorf("open error: %v", err)
	}
	if _, closed := sink.Result(); !closed || sink.Opened() {
		t.Error("after a source that cannot open, the sink must be closed and never opened")
	}
}

// shaped is a pass-through processor with a fixed shape and a batch count
// as state, for checkpoint tests.
type shaped struct {
	hosttest.Pass
	shape, legacy string
	n             int64
}

func (p *shaped) Process(ctx context.Context, t int64, in map[string][]abi.Raw) (Batch, bool, error) {
	p.n++
	return p.Pass.Process(ctx, t, in)
}
func (p *shaped) Shape() string              { return p.shape }
func (p *shaped) LegacyShape() string        { return p.legacy }
func (p *shaped) Snapshot(dst []byte) []byte { return abi.AppendInt(dst, p.n) }
func (p *shaped) Restore(b []byte) (err error) {
	p.n, _, err = abi.ReadInt(b)
	return err
}

// A checkpoint resumes only the pipeline that wrote it: another batch
// interval or another stage setting is refused naming the old and the new
// value, with the sink never opened; a changed plugin is logged and keeps
// the state.
func TestCheckpointFingerprint(t *testing.T) {
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.jsonl", "[1]\n[2]\n")
	run := func(p *shaped, iv time.Duration, plugins map[string]string) (*hosttest.TestSink, string, error) {
		store, err := OpenCheckpoints(filepath.Join(dir, "ckpt"), nil)
		if err != nil {
			t.Fatal(err)
		}
		var log hosttest.SyncBuffer
		sink := hosttest.NewTestSink()
		err = Run(hosttest.Ctx(t), RunConfig{Sources: map[string]Source{"input": hosttest.MustSource(t, "batches:"+in)}, Sink: sink,
			Processor: p, Interval: iv, Clock: pipeline.ClockManual, Checkpoint: store, Plugins: plugins, Log: hosttest.Logger(&log)})
		return sink, log.String(), err
	}
	shape := "output<input;reduceByKeyAndWindow(fn=sum, window=3s, slide=1s)"
	if _, _, err := run(&shaped{shape: shape}, time.Second, map[string]string{"p.wasm": "aa"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		shape string
		iv    time.Duration
		want  string
	}{
		{shape, 500 * time.Millisecond, "was written with batch: 1s and this run has batch: 500ms, which would cut batches and windows at other times; run with batch: 1s, or start fresh with a new checkpoint directory"},
		{"output<input;reduceByKeyAndWindow(fn=sum, window=2s, slide=1s)", time.Second, "was written by a pipeline whose operators differ: stage 1 (reduceByKeyAndWindow) window: 3s in the checkpoint, 2s in the pipeline;"},
		{"output<input;reduceByKeyAndWindow(fn=sum, inverse=subtract, window=3s, slide=1s)", time.Second, "stage 1 (reduceByKeyAndWindow) inverse: (none) in the checkpoint, subtract in the pipeline"},
		{"output<input;window(window=3s)", time.Second, "the checkpoint has reduceByKeyAndWindow(fn=sum, window=3s, slide=1s) where the pipeline has window(window=3s)"},
	} {
		sink, _, err := run(&shaped{shape: c.shape}, c.iv, nil)
		if !errors.Is(err, ErrCheckpointMismatch) || !strings.Contains(err.Error(), c.want) || sink.Opened() {
			t.Errorf("%s at %v: %v (sink opened: %v)\nwant %s", c.shape, c.iv, err, sink.Opened(), c.want)
		}
	}
	p := &shaped{shape: shape}
	_, log, err := run(p, time.Second, map[string]string{"p.wasm": "bb"})
	if err != nil || p.n != 2 || !strings.Contains(log, "plugin p.wasm changed since the checkpoint; its functions are the same, so the state is kept") {
		t.Errorf("changed plugin: %v, state %d, log %q", err, p.n, log)
	}
}

// A checkpoint of a wstream that recorded only the legacy shape (no batch
// interval) resumes when the legacy shape matches.
func TestCheckpointFromOlderVersion(t *testing.T) {
	dir := t.TempDir()
	store, _ := OpenCheckpoints(dir, nil)
	if err := store.Commit(&Checkpoint{Shape: "output<input;map(f,,,,0,0,)", Time: 1000, Batches: 1, Sink: -1, State: abi.AppendInt(nil, 1)}); err != nil {
		t.Fatal(err)
	}
	var log hosttest.SyncBuffer
	p := &shaped{shape: "output<input;map(fn=f)", legacy: "output<input;map(f,,,,0,0,)"}
	err := Run(hosttest.Ctx(t), RunConfig{Sources: map[string]Source{"input": hosttest.MustSource(t, "batches:"+hosttest.WriteFile(t, dir, "in.jsonl", "[1]\n[2]\n"))},
		Sink: hosttest.NewTestSink(), Processor: p, Interval: time.Second, Clock: pipeline.ClockManual, Checkpoint: store, Log: hosttest.Logger(&log)})
	if err != nil || p.n != 3 || !strings.Contains(log.String(), "comes from an older wstream") {
		t.Fatalf("%v, state %d, log %q", err, p.n, log.String())
	}
}

// A batches: file under the system clock is queueStream: line k is the
// batch at the k-th batch time, even when the whole file was read (and the
// source drained) before the first one; no batch runs ahead of the clock.
func TestBatchesFollowTheSystemClock(t *testing.T) {
	src := hosttest.Gated(hosttest.MustSource(t, "batches:"+hosttest.WriteFile(t, t.TempDir(), "b.jsonl", "[1]\n[2]\n[3]\n")))
	clk := hosttest.NewFakeClock(1000)
	sink := hosttest.NewTestSink()
	done := hosttest.RunAsync(hosttest.Ctx(t), RunConfig{Sources: map[string]Source{"b": src}, Sink: sink,
		Processor: hosttest.Pass{}, Interval: time.Second, Wall: clk})
	src.Ready()
	src.Allow(3)
	src.Release() // read to the end before the first batch time
	for k := int64(2); k <= 4; k++ {
		<-clk.Slept
		select {
		case b := <-sink.Got():
			t.Fatalf("batch %q ran before its time %d", b, k*1000)
		default:
		}
		clk.Set(k * 1000)
		sink.Expect(t, fmt.Sprintf("%d %d", k*1000, k-1))
	}
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
}

// trigger: once over a file larger than the receiver's buffer takes every
// unit as the source reads it: the run ends without the clock moving,
// with the whole file in its one batch.
func TestTriggerOnceReadsPastAFullBuffer(t *testing.T) {
	var lines strings.Builder
	for i := range 200 {
		fmt.Fprintf(&lines, "l%d\n", i)
	}
	src := hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, t.TempDir(), "a.txt", lines.String()))
	sink := hosttest.NewTestSink()
	done := hosttest.RunAsync(hosttest.Ctx(t), RunConfig{
		Sources:   map[string]Source{"a": src},
		Sink:      sink,
		Processor: hosttest.Pass{},
		Interval:  time.Minute,
		Wall:      hosttest.NewFakeClock(0),
		Trigger:   pipeline.TriggerOnce,
		Buffer:    1,
	})
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	got, _ := sink.Result()
	if len(got) != 1 || strings.Count(got[0], `"l`) != 200 {
		t.Fatalf("want one batch of 200 lines, got %d batches: %.200q", len(got), got)
	}
}
