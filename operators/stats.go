package operators

import (
	"context"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/runtime"
)

// StageInfo describes one stage of a graph, for metrics and a UI.
type StageInfo struct {
	// Stream is the stream the stage belongs to; From is what the stream
	// reads (a source or a stream); Index is the stage's place in it,
	// from 1.
	Stream, From string
	Index        int
	// Label names the stage as errors do: `stage 2 (map pair-with-one)`.
	Label string
	Op    string
	Fn    string
	// Other is the stream a join or union reads besides its own.
	Other string
	// Stateful stages keep state across batches; EventTime ones are
	// Structured Streaming's.
	Stateful, EventTime bool
	// Funcs are the guest functions the stage calls (a transform's nested
	// stages' included).
	Funcs []FuncRef
}

// FuncRef names a guest function: its plugin's file and its name.
type FuncRef struct {
	Plugin, Name string
}

// StageStats are a stage's counters since the graph was built.
type StageStats struct {
	Batches               int64
	RecordsIn, RecordsOut int64
	// Time is the wall time the stage took; Guest the part of it inside
	// guest calls, summed over the calls (the chunks of a large batch run
	// in parallel, so Guest can exceed Time).
	Time, Guest time.Duration
	GuestCalls  int64
	// Late and DeadLetters count the rows the stage dropped behind the
	// watermark and the records it set aside under onError: deadletter.
	Late, DeadLetters int64
}

// StateSize is what a stateful stage holds.
type StateSize struct {
	// Keys is the number of keys (or buffered records, for a window over
	// the whole stream); -1 when the stage cannot say cheaply.
	Keys  int64
	Bytes int64
}

// stageCounters are written by the scheduler's goroutine as the graph
// runs, and read on that goroutine between batches (StageStats): plain
// integers, no atomics on the hot path.
type stageCounters struct {
	batches, in, out, late, dead int64
	ns                           int64
}

// statFunc is a Func that counts its calls (*runtime.Func).
type statFunc interface {
	Stats() runtime.CallStats
}

// recordingResolver remembers every function a stage resolves, so the
// graph can say how long each stage spent in guest code.
type recordingResolver struct {
	r Resolver
	b *builder
}

func (rr *recordingResolver) Func(plugin, name string) (Func, error) {
	f, err := rr.r.Func(plugin, name)
	if err == nil {
		rr.b.funcs = append(rr.b.funcs, f)
	}
	return f, err
}

// record adds the stage just built at the top level of a stream to the
// graph's stage list, with the functions resolved since mark.
func (b *builder) record(st stage, s pipeline.Stage, label string, mark int) {
	info := StageInfo{Stream: b.stream, From: b.from, Index: len(b.infos) - b.first + 1, Label: label, Op: s.Op, Fn: s.Fn, Other: s.Other}
	if st, ok := opState[s.Op]; ok {
		info.Stateful, info.EventTime = true, st.eventTime
	}
	fns := b.funcs[mark:]
	info.Funcs = make([]FuncRef, 0, len(fns))
	for _, f := range fns {
		ref := FuncRef{Name: f.Name()}
		if rf, ok := f.(*runtime.Func); ok {
			ref.Plugin = rf.Plugin().Path()
		}
		info.Funcs = append(info.Funcs, ref)
	}
	if _, ok := st.(stateful); ok {
		info.Stateful = true
	}
	b.infos = append(b.infos, info)
	b.stageFuncs = append(b.stageFuncs, append([]Func(nil), fns...))
	b.all = append(b.all, st)
}

// Stages describes the graph's stages, stream by stream in declaration
// order.
func (g *Graph) Stages() []StageInfo { return append([]StageInfo(nil), g.infos...) }

// StageStats appends each stage's counters, in the order of Stages, to
// dst. Call it on the goroutine that runs the graph (an Observer's), or
// after the run.
func (g *Graph) StageStats(dst []StageStats) []StageStats {
	for i := range g.infos {
		c := &g.counters[i]
		s := StageStats{Batches: c.batches, RecordsIn: c.in, RecordsOut: c.out, Time: time.Duration(c.ns), Late: c.late, DeadLetters: c.dead}
		for _, f := range g.stageFuncs[i] {
			if sf, ok := f.(statFunc); ok {
				cs := sf.Stats()
				s.Guest += cs.Guest
				s.GuestCalls += cs.Calls
			}
		}
		dst = append(dst, s)
	}
	return dst
}

// sizer is a stateful stage that can say its size without encoding it.
type sizer interface {
	stateSize() StateSize
}

// StateSizes appends, for each stage in the order of Stages, what it
// holds (zero for a stage without state). A stage that cannot count its
// keys is measured by encoding its state, which costs a copy of it: call
// it at most about once a second, on the goroutine that runs the graph.
func (g *Graph) StateSizes(dst []StateSize) []StateSize {
	var buf []byte
	for _, st := range g.all {
		switch s := st.(type) {
		case sizer:
			dst = append(dst, s.stateSize())
		case stateful:
			buf = s.snapshot(buf[:0])
			dst = append(dst, StateSize{Keys: -1, Bytes: int64(len(buf))})
		default:
			dst = append(dst, StateSize{})
		}
	}
	return dst
}

// ShareStatsWith makes g count into other's counters: the graphs that run
// one per partition (scale-out), one at a time on one goroutine, add up as
// one. other must be built from the same stages.
func (g *Graph) ShareStatsWith(other *Graph) {
	if len(other.counters) == len(g.counters) {
		g.counters = other.counters
	}
}

// runStream runs a stream's stages over in, counting each stage's records
// and time.
func (g *Graph) runStream(ctx context.Context, t int64, s *stream, in []abi.Raw) ([]abi.Raw, bool, error) {
	for i, st := range s.stages {
		c := &g.counters[s.first+i]
		late, dead := g.lateRows(), len(g.fails.dead)
		start := time.Now()
		out, emit, err := st.process(ctx, t, in)
		c.ns += int64(time.Since(start))
		c.batches++
		c.in += int64(len(in))
		c.late += int64(g.lateRows() - late)
		c.dead += int64(len(g.fails.dead) - dead)
		if err != nil || !emit {
			return nil, false, err
		}
		c.out += int64(len(out))
		in = out
	}
	return in, true, nil
}

func (g *Graph) lateRows() int {
	if g.events == nil {
		return 0
	}
	return len(g.events.late)
}

// ---- state sizes of the stages that can count their keys ----

func (k *keyedState) size() StateSize {
	s := StateSize{Keys: int64(len(k.keys))}
	for i, key := range k.keys {
		s.Bytes += int64(len(key) + len(k.vals[i]))
	}
	return s
}

func (u *updateStage) stateSize() StateSize { return u.state.size() }

func (w *windowBuf) size() StateSize {
	var s StateSize
	for _, b := range w.batches {
		s.Keys += int64(len(b.recs))
		for _, r := range b.recs {
			s.Bytes += int64(len(r))
		}
	}
	return s
}

func (w *windowStage) stateSize() StateSize { return w.buf.size() }

func (g *grouping) size() StateSize {
	s := StateSize{Keys: int64(len(g.keys))}
	for i, k := range g.keys {
		s.Bytes += int64(len(k))
		for _, v := range g.vals[i] {
			s.Bytes += int64(len(v))
		}
	}
	return s
}

// stateSize counts the keys of the last window for the incremental form,
// which keeps it, and the buffered pairs for the naive one.
func (k *keyedWindowStage) stateSize() StateSize {
	s := k.buf.size()
	if k.inverse != nil {
		p := k.prev.size()
		s.Keys, s.Bytes = p.Keys, s.Bytes+p.Bytes
	}
	return s
}
