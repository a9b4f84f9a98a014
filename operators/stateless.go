package operators

import (
	"context"
	"fmt"
	"strings"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// opBuilder makes a stage from its spec; label names it in errors.
type opBuilder func(b *builder, s pipeline.Stage, label string) (stage, error)

// ops maps each pipeline `op:` (Spark's DStream method name) to its builder.
// Stateful and event-time operators register themselves in their own files.
var ops = map[string]opBuilder{
	"map":            elementOp(abi.KindMap, false),
	"mapValues":      elementOp(abi.KindMap, true),
	"flatMap":        elementOp(abi.KindFlatMap, false),
	"flatMapValues":  elementOp(abi.KindFlatMap, true),
	"filter":         elementOp(abi.KindFilter, false),
	"reduce":         buildReduce,
	"count":          buildCount,
	"countByValue":   buildCountByValue,
	"reduceByKey":    buildReduceByKey,
	"groupByKey":     buildGroupByKey,
	"union":          buildUnion,
	"join":           joinOp(joinInner),
	"leftOuterJoin":  joinOp(joinLeft),
	"rightOuterJoin": joinOp(joinRight),
	"fullOuterJoin":  joinOp(joinFull),
	"cogroup":        joinOp(joinCogroup),
}

// transform builds nested chains, which look ops up: register it in init to
// break the initialization cycle.
func init() { ops["transform"] = buildTransform }

// only rejects fields an op does not use, so a misplaced field is reported
// instead of silently ignored.
func only(s pipeline.Stage, label string, allowed ...string) error {
	set := map[string]bool{}
	for _, a := range allowed {
		set[a] = true
	}
	used := map[string]bool{
		"fn": s.Fn != "", "plugin": s.Plugin != "", "inverse": s.Inverse != "", "filter": s.Filter != "",
		"window": s.Window != 0, "slide": s.Slide != 0, "offset": s.Offset != 0, "other": s.Other != "",
		"stages": len(s.Stages) > 0, "initial": len(s.Initial) > 0, "time": s.Time != "", "delay": s.Delay != 0,
		"outputMode": s.OutputMode != "", "onError": s.OnError != "",
		"key": len(s.Key) > 0, "value": s.Value != "", "gap": s.Gap != 0,
		"timeout": s.Timeout != 0, "output": s.Output != "", "within": s.Within.Set,
		"n": s.N != 0, "by": s.By != "", "size": s.Size != 0, "every": s.Every != 0, "reset": s.Reset != "",
	}
	for _, f := range []string{"fn", "plugin", "inverse", "filter", "window", "slide", "offset", "other", "stages", "initial", "time", "delay", "outputMode", "onError", "key", "value", "gap", "timeout", "output", "within", "n", "by", "size", "every", "reset"} {
		if used[f] && !set[f] {
			return fmt.Errorf("%s: field %s: does not apply to op %s", label, f, s.Op)
		}
	}
	return nil
}

// ---- element ops: map, flatMap, filter and their *Values forms ----

type elementStage struct {
	c      caller
	kind   abi.Kind
	values bool // apply to the value of each [k, v] pair
	keys   []abi.Raw
	vals   []abi.Raw
}

func elementOp(kind abi.Kind, values bool) opBuilder {
	return func(b *builder, s pipeline.Stage, label string) (stage, error) {
		if err := only(s, label, "fn", "plugin", "onError"); err != nil {
			return nil, err
		}
		f, err := lookup(b.resolve, s.Plugin, s.Fn, kind, label)
		if err != nil {
			return nil, err
		}
		p, err := b.policy(s, label)
		if err != nil {
			return nil, err
		}
		return &elementStage{c: p.caller(f, label), kind: kind, values: values}, nil
	}
}

func (e *elementStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	items := in
	if e.values {
		e.keys, e.vals = e.keys[:0], e.vals[:0]
		for i, r := range in {
			k, v, err := abi.SplitPair(r)
			if err != nil {
				return nil, false, fmt.Errorf("%s: record %d: %v", e.c.stage, i, err)
			}
			e.keys, e.vals = append(e.keys, k), append(e.vals, v)
		}
		items = e.vals
	}
	res, err := e.c.call(ctx, items)
	if err != nil {
		return nil, false, err
	}
	if e.kind == abi.KindMap && !e.values && !hasNil(res) {
		return res, true, nil // the results are the records
	}
	n := len(in)
	if e.kind == abi.KindFlatMap { // size out once: a batch of lines makes many words
		n = 0
		for _, r := range res {
			if m, _, err := abi.ArrayHeader(r); err == nil {
				n += m
			}
		}
	}
	out := make([]abi.Raw, 0, n)
	var buf []byte
	for i, r := range res {
		if r == nil { // failed, and set aside by the stage's onError policy
			continue
		}
		switch e.kind {
		case abi.KindMap:
			if e.values {
				start := len(buf)
				buf = abi.AppendPair(buf, e.keys[i], r)
				r = buf[start:len(buf):len(buf)]
			}
			out = append(out, r)
		case abi.KindFilter:
			keep, _, err := abi.ReadBool(r)
			if err != nil {
				return nil, false, fmt.Errorf("%s: filter result for record %s: %v", e.c.stage, abi.Describe(in[i]), err)
			}
			if keep {
				out = append(out, in[i])
			}
		case abi.KindFlatMap:
			// Walk the result array in place: splitting it into a slice per
			// record allocated once or more per input record.
			m, rest, err := abi.ArrayHeader(r)
			for j := 0; j < m && err == nil; j++ {
				var el abi.Raw
				if el, rest, err = abi.Next(rest); err != nil {
					break
				}
				if e.values {
					start := len(buf)
					buf = abi.AppendPair(buf, e.keys[i], el)
					el = buf[start:len(buf):len(buf)]
				}
				out = append(out, el)
			}
			if err == nil && len(rest) != 0 {
				err = fmt.Errorf("%d bytes after the array", len(rest))
			}
			if err != nil {
				return nil, false, fmt.Errorf("%s: flatMap result for record %s: %v", e.c.stage, abi.Describe(in[i]), err)
			}
		}
	}
	return out, true, nil
}

// hasNil reports whether a record failed (its result is nil).
func hasNil(res []abi.Raw) bool {
	for _, r := range res {
		if r == nil {
			return true
		}
	}
	return false
}

// ---- whole-batch aggregates ----

type reduceStage struct {
	r reducer
}

func buildReduce(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin"); err != nil {
		return nil, err
	}
	r, err := reducerFor(b.resolve, s.Plugin, s.Fn, label)
	if err != nil {
		return nil, err
	}
	return &reduceStage{r: r}, nil
}

