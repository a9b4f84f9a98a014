package operators

import (
	"context"
	"fmt"
	"sort"

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
	ops["aggregateByWindow"] = buildAggregateByWindow
	ops["aggregateByKey"] = buildAggregateByKey
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

// timeFunc computes event times (ms) for a batch.
type timeFunc interface {
	times(ctx context.Context, in []abi.Raw) ([]int64, error)
}

// guestTime calls a guest map function x -> int ms.
type guestTime struct{ c caller }

func (g *guestTime) times(ctx context.Context, in []abi.Raw) ([]int64, error) {
	res, err := g.c.call(ctx, in)
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(res))
	for i, r := range res {
		if out[i], _, err = abi.ReadInt(r); err != nil {
			return nil, fmt.Errorf("%s: event time of %s: %v (the time function must return integer milliseconds)", g.c.stage, abi.Describe(in[i]), err)
		}
	}
	return out, nil
}

// fieldTime reads an integer field of map records, e.g. the "timestamp" of
// a Kafka record read with ?record=full.
type fieldTime struct{ field, stage string }

func (f fieldTime) times(_ context.Context, in []abi.Raw) ([]int64, error) {
	out := make([]int64, len(in))
	for i, r := range in {
		n, rest, err := abi.MapHeader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: time: %s needs map records, got %s", f.stage, f.field, abi.Describe(r))
		}
		found := false
		for j := 0; j < n && !found; j++ {
			var k string
			if k, rest, err = abi.ReadString(rest); err != nil {
				return nil, err
			}
			if k == f.field {
				if out[i], _, err = abi.ReadInt(rest); err != nil {
					return nil, fmt.Errorf("%s: field %s of %s: %v", f.stage, f.field, abi.Describe(r), err)
				}
				found = true
				break
			}
			if _, rest, err = abi.Next(rest); err != nil {
				return nil, err
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: record %s has no %q field", f.stage, abi.Describe(r), f.field)
		}
	}
	return out, nil
}

// builtinTimes are event-time functions the host provides.
var builtinTimes = map[string]string{"timestamp": "timestamp"}

func (b *builder) timeFunc(plugin, name, label string) (timeFunc, error) {
	if field, ok := builtinTimes[name]; ok {
		return fieldTime{field: field, stage: label}, nil
	}
	f, err := lookup(b.resolve, plugin, name, abi.KindMap, label+" time")
	if err != nil {
		return nil, err
	}
	return &guestTime{c: caller{fn: f, stage: label + " time " + name}}, nil
}

// ---- withWatermark ----

type watermarkStage struct {
	fn       timeFunc
	fnName   string
	delay    int64
	maxEvent int64
	seen     bool
	wm       int64

	// the last batch and its event times, reused by an aggregate right after
	lastIn    []abi.Raw
	lastTimes []int64
}

func buildWithWatermark(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "time", "delay", "plugin"); err != nil {
		return nil, err
	}
	if s.Time == "" {
		return nil, fmt.Errorf("%s needs time: (a map function from a record to its event time in ms, e.g. int-seconds, or the built-in timestamp)", label)
	}
	fn, err := b.timeFunc(s.Plugin, s.Time, label)
	if err != nil {
		return nil, err
	}
	w := &watermarkStage{fn: fn, fnName: s.Plugin + "/" + s.Time, delay: s.Delay.D().Milliseconds()}
	b.events().marks = append(b.events().marks, w)
	b.lastMark = w
	return w, nil
}

