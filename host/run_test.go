package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
)

// passProc passes its inputs through, concatenated in source-name order.
type passProc struct {
	// hook, if set, runs inside Process (to block it or move the clock).
	hook func(ctx context.Context, t int64) error
}

func (p passProc) Process(ctx context.Context, t int64, inputs map[string][]abi.Raw) (Batch, bool, error) {
	if p.hook != nil {
		if err := p.hook(ctx, t); err != nil {
			return Batch{}, false, err
		}
	}
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := Batch{Time: t}
	for _, n := range names {
		out.Records = append(out.Records, inputs[n]...)
	}
	return out, true, nil
}

// testSink records batches and hands each to the test as it arrives.
type testSink struct {
	mu      sync.Mutex
	batches []string
	got     chan string
	closed  bool
}

func newTestSink() *testSink { return &testSink{got: make(chan string, 1000)} }

func (s *testSink) URI() string { return "test-sink" }

func (s *testSink) Write(b Batch) error {
	var recs []string
	for _, r := range b.Records {
		j, err := abi.AppendJSON(nil, r)
		if err != nil {
			return err
		}
		recs = append(recs, string(j))
	}
	line := fmt.Sprintf("%d %s", b.Time, strings.Join(recs, ","))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("write after close")
	}
	s.batches = append(s.batches, line)
	s.got <- line
	return nil
}

func (s *testSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *testSink) result() ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.batches...), s.closed
}

// expect reads the next batch the sink got.
func (s *testSink) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-s.got:
		if got != want {
			t.Fatalf("batch %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no batch; want %q", want)
	}
}

// gatedSource lets the test decide when each Next may proceed, and tells it
// when the receiver is back for more, i.e. the previous unit is buffered.
type gatedSource struct {
	Source
	gate     chan struct{}
	calls    chan struct{}
	returned chan struct{}
}

func gated(s Source) *gatedSource {
	return &gatedSource{Source: s, gate: make(chan struct{}), calls: make(chan struct{}), returned: make(chan struct{}, 100)}
}

func (g *gatedSource) Next(ctx context.Context) (Unit, error) {
	select {
	case g.calls <- struct{}{}:
	case <-ctx.Done():
		return Unit{}, ctx.Err()
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return Unit{}, ctx.Err()
	}
	u, err := g.Source.Next(ctx)
	g.returned <- struct{}{}
	return u, err
}

// ready waits for the receiver's first Next.
func (g *gatedSource) ready() { <-g.calls }

// allow lets n units through and waits until the receiver has buffered
// them and asked for the next.
func (g *gatedSource) allow(n int) {
	for range n {
		g.gate <- struct{}{}
		<-g.returned
		<-g.calls
	}
}

// release lets the next Next through (the one that returns io.EOF).
func (g *gatedSource) release() {
	g.gate <- struct{}{}
	<-g.returned
}

// chanSource is an unbounded source fed by the test.
type chanSource struct {
	ch  chan string
	err error
}

func (s *chanSource) URI() string                              { return "chan" }
func (s *chanSource) Open(ctx context.Context, p []byte) error { return nil }
func (s *chanSource) Close() error                             { return nil }
func (s *chanSource) Next(ctx context.Context) (Unit, error) {
	if s.err != nil {
		return Unit{}, s.err
	}
	select {
	case <-ctx.Done():
		return Unit{}, ctx.Err()
	case line := <-s.ch:
		return Unit{Records: []abi.Raw{str(line)}}, nil
	}
}

