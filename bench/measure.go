package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/bench/logic"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/logs"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
	"github.com/wstream/wstream/operators/job"
	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wazero"
)

// Job is one measurement, run in its own process by the suite (so that its
// peak RSS is its own) or in-process by the smoke test.
type Job struct {
	Kind     string `json:"kind"` // "throughput" or "latency"
	Workload string `json:"workload"`
	Plugin   string `json:"plugin,omitempty"` // "" runs the native Go version
	Keys     int    `json:"keys"`
	Batch    int    `json:"batch,omitempty"`   // throughput: records per batch
	Records  int    `json:"records,omitempty"` // throughput: records to time
	// Latency: input rate (records/s), batch interval and run time.
	Rate     int           `json:"rate,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Workers  int           `json:"workers,omitempty"` // instances per plugin; 0: GOMAXPROCS
	// MaxSeconds ends a throughput run early once this much time was
	// timed, so that a slow guest does not hold the suite for minutes.
	MaxSeconds float64 `json:"max_seconds,omitempty"`
	Seed       uint64  `json:"seed"`
	File       string  `json:"file,omitempty"` // kind "file": the text to count
}

// Result is what a job measured.
type Result struct {
	Records       int64   `json:"records"`
	Out           int64   `json:"out"` // output records, to check WASM against native
	Seconds       float64 `json:"seconds"`
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"` // process CPU time in the timed region (all threads)
	RecordsPerSec float64 `json:"records_per_sec"`
	Batches       int     `json:"batches"`
	P50ms         float64 `json:"p50_ms,omitempty"`
	P99ms         float64 `json:"p99_ms,omitempty"`
	MaxMs         float64 `json:"max_ms,omitempty"`
	PeakRSSKB     int64   `json:"peak_rss_kb,omitempty"` // filled in by the parent
	Err           string  `json:"error,omitempty"`
}

// RunJob runs one job in this process.
func RunJob(ctx context.Context, j Job) (Result, error) {
	if j.Workload == keyedWindowName {
		return keyedWindowJob(ctx, j)
	}
	w, err := workloadByName(j.Workload)
	if err != nil {
		return Result{}, err
	}
	if j.Keys == 0 {
		j.Keys = w.keys
	}
	switch j.Kind {
	case "throughput":
		if j.Plugin == "" {
			return nativeThroughput(w, j), nil
		}
		return wasmThroughput(ctx, w, j)
	case "latency":
		return latency(ctx, w, j)
	}
	return Result{}, fmt.Errorf("unknown job kind %q", j.Kind)
}

// ---- the graph, built as `wstream run` builds it ----

// loaded is a workload's engine and plugins, loaded as `wstream run`
// loads them.
type loaded struct {
	engine  runtime.Engine
	plugins *job.Plugins
}

func (l *loaded) close() {
	l.plugins.Close()
	l.engine.Close(context.Background())
}

// build makes the workload's graph over the wazero engine.
func build(ctx context.Context, w *workload, j Job) (*operators.Graph, *loaded, error) {
	spec, err := pipeline.Parse([]byte(w.pipeline(j.Plugin)))
	if err != nil {
		return nil, nil, err
	}
	spec.ApplyDefaults()
	if w.initial != nil {
		spec.Stages[len(spec.Stages)-1].Initial = w.initial(j.Keys)
	}
	engine := wazero.New(ctx)
	r := &loaded{engine: engine, plugins: job.NewPlugins(engine, runtime.Config{Workers: j.Workers})}
	r.plugins.For(spec)
	g, err := operators.Build(spec, r.plugins)
	if err != nil {
		r.close()
		return nil, nil, err
	}
	return g, r, nil
}

// encode makes a batch of records, msgpack strings in one buffer, as a
// source hands them to the graph.
func encode(next func() string, n int) ([]abi.Raw, []string) {
	strs := make([]string, n)
	size := 0
	for i := range strs {
		strs[i] = next()
		size += len(strs[i]) + 5
	}
	buf := make([]byte, 0, size)
	recs := make([]abi.Raw, n)
	for i, s := range strs {
		start := len(buf)
		buf = abi.AppendString(buf, s)
		recs[i] = buf[start:len(buf):len(buf)]
	}
	return recs, strs
}

// cpuTime is this process's user+system CPU time. The suite reports
// records per CPU-second beside records per second because the machine may
// be shared: CPU time hardly moves with other load, wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// warmBatches run before the clock starts: instances made, code paged in,
// the Go guest's heap grown, and windows and state filled.
const warmBatches = 3