func (w *watermarkStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	w.lastIn, w.lastTimes = nil, nil
	if len(in) == 0 {
		return in, true, nil
	}
	ts, err := w.fn.times(ctx, in)
	if err != nil {
		return nil, false, err
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

// ---- aggregates ----

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

// aggValue is one row of an aggregate's result table.
type aggValue struct {
	key     abi.Raw // window [start, end] or grouping key
	start   int64   // window start, for ordering and eviction
	value   abi.Raw
	changed bool
}

// aggTable is an aggregate's state: rows in first-appearance order, found
// by encoded key. Rows are values in one slice, not pointers, so a million
// keys cost a million map entries and no million small allocations for the
// garbage collector to trace.
type aggTable struct {
	index map[string]int32
	rows  []aggValue
}

// get returns the position of key's row, adding the row if it is new.
func (t *aggTable) get(key abi.Raw, start int64) (int32, bool) {
	if t.index == nil {
		t.index = map[string]int32{}
	}
	if i, ok := t.index[string(key)]; ok {
		return i, true
	}
	i := int32(len(t.rows))
	t.rows = append(t.rows, aggValue{key: key, start: start})
	t.index[string(key)] = i
	return i, false
}

// compact keeps the rows for which keep is true.
func (t *aggTable) compact(keep func(*aggValue) bool) {
	out := t.rows[:0]
	for i := range t.rows {
		if keep(&t.rows[i]) {
			out = append(out, t.rows[i])
		} else {
			delete(t.index, string(t.rows[i].key))
		}
	}
	clear(t.rows[len(out):])
	t.rows = out
	for i := range t.rows {
		t.index[string(t.rows[i].key)] = int32(i)
	}
}

// fold merges new values into rows: one reduce call for all rows touched.
func fold(ctx context.Context, r reducer, count bool, t *aggTable, rows []int32, fresh []bool, vals [][]abi.Raw) error {
	groups := make([][]abi.Raw, len(rows))
	for i, ri := range rows {
		row := &t.rows[ri]
		g := vals[i]
		if count {
			n := int64(len(g))
			if !fresh[i] {
				old, _, err := abi.ReadInt(row.value)
				if err != nil {
					return err
				}
				n += old
			}
			row.value, row.changed = abi.AppendInt(nil, n), true
			continue
		}
		if !fresh[i] {
			g = append([]abi.Raw{row.value}, g...)
		}
		groups[i] = g
	}
	if count {
		return nil
	}
	res, err := r.reduce(ctx, groups)
	if err != nil {
		return err
	}
	for i, ri := range rows {
		t.rows[ri].value, t.rows[ri].changed = res[i], true
	}
	return nil
}

type aggregateStage struct {
	label    string
	mode     outputMode
	count    bool
	red      reducer
	clock    *eventClock
	evicts   bool // has a watermark: evict closed rows, drop late ones
	table    aggTable
	windowed bool

	// aggregateByWindow
	window, slide, offset int64
	timeFn                timeFunc
	mark                  *watermarkStage // the withWatermark right before, for reuse
}

func (b *builder) aggregateReducer(s pipeline.Stage, label string) (reducer, bool, error) {
	switch s.Fn {
	case "":
		return nil, false, fmt.Errorf("%s needs fn: (count, sum, min, max or a reduce function)", label)
	case "count":
		return nil, true, nil
	}
	r, err := reducerFor(b.resolve, s.Plugin, s.Fn, label)
	return r, false, err
}

// maxOverlap bounds how many sliding windows one row may fall in.
const maxOverlap = 1000

func buildAggregateByWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin", "window", "slide", "offset", "outputMode", "time"); err != nil {
		return nil, err
	}
	a := &aggregateStage{label: label, clock: b.events(), windowed: true}
	var err error
	if a.red, a.count, err = b.aggregateReducer(s, label); err != nil {
		return nil, err
	}
	a.window, a.slide, a.offset = s.Window.D().Milliseconds(), s.Slide.D().Milliseconds(), s.Offset.D().Milliseconds()
	if a.window <= 0 {
		return nil, fmt.Errorf("%s needs window: (the window length, e.g. 5s)", label)
	}
	if a.slide == 0 {
		a.slide = a.window
	}
	if a.offset >= a.slide {
		return nil, fmt.Errorf("%s: offset %dms must be less than the slide %dms", label, a.offset, a.slide)
	}
	// Every row is copied into window/slide windows: bound it, or a 1h
	// window sliding by 1ms would turn each row into 3.6 million.
	if a.window/a.slide > maxOverlap {
		return nil, fmt.Errorf("%s: window %dms / slide %dms puts every row in %d windows; keep it at most %d (a longer slide or a shorter window)", label, a.window, a.slide, a.window/a.slide, maxOverlap)
	}
	marks := b.events().marks
	switch {
	case s.Time != "":
		if a.timeFn, err = b.timeFunc(s.Plugin, s.Time, label); err != nil {
			return nil, err
		}
	case len(marks) > 0:
		name := marks[0].fnName
		for _, m := range marks[1:] {
			if m.fnName != name {
				return nil, fmt.Errorf("%s: the inputs use different event-time functions; name one with time:", label)
			}
		}
		a.timeFn = marks[0].fn
		a.mark = b.lastMark
	default:
		return nil, fmt.Errorf("%s needs event times: add a withWatermark stage before it, or give time: (a function from a record to ms)", label)
	}
	a.evicts = len(marks) > 0
	if a.mode, err = parseMode(s.OutputMode, label, modeAppend); err != nil {
		return nil, err
	}
	if a.mode == modeAppend && !a.evicts {
		return nil, fmt.Errorf("%s: outputMode append needs a watermark, or no window would ever be final: add {op: withWatermark, time: FN, delay: DURATION} before it, or use outputMode update or complete (Spark rejects this too)", label)
	}
	b.registerAggregate(a)
	return a, nil
}

func buildAggregateByKey(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin", "outputMode"); err != nil {
		return nil, err
	}
	a := &aggregateStage{label: label, clock: b.events()}
	var err error
	if a.red, a.count, err = b.aggregateReducer(s, label); err != nil {
		return nil, err
	}
	if a.mode, err = parseMode(s.OutputMode, label, modeUpdate); err != nil {
		return nil, err
	}
	if a.mode == modeAppend {
		return nil, fmt.Errorf("%s: outputMode append is not possible without windows (no key is ever final): use update or complete", label)
	}
	b.registerAggregate(a)
	return a, nil
}