// process folds the whole batch into one record; an empty batch gives an
// empty result, as Spark's reduce does.
func (r *reduceStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	if len(in) == 0 {
		return nil, true, nil
	}
	out, err := r.r.reduce(ctx, [][]abi.Raw{in})
	return out, err == nil, err
}

type countStage struct{}

func buildCount(_ *builder, s pipeline.Stage, label string) (stage, error) {
	return countStage{}, only(s, label)
}

// process emits the number of records; an empty batch counts [0] (Spark).
func (countStage) process(_ context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	return []abi.Raw{abi.AppendInt(nil, int64(len(in)))}, true, nil
}

type countByValueStage struct{}

func buildCountByValue(_ *builder, s pipeline.Stage, label string) (stage, error) {
	return countByValueStage{}, only(s, label)
}

func (countByValueStage) process(_ context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	var g grouping
	for _, r := range in {
		g.add(r, r)
	}
	out := make([]abi.Raw, len(g.keys))
	var buf []byte
	for i, k := range g.keys {
		start := len(buf)
		buf = append(buf, 0x92)
		buf = append(buf, k...)
		buf = abi.AppendInt(buf, int64(len(g.vals[i])))
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out, true, nil
}

// ---- keyed ops ----

// grouping collects values by encoded key, in order of first appearance.
type grouping struct {
	index map[string]int
	keys  []abi.Raw
	vals  [][]abi.Raw
}

func (g *grouping) add(k, v abi.Raw) {
	if g.index == nil {
		g.index = map[string]int{}
	}
	i, ok := g.index[string(k)]
	if !ok {
		i = len(g.keys)
		g.index[string(k)] = i
		g.keys = append(g.keys, k)
		g.vals = append(g.vals, nil)
	}
	g.vals[i] = append(g.vals[i], v)
}

// groupPairs groups [k, v] records by k.
func groupPairs(in []abi.Raw, label string) (*grouping, error) {
	g := &grouping{index: make(map[string]int, len(in)/4+1)}
	for i, r := range in {
		k, v, err := abi.SplitPair(r)
		if err != nil {
			return nil, fmt.Errorf("%s: record %d: %v", label, i, err)
		}
		g.add(k, v)
	}
	return g, nil
}

type reduceByKeyStage struct {
	r     reducer
	label string
	fold  folder // for a built-in r
}

func buildReduceByKey(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin"); err != nil {
		return nil, err
	}
	r, err := reducerFor(b.resolve, s.Plugin, s.Fn, label)
	if err != nil {
		return nil, err
	}
	return &reduceByKeyStage{r: r, label: label}, nil
}

func (s *reduceByKeyStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	if b, ok := s.r.(builtin); ok {
		if out, ok := s.fold.fold(b, in); ok {
			return out, true, nil
		}
		// A record the fold could not take: the general path below
		// reports it exactly as before.
	}
	g, err := groupPairs(in, s.label)
	if err != nil {
		return nil, false, err
	}
	red, err := s.r.reduce(ctx, g.vals)
	if err != nil {
		return nil, false, err
	}
	return pairs(g.keys, red), true, nil
}

