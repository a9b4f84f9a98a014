package operators

import (
	"context"
	"fmt"
	"slices"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// aggregateByWindow and aggregateByKey are Structured Streaming's
// groupBy(window(time, ...), key).agg(fn) and groupBy(key).agg(fn). With a
// built-in fn and key:/value: paths the whole stage runs in the host: each
// row is read where it lies in its record, keys are compared as encoded
// bytes, and each (window, key) keeps a running count, sum, min or max, so
// no row costs a guest call or a decoded record. A guest reduce function
// folds all the (window, key) groups a trigger touched in one call.

func init() {
	ops["aggregateByWindow"] = buildAggregateByWindow
	ops["aggregateByKey"] = buildAggregateByKey
}

// aggFn is what an aggregate computes.
type aggFn int

const (
	fnCount aggFn = iota // rows (Spark's count(*)): value: is not read
	fnSum                // ints stay ints, any float makes a float; nulls are skipped
	fnAvg                // a float; nulls are skipped
	fnMin                // numbers numerically, strings by bytes; nulls are skipped
	fnMax
	fnGuest // a guest reduce function
)

var aggFns = map[string]aggFn{"count": fnCount, "sum": fnSum, "avg": fnAvg, "min": fnMin, "max": fnMax}

// acc is a row's running aggregate for the built-ins. It holds no pointer,
// so a table of millions of rows is nothing for the garbage collector to
// trace; min, max and guest values live beside it (winTable.vals).
type acc struct {
	n     int64   // rows (count) or non-null values (the others)
	i     int64   // integer sum
	f     float64 // float sum, once any value is a float
	float bool
}

// add adds a number to the sum: ints stay ints (wrapping on overflow, like
// the JVM's Long) until a float makes the sum a float.
func (c *acc) add(v abi.Raw) error {
	i, f, isF, err := number(v)
	if err != nil {
		return err
	}
	switch {
	case isF:
		if !c.float {
			c.f, c.float = float64(c.i), true
		}
		c.f += f
	case c.float:
		c.f += float64(i)
	default:
		c.i += i
	}
	return nil
}

// aggRow is one (window, key) of a table.
type aggRow struct {
	key     uint32 // in keyIDs
	changed bool   // in this trigger
	acc     acc
}

// winTable holds one window's rows (aggregateByKey has one table), in the
// order their keys first appeared.
type winTable struct {
	start   int64
	rows    []aggRow
	vals    []abi.Raw // min, max, guest: each row's value (own copies)
	touched []int32   // rows changed in this trigger, in order of change
}

// keyIDs interns grouping keys: each distinct encoded key gets a small
// number, so tables index rows by a number and a key's bytes are stored
// once however many windows it is in. refs counts the rows that use a key;
// a key no row uses is forgotten and its number reused.
type keyIDs struct {
	ids  map[string]uint32
	keys []abi.Raw
	refs []int32
	free []uint32
}

func (k *keyIDs) lookup(key abi.Raw) (uint32, bool) {
	id, ok := k.ids[string(key)]
	return id, ok
}

// add interns a key that is not known yet, with one reference.
func (k *keyIDs) add(key abi.Raw) uint32 {
	if k.ids == nil {
		k.ids = map[string]uint32{}
	}
	own := append(abi.Raw(nil), key...)
	var id uint32
	if n := len(k.free); n > 0 {
		id, k.free = k.free[n-1], k.free[:n-1]
		k.keys[id], k.refs[id] = own, 1
	} else {
		id = uint32(len(k.keys))
		k.keys, k.refs = append(k.keys, own), append(k.refs, 1)
	}
	k.ids[string(own)] = id
	return id
}

func (k *keyIDs) unref(id uint32) {
	if k.refs[id]--; k.refs[id] == 0 {
		k.forget(id)
	}
}

// unref1 forgets a key interned with no reference (all its rows late).
func (k *keyIDs) unref1(id uint32) { k.forget(id) }

func (k *keyIDs) forget(id uint32) {
	delete(k.ids, string(k.keys[id]))
	k.keys[id] = nil
	k.free = append(k.free, id)
}

// grouped is what the aggregates share: the function, and how a record's
// key and value are read.
type grouped struct {
	fn    aggFn
	red   reducer // fnGuest
	pol   *policy
	key   *keyer // nil: no key (a window's rows are one group), or pairs
	value *field // nil: the whole record, or the pair's value
	pairs bool   // aggregateByKey without key: records are [k, v]
}

type aggregateStage struct {
	grouped
	label  string
	mode   outputMode
	clock  *eventClock
	evicts bool // has a watermark: evict closed windows, drop late rows

	windowed              bool
	window, slide, offset int64
	times                 *eventTimes
	// byTime: aggregateByKey whose key holds the event time; each event
	// time has its table, closed when the watermark reaches it.
	byTime bool

	keys    keyIDs
	spans   []keySpan // by key id
	wins    map[int64]*winTable
	touched []*winTable // update mode: tables with rows changed in this trigger
}

// keySpan finds a key's rows: rows[i] is its row in the window that starts
// at first + i×slide, or -1. A row falls in window/slide windows, which are
// adjacent, so its key is found once and each of its windows is one index
// away, with no lookup per window.
type keySpan struct {
	first int64
	rows  []int32
}

// noKey is the one key of an aggregate without key:.
var noKey = abi.Raw{0xc0}

func (b *builder) grouped(s pipeline.Stage, label string, a *grouped) error {
	var err error
	if a.pol, err = b.policy(s, label); err != nil {
		return err
	}
	switch f, ok := aggFns[s.Fn]; {
	case s.Fn == "":
		return fmt.Errorf("%s needs fn: (count, sum, avg, min, max or a reduce function)", label)
	case ok:
		a.fn = f
	default:
		a.fn = fnGuest
		if a.red, err = reducerFor(b.resolve, s.Plugin, s.Fn, label); err != nil {
			return err
		}
	}
	if len(s.Key) > 0 {
		if a.key, err = b.keyer(s, label, a.pol); err != nil {
			return err
		}
	}
	if s.Value != "" && a.fn != fnCount {
		if a.value, err = b.field(s, s.Value, "value", label, a.pol); err != nil {
			return err
		}
	}
	return nil
}

// maxOverlap bounds how many sliding windows one row may fall in.
const maxOverlap = 1000

func buildAggregateByWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin", "window", "slide", "offset", "outputMode", "time", "key", "value", "onError"); err != nil {
		return nil, err
	}
	a := &aggregateStage{label: label, clock: b.events(), windowed: true, wins: map[int64]*winTable{}}
	if err := b.grouped(s, label, &a.grouped); err != nil {
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
	var err error
	if a.times, err = b.eventTimes(s, label, a.pol, "add a withWatermark stage before it, or give time: (a path such as .ts, or a function from a record to ms)"); err != nil {
		return nil, err
	}
	a.evicts = len(b.events().marks) > 0
	if a.mode, err = parseMode(s.OutputMode, label, modeAppend); err != nil {
		return nil, err
	}
	if a.mode == modeAppend && !a.evicts {
		return nil, fmt.Errorf("%s: outputMode append needs a watermark, or no window would ever be final: add {op: withWatermark, time: FN, delay: DURATION} before it, or use outputMode update or complete (Spark rejects this too)", label)
	}
	b.registerAggregate(a.evicts && a.mode != modeComplete)
	return a, nil
}

