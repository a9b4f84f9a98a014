package operators

import (
	"context"
	"fmt"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// Windowed operators follow Spark's WindowedDStream and
// ReducedWindowedDStream: a window at time t covers the parent's batches with
// times in (t - window, t]; output exists only at slide times, i.e. when
// (t - zeroTime) is a multiple of the slide; the first windows are partial.

func init() {
	ops["window"] = buildWindow
	ops["groupByKeyAndWindow"] = buildGroupByKeyAndWindow
	ops["reduceByKeyAndWindow"] = buildReduceByKeyAndWindow
	ops["countByWindow"] = buildCountByWindow
	ops["countByValueAndWindow"] = buildCountByValueAndWindow
}

// timing is what a windowed stage knows about time.
type timing struct {
	window, slide int64 // ms
	clock         *graphClock
}

// graphClock holds the graph's zero time: the time before its first batch,
// from which slide times are counted (Spark's zeroTime).
type graphClock struct {
	zero    int64
	started bool
}

func (t timing) isSlideTime(bt int64) bool { return (bt-t.clock.zero)%t.slide == 0 }

// windowTiming validates window: and slide: against the parent's slide and
// makes the new slide the chain's slide.
func (b *builder) windowTiming(s pipeline.Stage, label string) (timing, error) {
	w, sl := s.Window.D().Milliseconds(), s.Slide.D().Milliseconds()
	if w == 0 {
		return timing{}, fmt.Errorf("%s needs window: (a duration, a multiple of the batch interval)", label)
	}
	if sl == 0 {
		sl = b.slide
	}
	if s.Window.D()%1000000 != 0 || s.Slide.D()%1000000 != 0 {
		return timing{}, fmt.Errorf("%s: window and slide must be whole milliseconds", label)
	}
	if w%b.slide != 0 {
		return timing{}, fmt.Errorf("%s: window %s is not a multiple of the parent's interval %dms", label, s.Window.D(), b.slide)
	}
	if sl%b.slide != 0 {
		return timing{}, fmt.Errorf("%s: slide %dms is not a multiple of the parent's interval %dms", label, sl, b.slide)
	}
	b.slide = sl
	return timing{window: w, slide: sl, clock: b.clock}, nil
}

// plainWindow checks a stage that takes only window: and slide:.
func (b *builder) plainWindow(s pipeline.Stage, label string) (timing, error) {
	if err := only(s, label, "window", "slide"); err != nil {
		return timing{}, err
	}
	return b.windowTiming(s, label)
}

// timedBatch is one parent batch kept for a window.
type timedBatch struct {
	t    int64
	recs []abi.Raw
}

// windowBuf keeps the parent batches that can still fall in a window, and
// for one slide longer: the incremental form subtracts them as they leave.
type windowBuf struct {
	timing
	batches []timedBatch
}

func (w *windowBuf) push(t int64, recs []abi.Raw) {
	keep := w.batches[:0]
	for _, b := range w.batches {
		if b.t > t-w.window-w.slide {
			keep = append(keep, b)
		}
	}
	w.batches = append(keep, timedBatch{t: t, recs: recs})
}

// in returns the batches with times in (from, to], oldest first.
func (w *windowBuf) in(from, to int64) []timedBatch {
	var out []timedBatch
	for _, b := range w.batches {
		if b.t > from && b.t <= to {
			out = append(out, b)
		}
	}
	return out
}

func (w *windowBuf) snapshot(dst []byte) []byte {
	dst = abi.AppendArrayHeader(dst, len(w.batches))
	for _, b := range w.batches {
		dst = append(dst, 0x92)
		dst = abi.AppendInt(dst, b.t)
		dst = abi.AppendArray(dst, b.recs)
	}
	return dst
}

func (w *windowBuf) restore(b []byte) ([]byte, error) {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return b, err
	}
	w.batches = nil
	for i := 0; i < n; i++ {
		var m int
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 2 {
			return b, fmt.Errorf("window batch %d: %v", i, err)
		}
		var tb timedBatch
		if tb.t, rest, err = abi.ReadInt(rest); err != nil {
			return b, err
		}
		if tb.recs, rest, err = abi.SplitArray(nil, rest); err != nil {
			return b, err
		}
		w.batches = append(w.batches, tb)
	}
	return rest, nil
}

// ---- window ----

type windowStage struct{ buf windowBuf }

func buildWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	tm, err := b.plainWindow(s, label)
	if err != nil {
		return nil, err
	}
	return &windowStage{buf: windowBuf{timing: tm}}, nil
}