// pairs zips keys and values into [k, v] records sharing one buffer.
func pairs(keys, vals []abi.Raw) []abi.Raw {
	size := 0
	for i := range keys {
		size += 1 + len(keys[i]) + len(vals[i])
	}
	buf := make([]byte, 0, size)
	out := make([]abi.Raw, len(keys))
	for i := range keys {
		start := len(buf)
		buf = abi.AppendPair(buf, keys[i], vals[i])
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

type groupByKeyStage struct{ label string }

func buildGroupByKey(_ *builder, s pipeline.Stage, label string) (stage, error) {
	return &groupByKeyStage{label: label}, only(s, label)
}

func (s *groupByKeyStage) process(_ context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	g, err := groupPairs(in, s.label)
	if err != nil {
		return nil, false, err
	}
	vals := make([]abi.Raw, len(g.keys))
	for i, vs := range g.vals {
		vals[i] = abi.AppendArray(nil, vs)
	}
	return pairs(g.keys, vals), true, nil
}

// ---- two-stream ops ----

type unionStage struct {
	other *stream
}

func buildUnion(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "other"); err != nil {
		return nil, err
	}
	if s.Other == "" {
		return nil, fmt.Errorf("%s needs other: (the stream to union with)", label)
	}
	return &unionStage{other: b.byName[s.Other]}, nil
}

// process keeps this stream's records first, then the other's (Spark).
func (u *unionStage) process(_ context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	out := make([]abi.Raw, 0, len(in)+len(u.other.out))
	return append(append(out, in...), u.other.out...), true, nil
}

type joinKind int

const (
	joinInner joinKind = iota
	joinLeft
	joinRight
	joinFull
	joinCogroup
)

type joinStage struct {
	other *stream
	kind  joinKind
	label string
}

func joinOp(kind joinKind) opBuilder {
	return func(b *builder, s pipeline.Stage, label string) (stage, error) {
		if s.Within.Set && kind != joinCogroup {
			return buildStreamJoin(b, s, label, kind)
		}
		if err := only(s, label, "other"); err != nil {
			return nil, err
		}
		if s.Other == "" {
			return nil, fmt.Errorf("%s needs other: (the stream to join with)", label)
		}
		return &joinStage{other: b.byName[s.Other], kind: kind, label: label}, nil
	}
}

// process joins this stream's [k, v] pairs with the other's [k, w] pairs.
// Keys come in order of first appearance on the left, then right-only keys;
// within a key, every left value pairs with every right value in order.
// Results: join [k, [v, w]]; leftOuterJoin [k, [v, w|null]]; rightOuterJoin
// [k, [v|null, w]]; fullOuterJoin [k, [v|null, w|null]]; cogroup
// [k, [[v...], [w...]]] (Spark's Option is null when absent).
func (j *joinStage) process(_ context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	left, err := groupPairs(in, j.label)
	if err != nil {
		return nil, false, err
	}
	right, err := groupPairs(j.other.out, j.label+" (other: "+j.other.name+")")
	if err != nil {
		return nil, false, err
	}
	keys := append([]abi.Raw(nil), left.keys...)
	for _, k := range right.keys {
		if _, ok := left.index[string(k)]; !ok {
			keys = append(keys, k)
		}
	}
	nilRaw := abi.Raw{0xc0}
	var out []abi.Raw
	var buf []byte
	emit := func(k, v, w abi.Raw) {
		start := len(buf)
		buf = append(buf, 0x92)
		buf = append(buf, k...)
		buf = append(buf, 0x92)
		buf = append(buf, v...)
		buf = append(buf, w...)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	for _, k := range keys {
		var lv, rv []abi.Raw
		if i, ok := left.index[string(k)]; ok {
			lv = left.vals[i]
		}
		if i, ok := right.index[string(k)]; ok {
			rv = right.vals[i]
		}
		if j.kind == joinCogroup {
			emit(k, abi.AppendArray(nil, lv), abi.AppendArray(nil, rv))
			continue
		}
		if len(lv) == 0 && (j.kind == joinRight || j.kind == joinFull) {
			lv = []abi.Raw{nilRaw}
		}
		if len(rv) == 0 && (j.kind == joinLeft || j.kind == joinFull) {
			rv = []abi.Raw{nilRaw}
		}
		for _, v := range lv {
			for _, w := range rv {
				emit(k, v, w)
			}
		}
	}
	return out, true, nil
}

// ---- transform ----

// transformStage applies a nested chain of stages to each batch, Spark's
// transform(rdd => ...) expressed as stages.
type transformStage struct {
	stages []stage
}

func buildTransform(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "stages"); err != nil {
		return nil, err
	}
	if len(s.Stages) == 0 {
		return nil, fmt.Errorf("%s needs stages: (the operators to apply to each batch)", label)
	}
	return &transformStage{stages: b.chain(label+" ", s.Stages)}, nil
}

func (t *transformStage) process(ctx context.Context, bt int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	return runChain(ctx, bt, t.stages, in)
}

// opsList names every op, for messages.
func opsList() string { return strings.Join(opNames(), " ") }

// opNames are the ops a pipeline can name, sorted.
func opNames() []string {
	names := make([]string, 0, len(ops))
	for n := range ops {
		names = append(names, n)
	}
	sortStrings(names)
	return names
}