func buildAggregateByKey(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin", "outputMode", "key", "value", "onError"); err != nil {
		return nil, err
	}
	a := &aggregateStage{label: label, clock: b.events(), wins: map[int64]*winTable{}}
	if err := b.grouped(s, label, &a.grouped); err != nil {
		return nil, err
	}
	a.pairs = a.key == nil
	var err error
	if a.mode, err = parseMode(s.OutputMode, label, modeUpdate); err != nil {
		return nil, err
	}
	// A key that holds the event time (Spark's groupBy($"eventTime")) is
	// final once the watermark passes that time: such a group is evicted,
	// and emitted in append mode, like a window.
	if marks := b.events().marks; len(marks) > 0 && a.key != nil {
		t, err := b.eventTimes(s, label, a.pol, "")
		if err != nil {
			return nil, err
		}
		for _, f := range a.key.fields {
			if f.spec == t.spec.key() {
				a.byTime, a.times, a.evicts = true, t, true
			}
		}
	}
	if a.mode == modeAppend && !a.byTime {
		return nil, fmt.Errorf("%s: outputMode append is not possible without windows (no key is ever final): use update or complete, or group by a key that holds the withWatermark's event time", label)
	}
	b.registerAggregate(a.byTime && a.mode != modeComplete)
	return a, nil
}

