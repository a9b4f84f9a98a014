package operators

import (
	"context"
	"fmt"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// Windows measured in records rather than time, per key in arrival order.
// Spark has neither; countWindow follows Flink's countWindow(size, slide):
// every `every` records of a key it emits the aggregate of that key's last
// `size` records (fewer until size have arrived), and every defaults to
// size, Flink's tumbling countWindow(size). landmarkWindow is the
// course's landmark window: the aggregate of a key's records since the
// last one whose reset: field is truthy (that record opens the new window
// and counts in it), emitted after every record. Both emit [key, value]
// with key:, the value alone without, and run the built-in functions.

func init() {
	ops["countWindow"] = buildCountWindow
	ops["landmarkWindow"] = buildLandmarkWindow
}

// recordKeys is per-key state in the order keys first arrived, so that
// snapshots are the same bytes for the same history.
type recordKeys[T any] struct {
	index map[string]int
	keys  []abi.Raw
	state []T
}

func (r *recordKeys[T]) get(key abi.Raw) *T {
	if i, ok := r.index[string(key)]; ok {
		return &r.state[i]
	}
	if r.index == nil {
		r.index = map[string]int{}
	}
	own := append(abi.Raw(nil), key...)
	r.index[string(own)] = len(r.keys)
	r.keys = append(r.keys, own)
	var zero T
	r.state = append(r.state, zero)
	return &r.state[len(r.state)-1]
}

func (r *recordKeys[T]) reset() { *r = recordKeys[T]{} }

// builtinGrouped reads fn:, key: and value: for a record window, which runs
// the built-in functions only.
func (b *builder) builtinGrouped(s pipeline.Stage, label string) (*grouped, error) {
	if _, ok := aggFns[s.Fn]; !ok {
		if s.Fn == "" {
			return nil, fmt.Errorf("%s needs fn: (count, sum, avg, min or max)", label)
		}
		return nil, fmt.Errorf("%s: fn: %q is not a built-in; %s runs count, sum, avg, min or max%s", label, s.Fn, s.Op, pipeline.Suggest(s.Fn, []string{"count", "sum", "avg", "min", "max"}))
	}
	g := &grouped{}
	if err := b.grouped(s, label, g); err != nil {
		return nil, err
	}
	return g, nil
}

// appendKeyed encodes one result: [key, value] when the stage is keyed.
func appendKeyed(dst []byte, g *grouped, key abi.Raw, c acc, val abi.Raw) []byte {
	if g.key != nil {
		dst = abi.AppendArrayHeader(dst, 2)
		dst = append(dst, key...)
	}
	return appendAcc(dst, g.fn, c, val)
}

// ---- countWindow ----

type countWindowStage struct {
	g           *grouped
	size, every int
	keys        recordKeys[countKey]
}

// countKey is one key's last records (values; nil for count) and the
// arrivals since it last emitted.
type countKey struct {
	vals  []abi.Raw
	since int
}

func buildCountWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "size", "every", "key", "value", "fn", "onError"); err != nil {
		return nil, err
	}
	if s.Size < 1 {
		return nil, fmt.Errorf("%s needs size: (how many records the window holds, 1 or more), e.g. {op: countWindow, size: 100, every: 10, fn: avg, value: .temp}", label)
	}
	if s.Every < 0 {
		return nil, fmt.Errorf("%s: every: %d is negative; give how many records make it emit (default size:, a tumbling window)", label, s.Every)
	}
	g, err := b.builtinGrouped(s, label)
	if err != nil {
		return nil, err
	}
	c := &countWindowStage{g: g, size: s.Size, every: s.Every}
	if c.every == 0 {
		c.every = c.size
	}
	return c, nil
}