// wasmThroughput feeds generated batches straight into Graph.Process and
// times only Process: operators, ABI encoding, guest calls, grouping.
func wasmThroughput(ctx context.Context, w *workload, j Job) (Result, error) {
	g, r, err := build(ctx, w, j)
	if err != nil {
		return Result{}, err
	}
	defer r.close()
	next := w.gen(j.Seed, j.Keys)
	var res Result
	var busy time.Duration
	iv := int64(10)
	for b := 0; (res.Records < int64(j.Records) && !j.over(busy)) || b < warmBatches; b++ {
		recs, _ := encode(next, j.Batch)
		t := int64(b+1) * iv
		c0, start := cpuTime(), time.Now()
		out, emit, err := g.Process(ctx, t, map[string][]abi.Raw{"input": recs})
		d, c := time.Since(start), cpuTime()-c0
		if err != nil {
			return Result{}, err
		}
		if b < warmBatches {
			continue
		}
		busy += d
		res.CPUSeconds += c.Seconds()
		res.Records += int64(len(recs))
		res.Batches++
		if emit {
			res.Out += int64(len(out.Records))
		}
	}
	res.Seconds = busy.Seconds()
	res.RecordsPerSec = float64(res.Records) / res.Seconds
	return res, nil
}

func (j Job) over(busy time.Duration) bool {
	return j.MaxSeconds > 0 && busy.Seconds() >= j.MaxSeconds
}

// nativeThroughput runs the native version over the same batches (as Go
// strings, what a native program would hold), timing only the logic.
func nativeThroughput(w *workload, j Job) Result {
	run := w.native(j.Keys)
	next := w.gen(j.Seed, j.Keys)
	var res Result
	var busy time.Duration
	for b := 0; (res.Records < int64(j.Records) && !j.over(busy)) || b < warmBatches; b++ {
		strs := make([]string, j.Batch)
		for i := range strs {
			strs[i] = next()
		}
		c0, start := cpuTime(), time.Now()
		n := run(strs)
		d, c := time.Since(start), cpuTime()-c0
		if b < warmBatches {
			continue
		}
		busy += d
		res.CPUSeconds += c.Seconds()
		res.Records += int64(len(strs))
		res.Batches++
		res.Out += int64(n)
	}
	res.Seconds = busy.Seconds()
	res.RecordsPerSec = float64(res.Records) / res.Seconds
	return res
}

// ---- end-to-end latency under the system clock ----

// arrivals records when each unit reached the scheduler, in order, so that
// a batch's oldest record can be found from how many records it took.
type arrivals struct {
	mu    sync.Mutex
	units []arrival
}

type arrival struct {
	n  int
	at time.Time
}

func (a *arrivals) push(n int, at time.Time) {
	a.mu.Lock()
	a.units = append(a.units, arrival{n, at})
	a.mu.Unlock()
}

// take removes the units holding the next n records and returns the arrival
// of the first (the batch's oldest record).
func (a *arrivals) take(n int) (time.Time, bool) {
	if n == 0 {
		return time.Time{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	oldest := a.units[0].at
	for n > 0 && len(a.units) > 0 {
		n -= a.units[0].n
		a.units = a.units[1:]
	}
	return oldest, true
}

// pacedSource yields a unit of rate/1000 records every millisecond, from a
// pool of pre-encoded records (so generating costs the run nothing). A
// record's arrival is the time it was due, so backpressure from a full
// buffer shows as latency rather than as a lower input rate.
type pacedSource struct {
	pool  []abi.Raw
	per   int
	arr   *arrivals
	start time.Time
	k     int
	// make, when set, makes unit k instead of the pool (input whose
	// content follows the clock, such as event times).
	make func(k int) []abi.Raw
}

func (s *pacedSource) URI() string                        { return "bench:paced" }
func (s *pacedSource) Open(context.Context, []byte) error { s.start = time.Now(); return nil }
func (s *pacedSource) Close() error                       { return nil }
func (s *pacedSource) Next(ctx context.Context) (host.Unit, error) {
	due := s.start.Add(time.Duration(s.k) * time.Millisecond)
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return host.Unit{}, ctx.Err()
		}
	}
	var recs []abi.Raw
	if s.make != nil {
		recs = s.make(s.k)
	} else {
		off := (s.k * s.per) % (len(s.pool) - s.per)
		recs = s.pool[off : off+s.per : off+s.per]
	}
	s.k++
	s.arr.push(len(recs), due) // when the record was due: time blocked on a full buffer counts
	return host.Unit{Records: recs}, nil
}

// timedGraph notes, for each batch, the arrival of its oldest record.
type timedGraph struct {
	g       host.Processor
	arr     *arrivals
	pending time.Time
	has     bool
}

