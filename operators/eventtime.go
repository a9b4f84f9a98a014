package operators

import (
	"context"
	"fmt"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// Event time follows Structured Streaming. withWatermark tracks the largest
// event time it has seen; at the end of each trigger the graph sets the
// watermark to max(event time) − delay (combined over inputs by the
// watermark policy, never decreasing), and that watermark applies from the
// next trigger. aggregateByWindow assigns each row to every window
// [start, start+window) that contains its event time, starts aligned to the
// epoch plus offset; a (row, window) is late, and dropped, when the window
// has closed: end <= watermark. Output modes: append emits a window once,
// when it closes; update emits the windows this trigger changed; complete
// emits the whole table every trigger and never evicts or drops.

func init() {
	ops["withWatermark"] = buildWithWatermark
}

// eventClock is the graph's watermark state.
type eventClock struct {
	wm         int64 // the watermark in effect for the current trigger
	marks      []*watermarkStage
	evicting   bool // an append/update aggregate exists: a watermark move needs a no-data batch
	pending    bool // the last trigger moved the watermark
	policyMax  bool
	late       []abi.Raw // rows dropped as late in the current trigger
	lateTotal  int64
	aggregates int
}

// advance computes the watermark at the end of a trigger.
func (c *eventClock) advance() {
	if len(c.marks) == 0 {
		return
	}
	global := int64(0)
	for i, m := range c.marks {
		w := int64(0)
		if m.seen {
			if cand := m.maxEvent - m.delay; cand > m.wm {
				m.wm = cand
			}
			w = m.wm
		}
		switch {
		case i == 0:
			global = w
		case c.policyMax && w > global, !c.policyMax && w < global:
			global = w
		}
	}
	c.pending = false
	if global > c.wm {
		c.wm = global
		c.pending = c.evicting
	}
}

// timeFunc computes event times (ms) for a batch. bad[i] marks a record
// whose time could not be read and that the stage's onError set aside (bad
// is nil when there is none).
type timeFunc interface {
	times(ctx context.Context, in []abi.Raw) (ts []int64, bad []bool, err error)
}

// guestTime calls a guest map function x -> int ms.
type guestTime struct {
	c   caller
	pol *policy
}

func (g *guestTime) times(ctx context.Context, in []abi.Raw) ([]int64, []bool, error) {
	res, err := g.c.call(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	out := make([]int64, len(in))
	var bad []bool
	for i, r := range res {
		if r != nil {
			if out[i], _, err = abi.ReadInt(r); err == nil {
				continue
			}
			if err := g.pol.reject(in[i], fmt.Sprintf("event time %s: %v (the time function must return integer milliseconds)", abi.Describe(r), err)); err != nil {
				return nil, nil, err
			}
		}
		if bad == nil {
			bad = make([]bool, len(in))
		}
		bad[i] = true
	}
	return out, bad, nil
}

// builtinTimes are event-time functions the host provides, as the paths
// they read: timestamp is the field a Kafka record read with ?record=full
// has.
var builtinTimes = map[string]string{"timestamp": ".timestamp"}

// timeSpec is a time: as written, and what it means.
type timeSpec struct{ plugin, name string }

// key is the spec as the shape and a key: that names it show it: a path, or
// plugin/function.
func (t timeSpec) key() string {
	if p, ok := builtinTimes[t.name]; ok {
		return p
	}
	if isPath(t.name) {
		return t.name
	}
	return t.plugin + "/" + t.name
}

func (b *builder) timeFunc(t timeSpec, label string, pol *policy) (timeFunc, error) {
	name := t.name
	if p, ok := builtinTimes[name]; ok {
		name = p
	}
	if isPath(name) {
		p, err := parsePath(name)
		if err != nil {
			return nil, fmt.Errorf("%s: time: %w", label, err)
		}
		return pathTime{p: p, pol: pol}, nil
	}
	f, err := lookup(b.resolve, t.plugin, name, abi.KindMap, label+" time")
	if err != nil {
		return nil, err
	}
	return &guestTime{c: pol.caller(f, label+" time "+name), pol: pol}, nil
}

// ---- withWatermark ----

type watermarkStage struct {
	fn       timeFunc
	spec     timeSpec
	delay    int64
	maxEvent int64
	seen     bool
	wm       int64
	pol      *policy

	// the last batch and its event times, reused by a stage right after
	lastIn    []abi.Raw
	lastTimes []int64
}

func buildWithWatermark(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "time", "delay", "plugin", "onError"); err != nil {
		return nil, err
	}
	if s.Time == "" {
		return nil, fmt.Errorf("%s needs time: (a path to the event time in ms, such as .ts, a map function from a record to its event time in ms, e.g. int-seconds, or the built-in timestamp)", label)
	}
	pol, err := b.policy(s, label)
	if err != nil {
		return nil, err
	}
	spec := timeSpec{plugin: s.Plugin, name: s.Time}
	fn, err := b.timeFunc(spec, label, pol)
	if err != nil {
		return nil, err
	}
	w := &watermarkStage{fn: fn, spec: spec, delay: s.Delay.D().Milliseconds(), pol: pol}
	b.events().marks = append(b.events().marks, w)
	b.lastMark = w
	return w, nil
}

func (w *watermarkStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	w.lastIn, w.lastTimes = nil, nil
	if len(in) == 0 {
		return in, true, nil
	}
	defer w.pol.flush()
	ts, bad, err := w.fn.times(ctx, in)
	if err != nil {
		return nil, false, err
	}
	if bad != nil { // records without a time were set aside: pass the others
		kept, keptTs := make([]abi.Raw, 0, len(in)), make([]int64, 0, len(in))
		for i, r := range in {
			if !bad[i] {
				kept, keptTs = append(kept, r), append(keptTs, ts[i])
			}
		}
		in, ts = kept, keptTs
	}
	for _, t := range ts {
		if !w.seen || t > w.maxEvent {
			w.maxEvent, w.seen = t, true
		}
	}
	w.lastIn, w.lastTimes = in, ts
	return in, true, nil
}

func (w *watermarkStage) snapshot(dst []byte) []byte {
	dst = append(dst, 0x93)
	dst = abi.AppendBool(dst, w.seen)
	dst = abi.AppendInt(dst, w.maxEvent)
	return abi.AppendInt(dst, w.wm)
}

func (w *watermarkStage) restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil || n != 3 {
		return fmt.Errorf("watermark state: want 3 fields")
	}
	if w.seen, rest, err = abi.ReadBool(rest); err != nil {
		return err
	}
	if w.maxEvent, rest, err = abi.ReadInt(rest); err != nil {
		return err
	}
	w.wm, _, err = abi.ReadInt(rest)
	return err
}