// registerAggregate counts an aggregate on the event clock; evicting says
// a move of the watermark lets it emit or evict, which a no-data trigger
// then does at once.
func (b *builder) registerAggregate(evicting bool) {
	c := b.events()
	c.aggregates++
	c.evicting = c.evicting || evicting
}

// windowsOf calls f with the start of each window that contains event time
// ts, oldest first.
func (a *aggregateStage) windowsOf(ts int64, f func(start int64)) {
	// the latest start <= ts with start ≡ offset (mod slide)
	last := ts - floorMod(ts-a.offset, a.slide)
	first := last
	for first-a.slide > ts-a.window {
		first -= a.slide
	}
	for s := first; s <= last; s += a.slide {
		f(s)
	}
}

func floorMod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

// table returns the table of the window starting at start, making it.
func (a *aggregateStage) table(start int64) *winTable {
	w := a.wins[start]
	if w == nil {
		w = &winTable{start: start}
		if a.fn >= fnMin {
			w.vals = []abi.Raw{}
		}
		a.wins[start] = w
	}
	return w
}

// keyID returns the id of a key, interning it (with no reference yet) if
// it is new.
func (a *aggregateStage) keyID(key abi.Raw) uint32 {
	if id, ok := a.keys.lookup(key); ok {
		return id
	}
	id := a.keys.add(key)
	a.keys.refs[id] = 0
	for int(id) >= len(a.spans) {
		a.spans = append(a.spans, keySpan{})
	}
	return id
}

// row returns the row of key id in w, making it if new.
func (a *aggregateStage) row(w *winTable, id uint32) int32 {
	sp := &a.spans[id]
	step := max(a.slide, 1)
	i := (w.start - sp.first) / step
	if len(sp.rows) > 0 && w.start >= sp.first && int(i) < len(sp.rows) && sp.rows[i] >= 0 {
		return sp.rows[i]
	}
	switch {
	case len(sp.rows) == 0:
		sp.first, i = w.start, 0
		sp.rows = append(sp.rows, -1)
	case w.start < sp.first: // an earlier window: grow at the front
		n := int((sp.first - w.start) / step)
		sp.rows = append(make([]int32, n, n+len(sp.rows)), sp.rows...)
		for j := range n {
			sp.rows[j] = -1
		}
		sp.first, i = w.start, 0
	default:
		for int(i) >= len(sp.rows) {
			sp.rows = append(sp.rows, -1)
		}
	}
	ri := int32(len(w.rows))
	w.rows = append(w.rows, aggRow{key: id})
	if w.vals != nil {
		w.vals = append(w.vals, nil)
	}
	sp.rows[i] = ri
	a.keys.refs[id]++
	return ri
}

// dropRow forgets a row of an evicted window in its key's span, and the
// key once no row uses it.
func (a *aggregateStage) dropRow(w *winTable, id uint32) {
	sp := &a.spans[id]
	i := int((w.start - sp.first) / max(a.slide, 1))
	sp.rows[i] = -1
	lead := 0
	for lead < len(sp.rows) && sp.rows[lead] < 0 {
		lead++
	}
	if lead == len(sp.rows) {
		sp.rows = sp.rows[:0]
	} else if lead > 0 {
		sp.rows = append(sp.rows[:0], sp.rows[lead:]...)
		sp.first += int64(lead) * max(a.slide, 1)
	}
	a.keys.unref(id)
}

