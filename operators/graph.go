// Package operators turns a pipeline spec into a graph of DStream operators
// and runs it one micro-batch at a time. It implements host.Processor; guest
// functions reach it through Resolver, so it never depends on an engine.
package operators

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
)

// stage is one operator in a stream's chain.
type stage interface {
	// process transforms the stream's batch at time t (ms). emit is false
	// when the stage produces nothing at t (a window between slides); the
	// rest of the chain then does not run for t.
	process(ctx context.Context, t int64, in []abi.Raw) (out []abi.Raw, emit bool, err error)
}

// stream is a named chain of stages fed by a source or another stream.
type stream struct {
	name   string
	from   string // a source or stream name
	source bool   // from names a source
	stages []stage
	// slide is the interval (ms) at which the stream produces batches.
	slide int64
	// mark is the withWatermark whose time function gives the event time
	// of this stream's records (of v, for [k, v] pairs keyed after it), nil
	// when no withWatermark is upstream.
	mark *watermarkStage
	// join is the stream-stream join upstream of the stream's records.
	join *streamJoinStage
	// last is the stage that produces the stream's records (nil: a
	// source's), for a stage that reads how they were made (topN).
	last stage

	// per-batch result, valid after the stream ran for the current t
	out      []abi.Raw
	produced bool

	first int // the index of its first stage in Graph.infos
}

// Graph is a built pipeline. It is not safe for concurrent use: the
// scheduler runs one batch at a time.
type Graph struct {
	streams  []*stream // in dependency order
	byName   map[string]*stream
	final    *stream
	clock    *graphClock
	interval int64
	stateful []stateful  // stages with state, in graph order
	shape    string      // op chain, to tell a checkpoint from another pipeline
	legacy   string      // the shape as older wstream versions wrote it
	events   *eventClock // nil unless the pipeline uses event time
	fails    *failures
	// after runs once every stream has run for a trigger (withLatest takes
	// in the other stream's records there, for the triggers after).
	after []func(context.Context) error
	// sinkStreams are the named streams other than the final one that
	// have sinks of their own: their batches go out in Batch.Streams.
	sinkStreams []*stream

	// per-stage descriptions and counters (stats.go)
	infos      []StageInfo
	counters   []stageCounters
	stageFuncs [][]Func
	all        []stage
}

// SetLog sets the logger of failure policies' lines (default
// slog.Default()).
func (g *Graph) SetLog(l *slog.Logger) { g.fails.log = l }

// stateful is a stage whose state goes into checkpoints.
type stateful interface {
	snapshot(dst []byte) []byte
	restore(b []byte) error
}

// builder carries what op constructors need.
type builder struct {
	spec     *pipeline.Spec
	resolve  Resolver
	byName   map[string]*stream
	interval int64 // batch interval in ms
	slide    int64 // the slide of the chain being built, in ms
	clock    *graphClock
	stateful []stateful
	shape    []string
	legacy   []string
	ev       *eventClock
	fails    *failures
	lastMark *watermarkStage
	// chainMark is the withWatermark upstream of the stage being built, in
	// its own stream: what a stream-stream join reads event times with.
	chainMark *watermarkStage
	dstream   string // the first DStream-stateful op, for mixing errors
	// chainJoin is the stream-stream join whose output reaches the stage
	// being built, if any.
	chainJoin *streamJoinStage
	// prev is the stage before the one being built in its chain.
	prev  stage
	after []func(context.Context) error
	errs  []error

	// what stats.go records of each top-level stage
	stream, from string
	first, depth int
	funcs        []Func
	infos        []StageInfo
	stageFuncs   [][]Func
	all          []stage
}

// events returns the graph's event clock, creating it on first use.
func (b *builder) events() *eventClock {
	if b.ev == nil {
		b.ev = &eventClock{policyMax: b.spec.WatermarkPolicy == "max"}
	}
	return b.ev
}