func (w *windowStage) process(_ context.Context, t int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	w.buf.push(t, in)
	if !w.buf.isSlideTime(t) {
		return nil, false, nil
	}
	var out []abi.Raw
	for _, b := range w.buf.in(t-w.buf.window, t) {
		out = append(out, b.recs...)
	}
	return out, true, nil
}

func (w *windowStage) snapshot(dst []byte) []byte { return w.buf.snapshot(dst) }
func (w *windowStage) restore(b []byte) error     { _, err := w.buf.restore(b); return err }

// ---- groupByKeyAndWindow ----

type groupByKeyAndWindowStage struct {
	buf   windowBuf
	label string
}

func buildGroupByKeyAndWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	tm, err := b.plainWindow(s, label)
	if err != nil {
		return nil, err
	}
	return &groupByKeyAndWindowStage{buf: windowBuf{timing: tm}, label: label}, nil
}

func (g *groupByKeyAndWindowStage) process(_ context.Context, t int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	for i, r := range in { // reject bad records in the batch they arrive in
		if _, _, err := abi.SplitPair(r); err != nil {
			return nil, false, fmt.Errorf("%s: record %d: %v", g.label, i, err)
		}
	}
	g.buf.push(t, in)
	if !g.buf.isSlideTime(t) {
		return nil, false, nil
	}
	var all []abi.Raw
	for _, b := range g.buf.in(t-g.buf.window, t) {
		all = append(all, b.recs...)
	}
	grp, err := groupPairs(all, g.label)
	if err != nil {
		return nil, false, err
	}
	vals := make([]abi.Raw, len(grp.keys))
	for i, vs := range grp.vals {
		vals[i] = abi.AppendArray(nil, vs)
	}
	return pairs(grp.keys, vals), true, nil
}

func (g *groupByKeyAndWindowStage) snapshot(dst []byte) []byte { return g.buf.snapshot(dst) }
func (g *groupByKeyAndWindowStage) restore(b []byte) error {
	_, err := g.buf.restore(b)
	return err
}

// ---- reduceByKeyAndWindow and the counts built on it ----

// keyedWindowStage reduces [k, v] pairs over a window. Each parent batch is
// reduced by key when it arrives (one call), and kept reduced. Without an
// inverse, a slide time reduces the window's per-batch values (one call).
// With an inverse, it updates the previous window's result: the values that
// left are removed with the inverse and the new ones added, so a key whose
// value falls to zero stays (as in Spark) unless a filter drops it.
type keyedWindowStage struct {
	buf     windowBuf // per-batch reduced pairs
	reduce  reducer
	inverse reducer                          // nil: naive form
	filter  *caller                          // optional, with inverse only
	keep    func(k, v abi.Raw) (bool, error) // built-in filter, for countByValueAndWindow
	label   string
	mapOut  func(pairs []abi.Raw) []abi.Raw // final shaping (countByWindow drops the key)
	mapIn   func(in []abi.Raw) ([]abi.Raw, error)

	prev     grouping // previous window's result (one value per key)
	prevTime int64
	hasPrev  bool
}

func buildReduceByKeyAndWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin", "inverse", "filter", "window", "slide"); err != nil {
		return nil, err
	}
	red, err := reducerFor(b.resolve, s.Plugin, s.Fn, label)
	if err != nil {
		return nil, err
	}
	k := &keyedWindowStage{reduce: red, label: label}
	if s.Inverse != "" {
		f, err := lookup(b.resolve, s.Plugin, s.Inverse, abi.KindReduce, label+" inverse")
		if err != nil {
			return nil, err
		}
		k.inverse = &guestReducer{c: caller{fn: f, stage: label + " inverse " + s.Inverse}}
	}
	if s.Filter != "" {
		if s.Inverse == "" {
			return nil, fmt.Errorf("%s: filter: applies only with inverse: (as in Spark's reduceByKeyAndWindow)", label)
		}
		f, err := lookup(b.resolve, s.Plugin, s.Filter, abi.KindFilter, label+" filter")
		if err != nil {
			return nil, err
		}
		k.filter = &caller{fn: f, stage: label + " filter " + s.Filter}
	}
	tm, err := b.windowTiming(s, label)
	if err != nil {
		return nil, err
	}
	k.buf = windowBuf{timing: tm}
	return k, nil
}