// touch marks a row changed in this trigger, for update mode.
func (a *aggregateStage) touch(w *winTable, ri int32) {
	if a.mode != modeUpdate || w.rows[ri].changed {
		return
	}
	if len(w.touched) == 0 {
		a.touched = append(a.touched, w)
	}
	w.rows[ri].changed = true
	w.touched = append(w.touched, ri)
}

// checkValue rejects, before any state changes, a value the built-in
// cannot fold.
func (a *grouped) checkValue(v abi.Raw) string {
	t := abi.TypeOf(v)
	switch a.fn {
	case fnSum, fnAvg:
		if t != abi.TypeInt && t != abi.TypeFloat && t != abi.TypeNil {
			return fmt.Sprintf("%s cannot add %s: it takes numbers (nulls are skipped); point value: at a number", fnName(a.fn), abi.Describe(v))
		}
	case fnMin, fnMax:
		if t != abi.TypeInt && t != abi.TypeFloat && t != abi.TypeString && t != abi.TypeNil {
			return fmt.Sprintf("%s cannot order %s: it takes numbers or strings (nulls are skipped)", fnName(a.fn), abi.Describe(v))
		}
	}
	return ""
}

func fnName(f aggFn) string {
	for n, g := range aggFns {
		if g == f {
			return n
		}
	}
	return "reduce"
}

// fold adds one value to a row with a built-in.
func (a *aggregateStage) fold(w *winTable, ri int32, v abi.Raw) error {
	var val *abi.Raw
	if w.vals != nil {
		val = &w.vals[ri]
	}
	return foldValue(a.fn, &w.rows[ri].acc, val, v)
}

// foldValue adds one value to a running built-in aggregate: c, and val for
// min and max. It fails only for min and max, on a value that does not
// compare with the one held (a string and a number, NaN).
func foldValue(fn aggFn, c *acc, val *abi.Raw, v abi.Raw) error {
	if fn == fnCount {
		c.n++
		return nil
	}
	if abi.IsNil(v) {
		return nil
	}
	switch fn {
	case fnSum, fnAvg:
		if err := c.add(v); err != nil {
			return err
		}
		c.n++
	case fnMin, fnMax:
		if *val == nil {
			if _, err := compare(v, v); err != nil {
				return err
			}
		} else {
			d, err := compare(v, *val)
			if err != nil {
				return err
			}
			if (fn == fnMax && d <= 0) || (fn == fnMin && d >= 0) {
				return nil
			}
		}
		*val = append((*val)[:0:0], v...)
		c.n++
	}
	return nil
}

// mergeAcc merges another running aggregate of the same built-in into c
// (sessions that merge).
func mergeAcc(fn aggFn, c *acc, val *abi.Raw, o acc, oval abi.Raw) error {
	switch fn {
	case fnCount:
		c.n += o.n
	case fnSum, fnAvg:
		switch {
		case o.n == 0:
		case c.float || o.float:
			cf, of := c.f, o.f
			if !c.float {
				cf = float64(c.i)
			}
			if !o.float {
				of = float64(o.i)
			}
			c.f, c.float = cf+of, true
			c.n += o.n
		default:
			c.i += o.i
			c.n += o.n
		}
	case fnMin, fnMax:
		if oval != nil {
			n := c.n
			if err := foldValue(fn, c, val, oval); err != nil {
				return err
			}
			c.n = n + o.n
		}
	}
	return nil
}

// appendValue encodes a row's result.
func (a *aggregateStage) appendValue(dst []byte, w *winTable, ri int32) []byte {
	var val abi.Raw
	if w.vals != nil {
		val = w.vals[ri]
	}
	return appendAcc(dst, a.fn, w.rows[ri].acc, val)
}

// appendAcc encodes a running aggregate's result: count an int; sum an int,
// or a float once any value was; avg a float; min, max and guest functions
// the value held. A sum, avg, min or max of nulls only is null, as in
// Spark.
func appendAcc(dst []byte, fn aggFn, c acc, val abi.Raw) []byte {
	switch fn {
	case fnCount:
		return abi.AppendInt(dst, c.n)
	case fnSum:
		switch {
		case c.n == 0:
			return abi.AppendNil(dst)
		case c.float:
			return abi.AppendFloat(dst, c.f)
		}
		return abi.AppendInt(dst, c.i)
	case fnAvg:
		if c.n == 0 {
			return abi.AppendNil(dst)
		}
		sum := float64(c.i)
		if c.float {
			sum = c.f
		}
		return abi.AppendFloat(dst, sum/float64(c.n))
	}
	if val != nil {
		return append(dst, val...)
	}
	return abi.AppendNil(dst)
}