// Build checks the spec and builds its graph. r resolves guest functions
// (nil when the pipeline uses built-ins only). It reports every problem it
// finds, one per line, not only the first.
func Build(spec *pipeline.Spec, r Resolver) (*Graph, error) {
	b := &builder{spec: spec, resolve: r, byName: map[string]*stream{}, interval: spec.Batch.D().Milliseconds(), clock: &graphClock{}, fails: &failures{log: slog.Default()}}
	if r != nil {
		b.resolve = &recordingResolver{r: r, b: b}
	}
	if b.interval < 1 {
		return nil, fmt.Errorf("batch: %s is below the 1ms minimum", spec.Batch.D())
	}
	streams := spec.Streams
	if len(streams) == 0 {
		names := spec.SourceNames()
		if len(names) != 1 {
			return nil, fmt.Errorf("stages: reads one source, but the pipeline has %d (%v); use streams: with from: to name each input", len(names), names)
		}
		streams = []pipeline.Stream{{Name: "output", From: names[0], Stages: spec.Stages}}
	}
	g := &Graph{byName: b.byName, clock: b.clock, interval: b.interval, fails: b.fails}
	// Streams are built in the order they are listed; a stream may read
	// only sources and streams listed before it, which also rules out cycles.
	for i, s := range streams {
		switch _, dup := b.byName[s.Name]; {
		case s.Name == "":
			b.errs = append(b.errs, fmt.Errorf("streams[%d] has no name", i))
			continue
		case dup:
			b.errs = append(b.errs, fmt.Errorf("stream %q is defined twice", s.Name))
			continue
		}
		if _, clash := spec.Sources[s.Name]; clash {
			b.errs = append(b.errs, fmt.Errorf("stream %q has the name of a source; give it another name", s.Name))
			continue
		}
		st := &stream{name: s.Name, from: s.From}
		if _, ok := spec.Sources[s.From]; ok {
			st.source = true
			b.slide, b.chainMark, b.chainJoin, b.prev = b.interval, nil, nil, nil
		} else if up, ok := b.byName[s.From]; ok {
			b.slide, b.chainMark, b.chainJoin, b.prev = up.slide, up.mark, up.join, up.last
		} else {
			b.errs = append(b.errs, fmt.Errorf("stream %q reads from %q, which is neither a source (%v) nor a stream listed before it%s", s.Name, s.From, spec.SourceNames(), pipeline.Suggest(s.From, append(spec.SourceNames(), b.streamNames()...))))
			continue
		}
		prefix := ""
		if len(spec.Streams) > 0 {
			prefix = fmt.Sprintf("stream %s ", s.Name)
		}
		b.shape = append(b.shape, fmt.Sprintf("%s<%s", s.Name, s.From))
		b.legacy = append(b.legacy, fmt.Sprintf("%s<%s", s.Name, s.From))
		b.stream, b.from, b.first, st.first = s.Name, s.From, len(b.infos), len(b.infos)
		st.stages = b.chain(prefix, s.Stages)
		st.slide, st.mark, st.join, st.last = b.slide, b.chainMark, b.chainJoin, b.prev
		b.byName[s.Name] = st
		g.streams = append(g.streams, st)
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	g.final = g.streams[len(g.streams)-1]
	for _, o := range spec.Outputs() {
		if st := g.byName[o.Stream]; st != nil && st != g.final && !slices.Contains(g.sinkStreams, st) {
			g.sinkStreams = append(g.sinkStreams, st)
		}
	}
	g.stateful, g.shape, g.legacy, g.events = b.stateful, strings.Join(b.shape, ";"), strings.Join(b.legacy, ";"), b.ev
	g.infos, g.stageFuncs, g.all, g.counters = b.infos, b.stageFuncs, b.all, make([]stageCounters, len(b.infos))
	g.after = b.after
	if b.ev != nil && b.dstream != "" {
		return nil, fmt.Errorf("%s is a DStream operator and this pipeline also uses event time (withWatermark, aggregateByWindow, aggregateByKey, aggregateBySession, dropDuplicates, dropDuplicatesWithinWatermark, joins with within:); as in Spark, the two APIs do not mix in one pipeline: split it in two", b.dstream)
	}
	return g, nil
}

// chain builds a list of stages. A stage that cannot be built is left out
// and its error kept in b.errs, so that one build reports every problem.
func (b *builder) chain(prefix string, specs []pipeline.Stage) []stage {
	var out []stage
	for i, s := range specs {
		label := fmt.Sprintf("%sstage %d (%s", prefix, i+1, s.Op)
		if s.Fn != "" {
			label += " " + s.Fn
		}
		if s.Line > 0 {
			label += fmt.Sprintf(", line %d", s.Line)
		}
		label += ")"
		fail := func(format string, args ...any) { b.errs = append(b.errs, fmt.Errorf(format, args...)) }
		mk, ok := ops[s.Op]
		if !ok {
			if s.Op == "" {
				fail("%s has no op:; valid ops: %s", label, opsList())
			} else {
				fail("%s: unknown op %q%s; valid ops: %s", label, s.Op, pipeline.Suggest(s.Op, opNames()), opsList())
			}
			continue
		}
		upJoin := b.chainJoin
		if s.Other != "" {
			other, ok := b.byName[s.Other]
			if !ok {
				fail("%s: other: %q is not a stream listed before this one (streams: %v)%s", label, s.Other, b.streamNames(), pipeline.Suggest(s.Other, b.streamNames()))
				continue
			}
			if other.slide != b.slide {
				fail("%s: stream %s produces every %dms but this one every %dms; they must match (as in Spark)", label, s.Other, other.slide, b.slide)
				continue
			}
			if upJoin == nil {
				upJoin = other.join
			}
		}
		if upJoin != nil {
			if err := afterJoin(upJoin, s, label); err != nil {
				b.errs = append(b.errs, err)
				continue
			}
		}
		mark := len(b.funcs)
		b.depth++
		st, err := mk(b, s, label)
		b.depth--
		if err != nil {
			b.errs = append(b.errs, err)
			continue
		}
		if j, ok := st.(*streamJoinStage); ok {
			upJoin = j
		}
		b.chainJoin, b.prev = upJoin, st
		if sf, ok := st.(stateful); ok {
			b.stateful = append(b.stateful, sf)
		}
		if w, ok := st.(*watermarkStage); ok {
			b.chainMark = w
		}
		if info, ok := stateOf(s); ok && !info.eventTime && !info.neutral && b.dstream == "" {
			b.dstream = label
		}
		if b.depth == 0 {
			b.record(st, s, label, mark)
		}
		b.shape = append(b.shape, stageShape(s))
		b.legacy = append(b.legacy, fmt.Sprintf("%s(%s,%s,%s,%s,%d,%d,%s)", s.Op, s.Fn, s.Inverse, s.Filter, s.Other, s.Window.D().Milliseconds(), s.Slide.D().Milliseconds(), s.Plugin))
		out = append(out, st)
	}
	return out
}

func (b *builder) streamNames() []string {
	var names []string
	for n := range b.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Process runs one micro-batch through every stream (host.Processor).
func (g *Graph) Process(ctx context.Context, t int64, inputs map[string][]abi.Raw) (host.Batch, bool, error) {
	if !g.clock.started {
		g.clock.zero, g.clock.started = t-g.interval, true
	}
	return g.run(ctx, t, inputs, false)
}

// NoDataPending reports whether the last trigger moved the watermark so
// that a trigger without input would emit or evict windows (Structured
// Streaming's no-data micro-batch).
func (g *Graph) NoDataPending() bool { return g.events != nil && g.events.pending }

// ProcessNoData runs a trigger with no input.
func (g *Graph) ProcessNoData(ctx context.Context, t int64) (host.Batch, bool, error) {
	return g.run(ctx, t, nil, true)
}

func (g *Graph) run(ctx context.Context, t int64, inputs map[string][]abi.Raw, noData bool) (host.Batch, bool, error) {
	g.fails.t, g.fails.dead = t, nil
	ev := g.events
	var wm int64
	if ev != nil {
		wm, ev.late, ev.pending = ev.wm, nil, false
	}
	for _, s := range g.streams {
		s.out, s.produced = nil, false
		var in []abi.Raw
		if s.source {
			in = inputs[s.from]
		} else {
			up := g.byName[s.from]
			if !up.produced {
				continue
			}
			in = up.out
		}
		out, emit, err := g.runStream(ctx, t, s, in)
		if err != nil {
			return host.Batch{}, false, err
		}
		s.out, s.produced = out, emit
	}
	for _, f := range g.after {
		if err := f(ctx); err != nil {
			return host.Batch{}, false, err
		}
	}
	b := host.Batch{Time: t, Records: g.final.out, NoData: noData}
	for _, s := range g.sinkStreams {
		if s.produced {
			if b.Streams == nil {
				b.Streams = map[string][]abi.Raw{}
			}
			b.Streams[s.name] = s.out
		}
	}
	if ev != nil && len(ev.late) > 0 {
		b.Side = map[string][]abi.Raw{"late": ev.late}
	}
	if len(g.fails.dead) > 0 {
		if b.Side == nil {
			b.Side = map[string][]abi.Raw{}
		}
		b.Side["deadLetter"] = g.fails.dead
	}
	if ev != nil {
		b.Watermark = &wm
		ev.advance()
		return b, true, nil // an event-time query reports every trigger
	}
	return b, g.final.produced, nil
}

func runChain(ctx context.Context, t int64, stages []stage, in []abi.Raw) ([]abi.Raw, bool, error) {
	for _, st := range stages {
		out, emit, err := st.process(ctx, t, in)
		if err != nil || !emit {
			return nil, false, err
		}
		in = out
	}
	return in, true, nil
}

func sortStrings(s []string) { sort.Strings(s) }

// StartAt sets the zero time (ms) before the first batch, from which slide
// times count. Graphs that run side by side, one per partition of a
// repartition topic (host.RunScaleOut), start at 0 so they slide together.
func (g *Graph) StartAt(zero int64) { g.clock.zero, g.clock.started = zero, true }