func (c *countWindowStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer c.g.pol.flush()
	keys, vals, err := c.g.inputs(ctx, in)
	if err != nil {
		return nil, false, err
	}
	var out []abi.Raw
	var buf []byte
	for i, key := range keys {
		if key == nil {
			continue
		}
		var v abi.Raw
		if vals != nil {
			v = vals[i]
		}
		st := c.keys.get(key)
		if msg := c.comparable(st, v); msg != "" {
			if err := c.g.pol.reject(in[i], "value: "+msg); err != nil {
				return nil, false, err
			}
			continue
		}
		if len(st.vals) == c.size {
			copy(st.vals, st.vals[1:])
			st.vals = st.vals[:c.size-1]
		}
		if v != nil && c.g.fn != fnCount {
			v = append(abi.Raw(nil), v...)
		} else {
			v = nil
		}
		st.vals = append(st.vals, v)
		if st.since++; st.since < c.every {
			continue
		}
		st.since = 0
		var a acc
		var val abi.Raw
		for _, x := range st.vals {
			if x == nil && c.g.fn != fnCount {
				continue // a null, skipped as the built-ins do
			}
			if err := foldValue(c.g.fn, &a, &val, x); err != nil {
				return nil, false, err // comparable ruled this out
			}
		}
		start := len(buf)
		buf = appendKeyed(buf, c.g, key, a, val)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	return out, true, nil
}

// comparable refuses, before it enters the window, a value min or max
// could not order against the key's others (a string among numbers).
func (c *countWindowStage) comparable(st *countKey, v abi.Raw) string {
	if (c.g.fn != fnMin && c.g.fn != fnMax) || v == nil || abi.IsNil(v) {
		return ""
	}
	for _, x := range st.vals {
		if x != nil && !abi.IsNil(x) {
			if _, err := compare(v, x); err != nil {
				return fmt.Sprintf("%s cannot order %s with the window's %s", fnName(c.g.fn), abi.Describe(v), abi.Describe(x))
			}
			break
		}
	}
	return ""
}

// snapshot writes [[key, since, [value, ...]], ...] in key order of arrival.
func (c *countWindowStage) snapshot(dst []byte) []byte {
	dst = abi.AppendArrayHeader(dst, len(c.keys.keys))
	for i, k := range c.keys.keys {
		st := c.keys.state[i]
		dst = abi.AppendArrayHeader(dst, 3)
		dst = append(dst, k...)
		dst = abi.AppendInt(dst, int64(st.since))
		dst = abi.AppendArrayHeader(dst, len(st.vals))
		for _, v := range st.vals {
			if v == nil {
				dst = abi.AppendNil(dst)
			} else {
				dst = append(dst, v...)
			}
		}
	}
	return dst
}

func (c *countWindowStage) restore(b []byte) error {
	c.keys.reset()
	n, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return fmt.Errorf("countWindow state: %w", err)
	}
	for i := 0; i < n; i++ {
		var m int
		var key abi.Raw
		var since int64
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 3 {
			return fmt.Errorf("countWindow state, key %d: malformed", i)
		}
		if key, rest, err = abi.Next(rest); err != nil {
			return fmt.Errorf("countWindow state, key %d: %w", i, err)
		}
		if since, rest, err = abi.ReadInt(rest); err != nil {
			return fmt.Errorf("countWindow state, key %d: %w", i, err)
		}
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m > c.size {
			return fmt.Errorf("countWindow state, key %d: holds more than size: %d records; was size: changed?", i, c.size)
		}
		st := c.keys.get(key)
		st.since = int(since)
		for j := 0; j < m; j++ {
			var v abi.Raw
			if v, rest, err = abi.Next(rest); err != nil {
				return fmt.Errorf("countWindow state, key %d: %w", i, err)
			}
			if abi.IsNil(v) {
				v = nil
			} else {
				v = append(abi.Raw(nil), v...)
			}
			st.vals = append(st.vals, v)
		}
	}
	return nil
}

// ---- landmarkWindow ----

type landmarkStage struct {
	g     *grouped
	reset *path
	keys  recordKeys[landmarkKey]
}

type landmarkKey struct {
	acc acc
	val abi.Raw // min, max
}

func buildLandmarkWindow(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "reset", "key", "value", "fn", "onError"); err != nil {
		return nil, err
	}
	if s.Reset == "" || !isPath(s.Reset) {
		return nil, fmt.Errorf("%s needs reset: a path such as .reset whose true (or non-zero) value starts a new window, e.g. {op: landmarkWindow, reset: .reset, key: .sensor, value: .kwh, fn: sum}", label)
	}
	p, err := parsePath(s.Reset)
	if err != nil {
		return nil, fmt.Errorf("%s: reset: %w", label, err)
	}
	g, err := b.builtinGrouped(s, label)
	if err != nil {
		return nil, err
	}
	return &landmarkStage{g: g, reset: p}, nil
}