// countByWindow is Spark's map(_ => 1L).reduceByWindow(_ + _, _ - _): the
// count of the window, which stays (possibly 0) once data has been seen.
func buildCountByWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	tm, err := b.plainWindow(s, label)
	if err != nil {
		return nil, err
	}
	one := abi.AppendInt(nil, 1)
	nilKey := abi.Raw{0xc0}
	return &keyedWindowStage{
		buf: windowBuf{timing: tm}, reduce: builtins["sum"], inverse: difference{}, label: label,
		mapIn: func(in []abi.Raw) ([]abi.Raw, error) {
			out := make([]abi.Raw, len(in))
			p := abi.AppendPair(nil, nilKey, one)
			for i := range in {
				out[i] = p
			}
			return out, nil
		},
		mapOut: func(ps []abi.Raw) []abi.Raw {
			for i, p := range ps {
				_, v, _ := abi.SplitPair(p)
				ps[i] = v
			}
			return ps
		},
	}, nil
}

// countByValueAndWindow is Spark's map((_, 1L)).reduceByKeyAndWindow(_ + _,
// _ - _, ..., filter = count != 0).
func buildCountByValueAndWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	tm, err := b.plainWindow(s, label)
	if err != nil {
		return nil, err
	}
	one := abi.AppendInt(nil, 1)
	return &keyedWindowStage{
		buf: windowBuf{timing: tm}, reduce: builtins["sum"], inverse: difference{}, label: label,
		mapIn: func(in []abi.Raw) ([]abi.Raw, error) {
			size := 0
			for _, r := range in {
				size += len(r) + 2
			}
			buf := make([]byte, 0, size) // one allocation for the batch, not one per record
			out := make([]abi.Raw, len(in))
			for i, r := range in {
				start := len(buf)
				buf = abi.AppendPair(buf, r, one)
				out[i] = buf[start:len(buf):len(buf)]
			}
			return out, nil
		},
		keep: func(_, v abi.Raw) (bool, error) {
			n, _, err := abi.ReadInt(v)
			return n != 0, err
		},
	}, nil
}

func (k *keyedWindowStage) process(ctx context.Context, t int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	if k.mapIn != nil {
		var err error
		if in, err = k.mapIn(in); err != nil {
			return nil, false, err
		}
	}
	g, err := groupPairs(in, k.label)
	if err != nil {
		return nil, false, err
	}
	red, err := k.reduce.reduce(ctx, g.vals)
	if err != nil {
		return nil, false, err
	}
	k.buf.push(t, pairs(g.keys, red))
	if !k.buf.isSlideTime(t) {
		return nil, false, nil
	}
	var out []abi.Raw
	if k.inverse == nil {
		out, err = k.naive(ctx, t)
	} else {
		out, err = k.incremental(ctx, t)
	}
	if err != nil {
		return nil, false, err
	}
	if k.mapOut != nil {
		out = k.mapOut(out)
	}
	return out, true, nil
}

// naive reduces every per-batch value in the window.
func (k *keyedWindowStage) naive(ctx context.Context, t int64) ([]abi.Raw, error) {
	var all []abi.Raw
	for _, b := range k.buf.in(t-k.buf.window, t) {
		all = append(all, b.recs...)
	}
	g, err := groupPairs(all, k.label)
	if err != nil {
		return nil, err
	}
	red, err := k.reduce.reduce(ctx, g.vals)
	if err != nil {
		return nil, err
	}
	return pairs(g.keys, red), nil
}

