// Package monitor watches a running pipeline: it keeps what every batch,
// stage and plugin did, aggregated per second, and serves it as Prometheus
// metrics, JSON, a live web UI and a summary at the end. It sits between
// the scheduler and the graph: host calls it as a host.Observer between
// batches, and it reads the graph's and the plugins' counters there, so
// the hot path pays a few additions per batch and nothing per record.
package monitor

import (
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
	"github.com/wstream/wstream/runtime"
)

// Config says what a Monitor keeps.
type Config struct {
	// Log receives reload outcomes and the server's address.
	Log *slog.Logger
	// Web keeps what the UI and /metrics show: the per-second series, the
	// recent batches and the Prometheus metrics. Without it a Monitor keeps
	// only the totals a summary needs.
	Web bool
	// Version is wstream's, for wstream_build_info.
	Version string
}

// Monitor is one run's numbers. Its methods are safe for concurrent use.
type Monitor struct {
	cfg   Config
	log   *slog.Logger
	start time.Time

	mu      sync.Mutex
	desc    Pipeline
	runs    []*run
	plugins []*runtime.Plugin
	state   string // starting, running, stopping, finished, failed
	err     string
	tot     totals
	web     *webState // nil without Config.Web
	events  []Event   // reloads and other operator events, the last maxEvents
	seq     int64     // events ever added
}

// Pipeline describes the pipeline being run, for the UI.
type Pipeline struct {
	File       string     `json:"file,omitempty"`
	IntervalMs int64      `json:"intervalMs"`
	Clock      string     `json:"clock"`
	Trigger    string     `json:"trigger"`
	Sources    []Endpoint `json:"sources"`
	Sink       string     `json:"sink"`
	Late       string     `json:"late,omitempty"`
	DeadLetter string     `json:"deadLetter,omitempty"`
	Checkpoint string     `json:"checkpoint,omitempty"`
	Stages     []Stage    `json:"stages"`
	// Split is where a scale-out pipeline is split by key (the index of
	// the first keyed stage), 0 when it runs in one piece.
	Split int `json:"split,omitempty"`
}

// Endpoint is a named source.
type Endpoint struct {
	Name string `json:"name"`
	URI  string `json:"uri"`
}

// Stage is one stage of the pipeline, in the graph's order.
type Stage struct {
	ID        string   `json:"id"` // stream/index: a metric label
	Stream    string   `json:"stream"`
	From      string   `json:"from"`
	Index     int      `json:"index"`
	Op        string   `json:"op"`
	Fn        string   `json:"fn,omitempty"`
	Other     string   `json:"other,omitempty"`
	Stateful  bool     `json:"stateful,omitempty"`
	EventTime bool     `json:"eventTime,omitempty"`
	Funcs     []string `json:"funcs,omitempty"` // plugin file base name/function
}

// Event is something an operator should see besides the numbers: a plugin
// reloaded or refused.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"` // reload, reload-refused
	Plugin  string    `json:"plugin,omitempty"`
	Message string    `json:"message"`
	Batch   int64     `json:"batch,omitempty"` // the first batch (ms) of a reloaded module
}

const maxEvents = 100

// New returns a Monitor; Describe and Watch tell it about the run.
func New(cfg Config) *Monitor {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m := &Monitor{cfg: cfg, log: cfg.Log, start: time.Now(), state: "starting"}
	if cfg.Web {
		m.web = newWebState(m)
	}
	return m
}

// Web reports whether the monitor keeps what the UI and /metrics show.
func (m *Monitor) Web() bool { return m.web != nil }

// Describe tells the monitor what is run: the spec and, for each of the
// graphs that run it (two for a pipeline split by key), its stages.
func (m *Monitor) Describe(spec *pipeline.Spec, graphs ...*operators.Graph) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := Pipeline{File: spec.File, IntervalMs: spec.Batch.D().Milliseconds(), Clock: string(spec.Clock), Trigger: string(spec.Trigger),
		Sink: spec.Sink, Late: spec.Late, DeadLetter: spec.DeadLetter, Checkpoint: spec.Checkpoint}
	for _, n := range spec.SourceNames() {
		d.Sources = append(d.Sources, Endpoint{Name: n, URI: spec.Sources[n]})
	}
	for gi, g := range graphs {
		if gi == 1 {
			d.Split = len(d.Stages)
		}
		for _, s := range g.Stages() {
			st := Stage{Stream: s.Stream, From: s.From, Index: s.Index + d.Split, Op: s.Op, Fn: s.Fn, Other: s.Other, Stateful: s.Stateful, EventTime: s.EventTime}
			st.ID = st.Stream + "/" + itoa(int64(st.Index))
			for _, f := range s.Funcs {
				st.Funcs = append(st.Funcs, baseName(f.Plugin)+"/"+f.Name)
			}
			d.Stages = append(d.Stages, st)
		}
	}
	m.desc = d
	m.tot.in = make([]int64, len(d.Sources))
	m.tot.stages = make([]operators.StageStats, len(d.Stages))
	m.tot.state = make([]operators.StateSize, len(d.Stages))
}