func (b *builder) registerAggregate(a *aggregateStage) {
	c := b.events()
	c.aggregates++
	if a.evicts && a.mode != modeComplete {
		c.evicting = true
	}
}

// windowsOf lists the starts of the windows that contain event time ts.
func (a *aggregateStage) windowsOf(ts int64) []int64 {
	// the latest start <= ts with start ≡ offset (mod slide)
	last := ts - floorMod(ts-a.offset, a.slide)
	var starts []int64
	for s := last; s > ts-a.window; s -= a.slide {
		starts = append(starts, s)
	}
	// oldest first
	for i, j := 0, len(starts)-1; i < j; i, j = i+1, j-1 {
		starts[i], starts[j] = starts[j], starts[i]
	}
	return starts
}

func floorMod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

func (a *aggregateStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	wm := a.clock.wm
	for i := range a.table.rows {
		a.table.rows[i].changed = false
	}
	var rows []int32
	var fresh []bool
	var vals [][]abi.Raw
	touched := map[int32]int{}
	add := func(row int32, isNew bool, v abi.Raw) {
		i, ok := touched[row]
		if !ok {
			i = len(rows)
			touched[row] = i
			rows, fresh, vals = append(rows, row), append(fresh, isNew), append(vals, nil)
		}
		vals[i] = append(vals[i], v)
	}
	if a.windowed {
		var ts []int64
		if a.mark != nil && len(in) > 0 && len(a.mark.lastIn) == len(in) && &a.mark.lastIn[0] == &in[0] {
			ts = a.mark.lastTimes
		} else if len(in) > 0 {
			var err error
			if ts, err = a.timeFn.times(ctx, in); err != nil {
				return nil, false, err
			}
		}
		for i, r := range in {
			kept := false
			for _, s := range a.windowsOf(ts[i]) {
				if a.evicts && a.mode != modeComplete && s+a.window <= wm {
					continue // this window has closed: late for it
				}
				key := abi.AppendArrayHeader(nil, 2)
				key = abi.AppendInt(key, s)
				key = abi.AppendInt(key, s+a.window)
				row, ok := a.table.get(key, s)
				add(row, !ok, r)
				kept = true
			}
			if !kept {
				a.clock.late = append(a.clock.late, r)
				a.clock.lateTotal++
			}
		}
	} else {
		for i, r := range in {
			k, v, err := abi.SplitPair(r)
			if err != nil {
				return nil, false, fmt.Errorf("%s: record %d: %v", a.label, i, err)
			}
			row, ok := a.table.get(k, 0)
			add(row, !ok, v)
		}
	}
	if len(rows) > 0 {
		if err := fold(ctx, a.red, a.count, &a.table, rows, fresh, vals); err != nil {
			return nil, false, fmt.Errorf("%s: %w", a.label, err)
		}
	}
	// Emit, then evict what the watermark has closed.
	closed := func(row *aggValue) bool { return a.windowed && a.evicts && row.start+a.window <= wm }
	var emit []*aggValue
	evict := false
	for i := range a.table.rows {
		row := &a.table.rows[i]
		switch {
		case a.mode == modeComplete:
			emit = append(emit, row)
		case a.mode == modeUpdate && row.changed:
			emit = append(emit, row)
		case a.mode == modeAppend && closed(row):
			emit = append(emit, row)
		}
		evict = evict || (a.mode != modeComplete && closed(row))
	}
	if a.windowed {
		sort.SliceStable(emit, func(i, j int) bool { return emit[i].start < emit[j].start })
	}
	out := make([]abi.Raw, len(emit))
	for i, row := range emit {
		out[i] = abi.AppendPair(nil, row.key, row.value)
	}
	if evict {
		a.table.compact(func(row *aggValue) bool { return !closed(row) })
	}
	return out, true, nil
}

func (a *aggregateStage) snapshot(dst []byte) []byte {
	dst = abi.AppendArrayHeader(dst, len(a.table.rows))
	for i := range a.table.rows {
		row := &a.table.rows[i]
		dst = append(dst, 0x93)
		dst = append(dst, row.key...)
		dst = abi.AppendInt(dst, row.start)
		dst = append(dst, row.value...)
	}
	return dst
}

// restore loads rows; keys and values alias b, which the caller keeps.
func (a *aggregateStage) restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return err
	}
	a.table = aggTable{index: make(map[string]int32, n), rows: make([]aggValue, 0, n)}
	for i := 0; i < n; i++ {
		var m int
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 3 {
			return fmt.Errorf("aggregate row %d: malformed", i)
		}
		var key, val abi.Raw
		var start int64
		if key, rest, err = abi.Next(rest); err != nil {
			return err
		}
		if start, rest, err = abi.ReadInt(rest); err != nil {
			return err
		}
		if val, rest, err = abi.Next(rest); err != nil {
			return err
		}
		ri, _ := a.table.get(key, start)
		a.table.rows[ri].value = val
	}
	return nil
}