func (t *timedGraph) Process(ctx context.Context, bt int64, in map[string][]abi.Raw) (host.Batch, bool, error) {
	if at, ok := t.arr.take(len(in["input"])); ok && !t.has {
		t.pending, t.has = at, true
	}
	return t.g.Process(ctx, bt, in)
}

// latencySink measures, at each write, how long the batch's oldest record
// has been in the system.
type latencySink struct {
	tg      *timedGraph
	skip    int // warm-up batches not counted
	until   time.Time
	lat     []time.Duration
	batches int
	out     int64
}

func (s *latencySink) URI() string { return "bench:latency" }

func (s *latencySink) Open(context.Context, int64) error { return nil }
func (s *latencySink) Close() error                      { return nil }
func (s *latencySink) Write(b host.Batch) error {
	now := time.Now()
	s.batches++
	s.out += int64(len(b.Records))
	if !s.tg.has {
		return nil
	}
	s.tg.has = false
	if s.batches > s.skip && now.Before(s.until) {
		s.lat = append(s.lat, now.Sub(s.tg.pending))
	}
	return nil
}

// latency runs the graph under host.Run with the system clock, fed at a
// fixed rate, and reports latency percentiles (time the sink sees a batch
// minus the arrival of its oldest record).
func latency(ctx context.Context, w *workload, j Job) (Result, error) {
	if j.Plugin == "" {
		return Result{}, errors.New("latency runs need a plugin")
	}
	g, r, err := build(ctx, w, j)
	if err != nil {
		return Result{}, err
	}
	defer r.close()
	per := max(j.Rate/1000, 1)
	pool, _ := encode(w.gen(j.Seed, j.Keys), max(8192, 4*per))
	arr := &arrivals{}
	tg := &timedGraph{g: g, arr: arr}
	warm := min(500*time.Millisecond, j.Duration/4)
	sink := &latencySink{tg: tg, skip: int(warm / j.Interval), until: time.Now().Add(j.Duration)}
	rctx, cancel := context.WithTimeout(ctx, j.Duration)
	defer cancel()
	start := time.Now()
	err = host.Run(rctx, host.RunConfig{
		Sources:   map[string]host.Source{"input": &pacedSource{pool: pool, per: per, arr: arr}},
		Sink:      sink,
		Processor: tg,
		Interval:  j.Interval,
		Log:       logs.Discard(),
		// 100 ms of input: a pipeline that falls behind takes batches of at
		// most 100 ms of records rather than ever larger ones.
		Buffer: 100,
	})
	if err != nil {
		return Result{}, err
	}
	return sink.result(start, per, j, warm)
}

// result is a latency run's Result: its percentiles, and the input it
// was fed (per records every millisecond since start).
func (s *latencySink) result(start time.Time, per int, j Job, warm time.Duration) (Result, error) {
	res := Result{Seconds: time.Since(start).Seconds(), Batches: s.batches, Out: s.out}
	if len(s.lat) == 0 {
		return res, fmt.Errorf("no batch finished after the %v warm-up within %v: the pipeline cannot keep up with %d records/s", warm, j.Duration, j.Rate)
	}
	sort.Slice(s.lat, func(a, b int) bool { return s.lat[a] < s.lat[b] })
	pct := func(p float64) float64 {
		i := min(int(p*float64(len(s.lat))), len(s.lat)-1)
		return float64(s.lat[i].Microseconds()) / 1000
	}
	res.P50ms, res.P99ms, res.MaxMs = pct(0.50), pct(0.99), pct(1)
	res.Records = int64(per) * int64(res.Seconds*1000)
	res.RecordsPerSec = float64(j.Rate)
	return res, nil
}

// nativeFile is the native word count as a whole program: read the
// file, cut 1024-line batches (what the CLI's bounded source buffer holds),
// split, count, and print each batch pprint-style (the first 10 pairs).
func nativeFile(j Job) (Result, error) {
	f, err := os.Open(j.File)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	out := bufio.NewWriter(io.Discard)
	sc := bufio.NewScanner(f)
	var res Result
	batch := make([]string, 0, 1024)
	flush := func() {
		counts := make(map[string]int64, len(batch))
		for _, l := range batch {
			for _, w := range logic.SplitWords(l) {
				counts[w]++
			}
		}
		res.Batches++
		res.Out += int64(len(counts))
		fmt.Fprintf(out, "-------------------------------------------\nTime: %d ms\n-------------------------------------------\n", res.Batches*10)
		n := 0
		for k, v := range counts {
			if n++; n > 10 {
				break
			}
			fmt.Fprintf(out, "(%s,%d)\n", k, v)
		}
		batch = batch[:0]
	}
	for sc.Scan() {
		batch = append(batch, sc.Text())
		res.Records++
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return res, sc.Err()
}