// SetPlugins names the plugins whose calls and sandbox events are shown.
func (m *Monitor) SetPlugins(ps []*runtime.Plugin) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.plugins = slices.Clone(ps)
}

// The roles of a run in a pipeline split by key.
const (
	// Whole is a pipeline that runs in one piece.
	Whole = ""
	// Prefix is the half before the key: it reads the sources.
	Prefix = "prefix"
	// Keyed is the half from the keyed stage on: it writes the sink.
	Keyed = "keyed"
)

// Watch returns the observer of one host.Run: role says which part of the
// pipeline it runs, g is its graph, and first is the index of g's first
// stage among the pipeline's stages (Describe's order).
func (m *Monitor) Watch(role string, g *operators.Graph, first int) host.Observer {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &run{m: m, role: role, graph: g, first: first}
	m.runs = append(m.runs, r)
	return r
}

// Finish records how the run ended: err is what job.Run returned,
// stopped that it ended on a signal rather than drained sources.
func (m *Monitor) Finish(err error, stopped bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err != nil:
		m.state, m.err = "failed", err.Error()
	case stopped:
		m.state = "stopped"
	default:
		m.state = "finished"
	}
	m.tot.ended = time.Now()
	if m.web != nil {
		m.web.flush(time.Now(), true)
	}
}

// Started reports whether the run got as far as opening its sources and
// sinks (a refused start did not).
func (m *Monitor) Started() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.tot.started.IsZero()
}

// Stopping marks a run that has been asked to stop (a signal): not ready.
func (m *Monitor) Stopping() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == "running" || m.state == "starting" {
		m.state = "stopping"
	}
}

// AddEvent records an operator event (a reload) for the UI and the
// summary.
func (m *Monitor) AddEvent(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.events) == maxEvents {
		m.events = append(m.events[:0], m.events[1:]...)
	}
	m.events = append(m.events, e)
	m.seq++
	if m.web != nil {
		m.web.metrics.reload(e)
	}
}

// Ready reports whether every part of the run has opened its sources and
// sinks and is running batches; why says what it is doing otherwise.
func (m *Monitor) Ready() (ready bool, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != "running" {
		if m.err != "" {
			return false, m.state + ": " + m.err
		}
		return false, m.state
	}
	return true, "ready"
}

// SourceProgress is how far a bounded source has read.
type SourceProgress struct {
	Name, URI   string
	Done, Total int64 // bytes; Total 0 when unknown
	Records     int64 // records it gave batches so far
}

// Progress reports each source that can say how far it has read, for a
// progress line; nil before the run has opened its sources.
func (m *Monitor) Progress() []SourceProgress {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SourceProgress
	for _, r := range m.runs {
		if r.role == Keyed {
			continue
		}
		for i, e := range m.desc.Sources {
			if ps, ok := r.sources[e.Name].(host.ProgressSource); ok {
				done, total := ps.ReadProgress()
				out = append(out, SourceProgress{Name: e.Name, URI: e.URI, Done: done, Total: total, Records: m.tot.in[i]})
			}
		}
	}
	return out
}

// run is the observer of one host.Run.
type run struct {
	m       *Monitor
	role    string
	graph   *operators.Graph
	first   int // its graph's first stage among the pipeline's
	sources map[string]host.Source
	sink    host.Sink
	iv      time.Duration
	started bool

	prev, cur   []operators.StageStats // the graph's counters at the last batch and now
	deltas      []stageDelta
	sizes       []operators.StateSize
	sampled     time.Time     // when state sizes were last read
	sampleEvery time.Duration // how long until the next read
}