// appendRecord encodes a row as the stage emits it: [key, value],
// [[start, end], value] or [[[start, end], key], value].
func (a *aggregateStage) appendRecord(dst []byte, w *winTable, ri int32) []byte {
	dst = abi.AppendArrayHeader(dst, 2)
	if a.windowed {
		if a.key != nil {
			dst = abi.AppendArrayHeader(dst, 2)
		}
		dst = abi.AppendArrayHeader(dst, 2)
		dst = abi.AppendInt(dst, w.start)
		dst = abi.AppendInt(dst, w.start+a.window)
	}
	if !a.windowed || a.key != nil {
		dst = append(dst, a.keys.keys[w.rows[ri].key]...)
	}
	return a.appendValue(dst, w, ri)
}

// inputs reads a batch's keys and values; a record whose key or value the
// policy set aside has a nil key.
func (a *grouped) inputs(ctx context.Context, in []abi.Raw) (keys, vals []abi.Raw, err error) {
	keys = make([]abi.Raw, len(in))
	switch {
	case a.key != nil:
		if keys, err = a.key.keys(ctx, in, a.pol); err != nil {
			return nil, nil, err
		}
	case a.pairs:
		vals = make([]abi.Raw, len(in))
		for i, r := range in {
			k, v, err := abi.SplitPair(r)
			if err != nil {
				if err := a.pol.reject(r, "not a [key, value] pair (aggregateByKey without key: groups pairs; give key: to group other records)"); err != nil {
					return nil, nil, err
				}
				continue
			}
			keys[i], vals[i] = k, v
		}
	default:
		for i := range keys {
			keys[i] = noKey
		}
	}
	switch {
	case a.fn == fnCount:
		return keys, nil, nil
	case a.value != nil:
		var skip []bool
		for i, k := range keys {
			if k == nil {
				if skip == nil {
					skip = make([]bool, len(in))
				}
				skip[i] = true
			}
		}
		if vals, err = a.value.values(ctx, in, a.pol, skip); err != nil {
			return nil, nil, err
		}
	case !a.pairs:
		vals = in
	}
	if a.fn == fnGuest {
		return keys, vals, nil
	}
	for i, v := range vals {
		if keys[i] == nil {
			continue
		}
		if v == nil {
			keys[i] = nil
			continue
		}
		if msg := a.checkValue(v); msg != "" {
			if err := a.pol.reject(in[i], "value: "+msg); err != nil {
				return nil, nil, err
			}
			keys[i] = nil
		}
	}
	return keys, vals, nil
}

// guestFold is what a trigger gives a guest reduce function: for each row
// touched, its new values.
type guestFold struct {
	w    *winTable
	ri   int32
	vals []abi.Raw
}