// truthy reads a record's reset: true or a non-zero number starts a new
// window; false, zero, null and a missing field do not.
func (l *landmarkStage) truthy(r abi.Raw) (bool, string) {
	v, err := l.reset.get(r)
	if err != nil {
		return false, "" // no reset field: not a reset
	}
	switch abi.TypeOf(v) {
	case abi.TypeNil:
		return false, ""
	case abi.TypeBool:
		b, _, _ := abi.ReadBool(v)
		return b, ""
	case abi.TypeInt, abi.TypeFloat:
		i, f, isF, _ := number(v)
		return (isF && f != 0) || (!isF && i != 0), ""
	}
	return false, fmt.Sprintf("reset %s: %s is not a boolean or a number", l.reset.text, abi.Describe(v))
}

func (l *landmarkStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer l.g.pol.flush()
	keys, vals, err := l.g.inputs(ctx, in)
	if err != nil {
		return nil, false, err
	}
	var out []abi.Raw
	var buf []byte
	for i, key := range keys {
		if key == nil {
			continue
		}
		reset, msg := l.truthy(in[i])
		if msg != "" {
			if err := l.g.pol.reject(in[i], msg); err != nil {
				return nil, false, err
			}
			continue
		}
		st := l.keys.get(key)
		c, val := st.acc, st.val
		if reset {
			c, val = acc{}, nil
		}
		var v abi.Raw
		if vals != nil {
			v = vals[i]
		}
		if err := foldValue(l.g.fn, &c, &val, v); err != nil {
			if err := l.g.pol.reject(in[i], fmt.Sprintf("value: %s cannot order %s with the window's %s", fnName(l.g.fn), abi.Describe(v), abi.Describe(val))); err != nil {
				return nil, false, err
			}
			continue
		}
		st.acc, st.val = c, val
		start := len(buf)
		buf = appendKeyed(buf, l.g, key, c, val)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	return out, true, nil
}

// snapshot writes [[key, n, i, f, float, value], ...] in key order of
// arrival, the rows of aggregate snapshots.
func (l *landmarkStage) snapshot(dst []byte) []byte {
	dst = abi.AppendArrayHeader(dst, len(l.keys.keys))
	for i, k := range l.keys.keys {
		st := l.keys.state[i]
		dst = abi.AppendArrayHeader(dst, 6)
		dst = append(dst, k...)
		dst = abi.AppendInt(dst, st.acc.n)
		dst = abi.AppendInt(dst, st.acc.i)
		dst = abi.AppendFloat(dst, st.acc.f)
		dst = abi.AppendBool(dst, st.acc.float)
		if st.val == nil {
			dst = abi.AppendNil(dst)
		} else {
			dst = append(dst, st.val...)
		}
	}
	return dst
}

func (l *landmarkStage) restore(b []byte) error {
	l.keys.reset()
	n, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return fmt.Errorf("landmarkWindow state: %w", err)
	}
	for i := 0; i < n; i++ {
		var m int
		var key, val abi.Raw
		var c acc
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 6 {
			return fmt.Errorf("landmarkWindow state, key %d: malformed", i)
		}
		if key, rest, err = abi.Next(rest); err == nil {
			if c.n, rest, err = abi.ReadInt(rest); err == nil {
				if c.i, rest, err = abi.ReadInt(rest); err == nil {
					if c.f, rest, err = abi.ReadFloat(rest); err == nil {
						if c.float, rest, err = abi.ReadBool(rest); err == nil {
							val, rest, err = abi.Next(rest)
						}
					}
				}
			}
		}
		if err != nil {
			return fmt.Errorf("landmarkWindow state, key %d: %w", i, err)
		}
		st := l.keys.get(key)
		st.acc = c
		if !abi.IsNil(val) {
			st.val = append(abi.Raw(nil), val...)
		}
	}
	return nil
}