// Started implements host.Observer.
func (r *run) Started(info host.RunInfo) {
	m := r.m
	m.mu.Lock()
	defer m.mu.Unlock()
	r.sources, r.sink, r.iv, r.started = info.Sources, info.Sink, info.Interval, true
	r.prev = r.graph.StageStats(r.prev[:0])
	r.deltas = make([]stageDelta, len(r.prev))
	if m.tot.started.IsZero() {
		m.tot.started = time.Now()
	}
	ready := 0
	for _, x := range m.runs {
		if x.started {
			ready++
		}
	}
	if ready == len(m.runs) && m.state == "starting" {
		m.state = "running"
	}
}

// Batch implements host.Observer. It runs on the scheduler's goroutine.
func (r *run) Batch(b *host.BatchStats) {
	m := r.m
	g := r.graph
	r.cur = g.StageStats(r.cur[:0])
	for i := range r.cur {
		r.deltas[i] = delta(r.prev[i], r.cur[i])
	}
	r.prev, r.cur = r.cur, r.prev
	now := time.Now()
	sample := m.web != nil && now.Sub(r.sampled) >= r.sampleEvery
	if sample {
		r.sizes = g.StateSizes(r.sizes[:0])
		// A stage that cannot count its keys is measured by encoding its
		// state: keep that under 1% of the run, however large the state.
		took := time.Since(now)
		r.sampled, r.sampleEvery = now, max(time.Second, 100*took)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	t := &m.tot
	copy(t.stages[r.first:], r.prev)
	if sample {
		copy(t.state[r.first:], r.sizes)
	}
	counts := r.role != Keyed   // its sources are the pipeline's
	batches := r.role != Prefix // its batches write the sink
	in := int64(0)
	if counts {
		for _, s := range b.Sources {
			if i := m.sourceIndex(s.Name); i >= 0 {
				t.in[i] += int64(s.Records)
				in += int64(s.Records)
			}
		}
	}
	t.late += int64(b.Late)
	t.dead += int64(b.DeadLetters)
	t.procAll += b.Processing
	if b.Checkpoint != nil {
		t.checkpoints++
		t.ckptTime += b.Checkpoint.Duration
	}
	if batches {
		t.batches++
		t.out += int64(b.Out)
		t.proc += b.Processing
		t.lastBatch, t.lastBatchAt = b.Time, now
		if b.Watermark != nil {
			wm := *b.Watermark
			t.watermark = &wm
		}
		if b.SchedulingDelay > r.iv {
			t.lateBatches++
		}
	}
	if m.web != nil {
		m.web.batch(r, b, in, batches, now)
	}
}

// sourceIndex is the index of a source name in desc.Sources, -1 if none.
func (m *Monitor) sourceIndex(name string) int {
	for i, e := range m.desc.Sources {
		if e.Name == name {
			return i
		}
	}
	return -1
}

// stageDelta is what one stage did in one batch (or one second).
type stageDelta struct {
	In      int64   `json:"in"`
	Out     int64   `json:"out"`
	Ms      float64 `json:"ms"`
	GuestMs float64 `json:"guestMs"`
	Late    int64   `json:"late,omitempty"`
	Dead    int64   `json:"dead,omitempty"`
}

func delta(a, b operators.StageStats) stageDelta {
	return stageDelta{In: b.RecordsIn - a.RecordsIn, Out: b.RecordsOut - a.RecordsOut,
		Ms: ms(b.Time - a.Time), GuestMs: ms(b.Guest - a.Guest), Late: b.Late - a.Late, Dead: b.DeadLetters - a.DeadLetters}
}

func (d *stageDelta) add(o stageDelta) {
	d.In += o.In
	d.Out += o.Out
	d.Ms += o.Ms
	d.GuestMs += o.GuestMs
	d.Late += o.Late
	d.Dead += o.Dead
}

// totals are what the whole run did, for the summary and /metrics.
type totals struct {
	started, ended       time.Time
	batches, lateBatches int64
	in                   []int64 // by desc.Sources
	out, late, dead      int64
	proc                 time.Duration // batches that wrote the sink
	procAll              time.Duration // every run's batches
	checkpoints          int64
	ckptTime             time.Duration
	stages               []operators.StageStats // cumulative, by desc.Stages
	state                []operators.StateSize
	watermark            *int64
	lastBatch            int64
	lastBatchAt          time.Time
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