func (a *aggregateStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer a.pol.flush()
	wm := a.clock.wm
	for _, w := range a.touched {
		for _, ri := range w.touched {
			w.rows[ri].changed = false
		}
		w.touched = w.touched[:0]
	}
	a.touched = a.touched[:0]

	keys, vals, err := a.inputs(ctx, in)
	if err != nil {
		return nil, false, err
	}
	var ts []int64
	var bad []bool
	if a.times != nil {
		if ts, bad, err = a.times.times(ctx, in); err != nil {
			return nil, false, err
		}
	}
	var folds []guestFold
	var foldAt map[[2]int64]int // (window start, row) -> folds index
	add := func(w *winTable, ri int32, v abi.Raw) error {
		a.touch(w, ri)
		if a.fn != fnGuest {
			return a.fold(w, ri, v)
		}
		if foldAt == nil {
			foldAt = map[[2]int64]int{}
		}
		at := [2]int64{w.start, int64(ri)}
		j, ok := foldAt[at]
		if !ok {
			j = len(folds)
			foldAt[at] = j
			folds = append(folds, guestFold{w: w, ri: ri})
		}
		folds[j].vals = append(folds[j].vals, v)
		return nil
	}
	for i, r := range in {
		k := keys[i]
		if k == nil || bad != nil && bad[i] {
			continue
		}
		var v abi.Raw
		if vals != nil {
			v = vals[i]
		}
		if !a.windowed {
			start := int64(0)
			if a.byTime {
				if start = ts[i]; a.mode != modeComplete && start <= wm {
					a.clock.late = append(a.clock.late, r)
					a.clock.lateTotal++
					continue
				}
			}
			w := a.table(start)
			if err := add(w, a.row(w, a.keyID(k)), v); err != nil {
				if err := a.pol.reject(r, "value: "+err.Error()); err != nil {
					return nil, false, err
				}
			}
			continue
		}
		id := a.keyID(k)
		kept := false
		var ferr error
		a.windowsOf(ts[i], func(s int64) {
			if ferr != nil || a.evicts && a.mode != modeComplete && s+a.window <= wm {
				return // this window has closed: late for it
			}
			w := a.table(s)
			ferr = add(w, a.row(w, id), v)
			kept = true
		})
		if ferr != nil {
			if err := a.pol.reject(r, "value: "+ferr.Error()); err != nil {
				return nil, false, err
			}
			continue
		}
		if !kept {
			a.clock.late = append(a.clock.late, r)
			a.clock.lateTotal++
			if a.keys.refs[id] == 0 { // interned for nothing
				a.keys.unref1(id)
			}
		}
	}
	if len(folds) > 0 {
		if err := a.guestFold(ctx, folds); err != nil {
			return nil, false, err
		}
	}
	return a.emit(wm), true, nil
}

// guestFold reduces each touched row's old value and new values in one
// guest call for all of them.
func (a *aggregateStage) guestFold(ctx context.Context, folds []guestFold) error {
	groups := make([][]abi.Raw, len(folds))
	for j, f := range folds {
		if old := f.w.vals[f.ri]; old != nil {
			groups[j] = append([]abi.Raw{old}, f.vals...)
		} else {
			groups[j] = f.vals
		}
	}
	res, err := a.red.reduce(ctx, groups)
	if err != nil {
		return fmt.Errorf("%s: %w", a.label, err)
	}
	for j, f := range folds {
		f.w.vals[f.ri] = append(abi.Raw(nil), res[j]...)
		f.w.rows[f.ri].acc.n += int64(len(f.vals))
	}
	return nil
}