func mustSource(t *testing.T, uri string, opts ...Option) Source {
	t.Helper()
	s, err := OpenSource(uri, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runAsync(ctx context.Context, cfg RunConfig) chan error {
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	return done
}

func wait(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

// Manual clock: batch k at k × interval takes one unit of each source; a
// drained source contributes nothing; the run ends when all are drained.
func TestRunManual(t *testing.T) {
	dir := t.TempDir()
	sink := newTestSink()
	err := Run(testCtx(t), RunConfig{
		Sources: map[string]Source{
			"a": mustSource(t, "file:"+writeFile(t, dir, "a.txt", "a1\na2\r\na3\n")),
			"b": mustSource(t, "batches:"+writeFile(t, dir, "b.jsonl", "[\"x\", 1]\nnull\n")),
		},
		Sink:      sink,
		Processor: passProc{},
		Interval:  time.Second,
		Manual:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, closed := sink.result()
	want := []string{`1000 "a1","x",1`, `2000 "a2"`, `3000 "a3"`}
	if fmt.Sprint(got) != fmt.Sprint(want) || !closed {
		t.Fatalf("batches %q (closed %v), want %q", got, closed, want)
	}
}

func TestRunManual10ms(t *testing.T) {
	sink := newTestSink()
	err := Run(testCtx(t), RunConfig{
		Sources:   map[string]Source{"in": mustSource(t, "stdin", WithStdin(strings.NewReader("p\nq\n")))},
		Sink:      sink,
		Processor: passProc{},
		Interval:  10 * time.Millisecond,
		Manual:    true,
	})
	got, _ := sink.result()
	if err != nil || fmt.Sprint(got) != fmt.Sprint([]string{`10 "p"`, `20 "q"`}) {
		t.Fatalf("%q %v", got, err)
	}
}

// System clock, driven by a fake clock: batch times are aligned to the
// interval; a batch takes every line unit received so far but one whole
// unit per source (an empty batch when none is ready); once every source is
// drained, the rest runs without waiting and the run ends.
func TestRunSystemClock(t *testing.T) {
	for _, iv := range []time.Duration{time.Second, 10 * time.Millisecond} {
		t.Run(iv.String(), func(t *testing.T) {
			dir := t.TempDir()
			a := gated(mustSource(t, "file:"+writeFile(t, dir, "a.txt", "l1\nl2\nl3\nl4\nl5\n")))
			b := gated(mustSource(t, "batches:"+writeFile(t, dir, "b.jsonl", "[\"w1\"]\nnull\n[\"w3\"]\n")))
			const start = 1700000000123
			clk := newFakeClock(start)
			sink := newTestSink()
			var log syncBuffer
			done := runAsync(testCtx(t), RunConfig{
				Sources:   map[string]Source{"a": a, "b": b},
				Sink:      sink,
				Processor: passProc{},
				Interval:  iv,
				Clock:     clk,
				Log:       &log,
			})
			ms := iv.Milliseconds()
			first := (start/ms + 1) * ms // the first multiple after the start
			tick := func(k int64) {
				<-clk.afterCalled
				clk.set(first + k*ms)
			}
			a.ready()
			b.ready()
			a.allow(2)
			b.allow(3)
			tick(0)
			sink.expect(t, fmt.Sprintf(`%d "l1","l2","w1"`, first))
			a.allow(1)
			tick(1)
			sink.expect(t, fmt.Sprintf(`%d "l3"`, first+ms))
			tick(2)
			sink.expect(t, fmt.Sprintf(`%d "w3"`, first+2*ms))
			tick(3)
			sink.expect(t, fmt.Sprintf(`%d `, first+3*ms))
			b.release() // drained
			a.allow(2)
			a.release() // drained: the rest runs at once, the clock stays
			sink.expect(t, fmt.Sprintf(`%d "l4","l5"`, first+4*ms))
			if err := wait(t, done); err != nil {
				t.Fatal(err)
			}
			if got, closed := sink.result(); len(got) != 5 || !closed {
				t.Fatalf("batches %q, closed %v", got, closed)
			}
			if log.String() != "" {
				t.Errorf("log: %s", log.String())
			}
		})
	}
}

// A batch slower than the interval delays the next ones, which run back to
// back: no batch time is skipped, and falling behind is logged once.
func TestRunFallsBehind(t *testing.T) {
	const start = 1700000000000
	clk := newFakeClock(start)
	src := &chanSource{ch: make(chan string)}
	sink := newTestSink()
	var log syncBuffer
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := runAsync(ctx, RunConfig{
		Sources: map[string]Source{"in": src},
		Sink:    sink,
		Processor: passProc{hook: func(ctx context.Context, t int64) error {
			if t == start+1000 {
				clk.set(start + 3500) // the first batch takes 2.5 intervals
			}
			return nil
		}},
		Interval: time.Second,
		Clock:    clk,
		Log:      &log,
	})
	<-clk.afterCalled
	clk.set(start + 1000)
	for _, want := range []string{"1700000001000 ", "1700000002000 ", "1700000003000 "} {
		sink.expect(t, want)
	}
	if d := <-clk.afterCalled; d != 500*time.Millisecond {
		t.Fatalf("caught up: waits %v, want 500ms", d)
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	want := "falling behind: batch 1700000001000 ms ended at 1700000003500 ms, after the next batch time; batches run back to back until they catch up (a longer batch interval would help)\n"
	if log.String() != want {
		t.Fatalf("log %q\nwant %q", log.String(), want)
	}
}

// Cancel while a batch is processing: the batch completes (its context is
// not cancelled) and is written, the units received meanwhile make one
// final batch, the sink is closed, and Run returns nil.
func TestRunCancelFinishesBatch(t *testing.T) {
	dir := t.TempDir()
	a := gated(mustSource(t, "file:"+writeFile(t, dir, "a.txt", "l1\nl2\nl3\nl4\nl5\n")))
	const start = 1700000000000
	clk := newFakeClock(start)
	sink := newTestSink()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	inProcess, release := make(chan struct{}), make(chan struct{})
	procErr := make(chan error, 10)
	done := runAsync(ctx, RunConfig{
		Sources: map[string]Source{"a": a},
		Sink:    sink,
		Processor: passProc{hook: func(pctx context.Context, t int64) error {
			if t == start+1000 {
				inProcess <- struct{}{}
				<-release
			}
			procErr <- pctx.Err()
			return nil
		}},
		Interval: time.Second,
		Clock:    clk,
	})
	a.ready()
	a.allow(2)
	<-clk.afterCalled
	clk.set(start + 1000)
	<-inProcess
	a.allow(2) // received during the batch
	cancel()
	close(release)
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	got, closed := sink.result()
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
	a := gated(mustSource(t, "file:"+writeFile(t, t.TempDir(), "a.txt", "l1\nl2\nl3\n")))
	clk := newFakeClock(0)
	sink := newTestSink()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := runAsync(ctx, RunConfig{
		Sources:   map[string]Source{"a": a},
		Sink:      sink,
		Processor: passProc{},
		Interval:  time.Second,
		Clock:     clk,
		Buffer:    1,
	})
	a.ready()
	a.allow(1)  // l1 fills the buffer
	a.release() // l2 is read; its send blocks
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatal(err)
	}
	if got, _ := sink.result(); fmt.Sprint(got) != fmt.Sprint([]string{`1000 "l1","l2"`}) {
		t.Fatalf("batches %q", got)
	}
}

// Real time, 10 ms batches: it runs and produces consecutive batch times.
func TestRunRealTime10ms(t *testing.T) {
	src := &chanSource{ch: make(chan string)}
	sink := newTestSink()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := runAsync(ctx, RunConfig{
		Sources:   map[string]Source{"in": src},
		Sink:      sink,
		Processor: passProc{},
		Interval:  10 * time.Millisecond,
		Log:       io.Discard,
	})
	for _, l := range []string{"a", "b", "c"} {
		src.ch <- l
	}
	var times []int64
	records := 0
	for len(times) < 3 || records < 3 {
		var tm int64
		var rest string
		fmt.Sscanf(<-sink.got, "%d %s", &tm, &rest)
		times = append(times, tm)
		if rest != "" {
			records += strings.Count(rest, ",") + 1
		}
	}
	cancel()
	if err := wait(t, done); err != nil {
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
	bad := writeFile(t, dir, "bad.jsonl", "[1]\n[2,\n")

	run := func(cfg RunConfig) error {
		if cfg.Sink == nil {
			cfg.Sink = newTestSink()
		}
		if cfg.Processor == nil {
			cfg.Processor = passProc{}
		}
		if cfg.Interval == 0 {
			cfg.Interval = time.Second
		}
		return Run(testCtx(t), cfg)
	}
	lines := func() Source { return mustSource(t, "stdin", WithStdin(strings.NewReader("x\ny\n"))) }

	err := run(RunConfig{Manual: true, Sources: map[string]Source{"b": mustSource(t, "batches:"+bad)}})
	if want := `batch 2000 ms: source "b": batches:` + bad + ` line 2: invalid JSON at byte 3: unexpected end of input; each line must be a JSON array or null`; err == nil || err.Error() != want {
		t.Errorf("source error:\n got %v\nwant %s", err, want)
	}

	err = run(RunConfig{Manual: true, Sources: map[string]Source{"x": &chanSource{err: errors.New("kaput")}}})
	if want := `batch 1000 ms: source "x" (chan): kaput`; err == nil || err.Error() != want {
		t.Errorf("source error without its URI: %v", err)
	}

	err = run(RunConfig{Manual: true, Sources: map[string]Source{"in": lines()},
		Processor: passProc{hook: func(ctx context.Context, t int64) error {
			if t == 2000 {
				return errBoom
			}
			return nil
		}}})
	if err == nil || err.Error() != "batch 2000 ms: boom" || !errors.Is(err, errBoom) {
		t.Errorf("processor error: %v", err)
	}

	if sink, oerr := OpenSink("jsonl:/dev/full"); oerr == nil {
		err = run(RunConfig{Manual: true, Sources: map[string]Source{"in": lines()}, Sink: sink})
		if want := "batch 1000 ms: sink jsonl:/dev/full: write /dev/full: no space left on device"; err == nil || err.Error() != want {
			t.Errorf("sink error: %v", err)
		}
	}

	// A source error under the system clock surfaces at a batch time.
	clk := newFakeClock(0)
	done := runAsync(testCtx(t), RunConfig{Sources: map[string]Source{"b": mustSource(t, "batches:"+bad)},
		Sink: newTestSink(), Processor: passProc{}, Interval: time.Second, Clock: clk})
	for ms := int64(1000); ; ms += 1000 {
		select {
		case err = <-done:
		case <-clk.afterCalled:
			clk.set(ms)
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
		sink := newTestSink()
		err := run(RunConfig{Sources: map[string]Source{"in": lines()}, Interval: iv, Sink: sink})
		if _, closed := sink.result(); err == nil || err.Error() != want || !closed {
			t.Errorf("interval %v: %v (sink closed %v)", iv, err, closed)
		}
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	sink := newTestSink()
	err = run(RunConfig{Sources: map[string]Source{"in": mustSource(t, "socket://"+addr)}, Sink: sink})
	if err == nil || !strings.HasPrefix(err.Error(), `source "in": cannot connect to socket://`+addr+": connection refused") {
		t.Errorf("open error: %v", err)
	}
	if _, closed := sink.result(); !closed {
		t.Error("sink not closed after an open error")
	}
}