// incremental follows ReducedWindowedDStream.compute: new = reduce(invReduce(
// prev, reduce(old values)), reduce(new values)).
func (k *keyedWindowStage) incremental(ctx context.Context, t int64) ([]abi.Raw, error) {
	w, sl := k.buf.window, k.buf.slide
	var old, nw []timedBatch
	if k.hasPrev && k.prevTime == t-sl {
		old = k.buf.in(t-sl-w, t-w)
		nw = k.buf.in(t-sl, t)
	} else { // first window (or a gap): everything in the window is new
		k.prev = grouping{}
		nw = k.buf.in(t-w, t)
	}
	oldG, err := groupBatches(old, k.label)
	if err != nil {
		return nil, err
	}
	newG, err := groupBatches(nw, k.label)
	if err != nil {
		return nil, err
	}
	oldR, err := k.reduce.reduce(ctx, oldG.vals)
	if err != nil {
		return nil, err
	}
	newR, err := k.reduce.reduce(ctx, newG.vals)
	if err != nil {
		return nil, err
	}
	// Keys: the previous window's, then new ones in order of appearance.
	keys := append([]abi.Raw(nil), k.prev.keys...)
	for _, key := range newG.keys {
		if _, ok := k.prev.index[string(key)]; !ok {
			keys = append(keys, key)
		}
	}
	vals := make([]abi.Raw, len(keys))
	var invGroups, addGroups [][]abi.Raw
	var invIdx, addIdx []int
	for i, key := range keys {
		pi, inPrev := k.prev.index[string(key)]
		oi, inOld := oldG.index[string(key)]
		_, inNew := newG.index[string(key)]
		if !inPrev { // a new key: only new values exist
			vals[i] = newR[newG.index[string(key)]]
			continue
		}
		vals[i] = k.prev.vals[pi][0]
		if inOld {
			invGroups = append(invGroups, []abi.Raw{vals[i], oldR[oi]})
			invIdx = append(invIdx, i)
		}
		if inNew {
			addIdx = append(addIdx, i)
		}
	}
	if len(invGroups) > 0 {
		res, err := k.inverse.reduce(ctx, invGroups)
		if err != nil {
			return nil, err
		}
		for j, i := range invIdx {
			vals[i] = res[j]
		}
	}
	for _, i := range addIdx {
		addGroups = append(addGroups, []abi.Raw{vals[i], newR[newG.index[string(keys[i])]]})
	}
	if len(addGroups) > 0 {
		res, err := k.reduce.reduce(ctx, addGroups)
		if err != nil {
			return nil, err
		}
		for j, i := range addIdx {
			vals[i] = res[j]
		}
	}
	out := pairs(keys, vals)
	keepKeys, keepVals := keys[:0:0], vals[:0:0]
	var kept []abi.Raw
	var verdict []abi.Raw
	if k.filter != nil {
		if verdict, err = k.filter.call(ctx, out); err != nil {
			return nil, err
		}
	}
	for i := range out {
		if vals[i] == nil {
			continue
		}
		ok := true
		switch {
		case k.filter != nil:
			if ok, _, err = abi.ReadBool(verdict[i]); err != nil {
				return nil, fmt.Errorf("%s: filter result for %s: %v", k.label, abi.Describe(out[i]), err)
			}
		case k.keep != nil:
			if ok, err = k.keep(keys[i], vals[i]); err != nil {
				return nil, err
			}
		}
		if ok {
			kept = append(kept, out[i])
			keepKeys, keepVals = append(keepKeys, keys[i]), append(keepVals, vals[i])
		}
	}
	k.prev = grouping{}
	for i := range keepKeys {
		k.prev.add(keepKeys[i], keepVals[i])
	}
	k.prevTime, k.hasPrev = t, true
	return kept, nil
}

// groupBatches groups the pairs of several batches by key, in time order.
func groupBatches(bs []timedBatch, label string) (*grouping, error) {
	var all []abi.Raw
	for _, b := range bs {
		all = append(all, b.recs...)
	}
	return groupPairs(all, label)
}

func (k *keyedWindowStage) snapshot(dst []byte) []byte {
	dst = append(dst, 0x93)
	dst = k.buf.snapshot(dst)
	dst = abi.AppendInt(dst, k.prevTime)
	if !k.hasPrev {
		return append(dst, 0xc0)
	}
	vals := make([]abi.Raw, len(k.prev.keys))
	for i := range vals {
		vals[i] = k.prev.vals[i][0]
	}
	return abi.AppendArray(dst, pairs(k.prev.keys, vals))
}

func (k *keyedWindowStage) restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil || n != 3 {
		return fmt.Errorf("window state: want 3 fields")
	}
	if rest, err = k.buf.restore(rest); err != nil {
		return err
	}
	if k.prevTime, rest, err = abi.ReadInt(rest); err != nil {
		return err
	}
	k.prev, k.hasPrev = grouping{}, false
	if abi.IsNil(rest) {
		return nil
	}
	ps, _, err := abi.SplitArray(nil, rest)
	if err != nil {
		return err
	}
	for _, p := range ps {
		key, v, err := abi.SplitPair(p)
		if err != nil {
			return err
		}
		k.prev.add(key, v)
	}
	k.hasPrev = true
	return nil
}

// difference is the host-side inverse of sum, used by the window counts.
type difference struct{}

func (difference) reduce(_ context.Context, groups [][]abi.Raw) ([]abi.Raw, error) {
	out := make([]abi.Raw, len(groups))
	for i, g := range groups {
		acc, _, err := abi.ReadInt(g[0])
		if err != nil {
			return nil, err
		}
		for _, v := range g[1:] {
			n, _, err := abi.ReadInt(v)
			if err != nil {
				return nil, err
			}
			acc -= n
		}
		out[i] = abi.AppendInt(nil, acc)
	}
	return out, nil
}