// emit encodes what the output mode emits, then evicts the windows the
// watermark has closed.
func (a *aggregateStage) emit(wm int64) []abi.Raw {
	closed := func(w *winTable) bool {
		return a.evicts && (a.windowed && w.start+a.window <= wm || a.byTime && w.start <= wm)
	}
	var out []abi.Raw
	var buf []byte
	put := func(w *winTable, ri int32) {
		start := len(buf)
		buf = a.appendRecord(buf, w, ri)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	starts := make([]int64, 0, len(a.wins))
	for s := range a.wins {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	for _, s := range starts {
		w := a.wins[s]
		switch {
		case a.mode == modeComplete, a.mode == modeAppend && closed(w):
			for ri := range w.rows {
				put(w, int32(ri))
			}
		case a.mode == modeUpdate && len(w.touched) > 0:
			rows := slices.Clone(w.touched)
			slices.Sort(rows)
			for _, ri := range rows {
				put(w, ri)
			}
		}
	}
	if a.mode != modeComplete {
		for _, s := range starts {
			if w := a.wins[s]; closed(w) {
				for _, r := range w.rows {
					a.dropRow(w, r.key)
				}
				delete(a.wins, s)
			}
		}
	}
	return out
}

// snapshot writes the tables in window order, each row as
// [key, n, i, f, float, value].
func (a *aggregateStage) snapshot(dst []byte) []byte {
	starts := make([]int64, 0, len(a.wins))
	for s := range a.wins {
		starts = append(starts, s)
	}
	slices.Sort(starts)
	dst = abi.AppendArrayHeader(dst, len(starts))
	for _, s := range starts {
		w := a.wins[s]
		dst = append(dst, 0x92)
		dst = abi.AppendInt(dst, s)
		dst = abi.AppendArrayHeader(dst, len(w.rows))
		for ri, r := range w.rows {
			dst = append(dst, 0x96)
			dst = append(dst, a.keys.keys[r.key]...)
			dst = abi.AppendInt(dst, r.acc.n)
			dst = abi.AppendInt(dst, r.acc.i)
			dst = abi.AppendFloat(dst, r.acc.f)
			dst = abi.AppendBool(dst, r.acc.float)
			if w.vals != nil && w.vals[ri] != nil {
				dst = append(dst, w.vals[ri]...)
			} else {
				dst = abi.AppendNil(dst)
			}
		}
	}
	return dst
}

func (a *aggregateStage) restore(b []byte) error {
	a.wins, a.keys, a.spans, a.touched = map[int64]*winTable{}, keyIDs{}, nil, nil
	nw, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return fmt.Errorf("aggregate state: %w", err)
	}
	if m, _, err := abi.ArrayHeader(rest); nw > 0 && err == nil && m == 3 {
		return a.restoreRows(nw, rest)
	}
	for i := 0; i < nw; i++ {
		var m, nr int
		var start int64
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 2 {
			return fmt.Errorf("aggregate window %d: malformed", i)
		}
		if start, rest, err = abi.ReadInt(rest); err != nil {
			return err
		}
		if nr, rest, err = abi.ArrayHeader(rest); err != nil {
			return err
		}
		w := a.table(start)
		for j := 0; j < nr; j++ {
			if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 6 {
				return fmt.Errorf("aggregate window %d row %d: malformed", i, j)
			}
			var key, val abi.Raw
			var c acc
			if key, rest, err = abi.Next(rest); err != nil {
				return err
			}
			if c.n, rest, err = abi.ReadInt(rest); err != nil {
				return err
			}
			if c.i, rest, err = abi.ReadInt(rest); err != nil {
				return err
			}
			if c.f, rest, err = abi.ReadFloat(rest); err != nil {
				return err
			}
			if c.float, rest, err = abi.ReadBool(rest); err != nil {
				return err
			}
			if val, rest, err = abi.Next(rest); err != nil {
				return err
			}
			ri := a.row(w, a.keyID(key))
			w.rows[ri].acc = c
			if w.vals != nil && !(abi.IsNil(val) && c.n == 0) {
				w.vals[ri] = append(abi.Raw(nil), val...)
			}
		}
	}
	return nil
}

// restoreRows loads the state of an aggregate as checkpoints written before
// keyed windows hold it: n rows [key, start, value], where key is the
// window [start, end] of aggregateByWindow or the grouping key of
// aggregateByKey, and value the aggregate so far.
func (a *aggregateStage) restoreRows(n int, rest []byte) error {
	for i := 0; i < n; i++ {
		var m int
		var key, val abi.Raw
		var start int64
		var err error
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 3 {
			return fmt.Errorf("aggregate row %d: malformed", i)
		}
		if key, rest, err = abi.Next(rest); err != nil {
			return err
		}
		if start, rest, err = abi.ReadInt(rest); err != nil {
			return err
		}
		if val, rest, err = abi.Next(rest); err != nil {
			return err
		}
		if a.windowed {
			key = noKey
		}
		w := a.table(start)
		ri := a.row(w, a.keyID(key))
		c := &w.rows[ri].acc
		switch a.fn {
		case fnCount:
			if c.n, _, err = abi.ReadInt(val); err != nil {
				return fmt.Errorf("aggregate row %d: count: %w", i, err)
			}
		case fnSum:
			if err := c.add(val); err != nil {
				return fmt.Errorf("aggregate row %d: sum: %w", i, err)
			}
			c.n = 1
		default:
			w.vals[ri] = append(abi.Raw(nil), val...)
			c.n = 1
		}
	}
	return nil
}