// eventTimes is how a stage after withWatermark gets its rows' event
// times: its own time:, or the withWatermark's, whose times it reuses when
// the batch comes straight from that stage.
type eventTimes struct {
	fn   timeFunc
	spec timeSpec
	mark *watermarkStage // the withWatermark right before, for reuse
}

func (e *eventTimes) times(ctx context.Context, in []abi.Raw) ([]int64, []bool, error) {
	if len(in) == 0 {
		return nil, nil, nil
	}
	if e.mark != nil && len(e.mark.lastIn) == len(in) && &e.mark.lastIn[0] == &in[0] {
		return e.mark.lastTimes, nil, nil
	}
	return e.fn.times(ctx, in)
}

// eventTimes resolves a stage's event times: its time: when given, else
// the upstream withWatermark's. need says why a stage cannot do without.
func (b *builder) eventTimes(s pipeline.Stage, label string, pol *policy, need string) (*eventTimes, error) {
	marks := b.events().marks
	e := &eventTimes{}
	switch {
	case s.Time != "":
		e.spec = timeSpec{plugin: s.Plugin, name: s.Time}
	case len(marks) > 0:
		e.spec = marks[0].spec
		for _, m := range marks[1:] {
			if m.spec.key() != e.spec.key() {
				return nil, fmt.Errorf("%s: the inputs use different event-time functions (%s, %s); name one with time:", label, e.spec.key(), m.spec.key())
			}
		}
		e.mark = b.lastMark
	default:
		return nil, fmt.Errorf("%s needs event times: %s", label, need)
	}
	var err error
	e.fn, err = b.timeFunc(e.spec, label, pol)
	return e, err
}

// ---- output modes ----

type outputMode int

const (
	modeAppend outputMode = iota
	modeUpdate
	modeComplete
)

func parseMode(s, label string, def outputMode) (outputMode, error) {
	switch s {
	case "":
		return def, nil
	case "append":
		return modeAppend, nil
	case "update":
		return modeUpdate, nil
	case "complete":
		return modeComplete, nil
	}
	return 0, fmt.Errorf("%s: outputMode %q: use append, update or complete", label, s)
}
