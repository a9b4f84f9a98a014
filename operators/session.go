package operators

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// aggregateBySession is Spark's groupBy(session_window(time, gap), key):
// per key, each row opens the session [t, t+gap), and sessions of a key
// that overlap or touch merge, so a session is [min t, max t + gap) over
// rows at most gap apart. In append mode a row is late when t+gap is at or
// below the watermark, and a session is emitted once, and forgotten, when
// the watermark reaches its end; complete emits every session every
// trigger and never drops or forgets. Spark rejects update mode and a
// session window without a key, and so does wstream.

func init() { ops["aggregateBySession"] = buildAggregateBySession }

// session is one session of a key.
type session struct {
	start, end int64
	acc        acc
	val        abi.Raw // min, max, guest: the value held
}

// keySessions are a key's sessions, sorted by start, disjoint and not
// touching; seq orders keys in the output (first appearance).
type keySessions struct {
	seq      int64
	sessions []session
}

type sessionStage struct {
	grouped
	label string
	mode  outputMode
	gap   int64
	times *eventTimes
	clock *eventClock

	keys    keyIDs // one reference per key that has sessions
	byKey   map[uint32]*keySessions
	nextSeq int64
}

func buildAggregateBySession(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "gap", "key", "value", "fn", "plugin", "outputMode", "time", "onError"); err != nil {
		return nil, err
	}
	a := &sessionStage{label: label, clock: b.events(), gap: s.Gap.D().Milliseconds(), byKey: map[uint32]*keySessions{}}
	if a.gap <= 0 {
		return nil, fmt.Errorf("%s needs gap: (the longest pause between a key's rows that keeps them in one session, e.g. 30s)", label)
	}
	if len(s.Key) == 0 {
		return nil, fmt.Errorf("%s needs key: (a path such as .user, a map function, or a list of them): as in Spark, a session window over all rows, without a key, is not supported", label)
	}
	if err := b.grouped(s, label, &a.grouped); err != nil {
		return nil, err
	}
	var err error
	if a.mode, err = parseMode(s.OutputMode, label, modeAppend); err != nil {
		return nil, err
	}
	watermark := len(b.events().marks) > 0
	switch {
	case a.mode == modeUpdate:
		return nil, fmt.Errorf("%s: outputMode update is not supported for session windows (as in Spark): use append, which emits each session once it is closed, or complete", label)
	case a.mode == modeAppend && !watermark:
		return nil, fmt.Errorf("%s: outputMode append needs a watermark, or no session would ever be closed: add {op: withWatermark, time: .ts, delay: DURATION} before it, or use outputMode complete (Spark rejects this too)", label)
	}
	if a.times, err = b.eventTimes(s, label, a.pol, "add a withWatermark stage before it, or give time: (a path such as .ts, or a function from a record to ms)"); err != nil {
		return nil, err
	}
	b.registerAggregate(a.mode == modeAppend)
	return a, nil
}

// newRow is a row of this trigger for a key: its own session [t, t+gap).
type newRow struct {
	t int64
	v abi.Raw
}

func (a *sessionStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer a.pol.flush()
	wm := a.clock.wm
	keys, vals, err := a.inputs(ctx, in)
	if err != nil {
		return nil, false, err
	}
	ts, bad, err := a.times.times(ctx, in)
	if err != nil {
		return nil, false, err
	}
	// The rows of each key, keys in order of first appearance.
	var order []string
	rows := map[string][]newRow{}
	for i, r := range in {
		k := keys[i]
		if k == nil || bad != nil && bad[i] {
			continue
		}
		if a.mode == modeAppend && ts[i]+a.gap <= wm {
			a.clock.late = append(a.clock.late, r)
			a.clock.lateTotal++
			continue
		}
		var v abi.Raw
		if vals != nil {
			v = vals[i]
		}
		if _, ok := rows[string(k)]; !ok {
			order = append(order, string(k))
		}
		rows[string(k)] = append(rows[string(k)], newRow{ts[i], v})
	}
	var folds []sessionFold
	for _, k := range order {
		ks := a.sessionsOf(abi.Raw(k))
		var err error
		if folds, err = a.merge(ks, rows[k], folds); err != nil {
			return nil, false, err
		}
	}
	if len(folds) > 0 {
		groups := make([][]abi.Raw, len(folds))
		for j, f := range folds {
			groups[j] = f.vals
		}
		res, err := a.red.reduce(ctx, groups)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", a.label, err)
		}
		for j, f := range folds {
			f.s.val = append(abi.Raw(nil), res[j]...)
		}
	}
	return a.emit(wm), true, nil
}

// sessionsOf returns a key's sessions, adding the key.
func (a *sessionStage) sessionsOf(k abi.Raw) *keySessions {
	if id, ok := a.keys.lookup(k); ok {
		return a.byKey[id]
	}
	ks := &keySessions{seq: a.nextSeq}
	a.nextSeq++
	a.byKey[a.keys.add(k)] = ks
	return ks
}

// sessionFold is a session whose value a guest reduce function folds from
// vals: the values of the sessions it merged and its new rows.
type sessionFold struct {
	s    *session
	vals []abi.Raw
}

// merge adds a key's new rows to its sessions: each row is the session
// [t, t+gap), and sessions that overlap or touch (one starts at or before
// the other's end) become one.
func (a *sessionStage) merge(ks *keySessions, rows []newRow, folds []sessionFold) ([]sessionFold, error) {
	slices.SortStableFunc(rows, func(x, y newRow) int { return cmp.Compare(x.t, y.t) })
	type part struct {
		s   session
		old bool
		v   abi.Raw
	}
	parts := make([]part, 0, len(ks.sessions)+len(rows))
	i, j := 0, 0
	for i < len(ks.sessions) || j < len(rows) {
		if j == len(rows) || i < len(ks.sessions) && ks.sessions[i].start <= rows[j].t {
			parts = append(parts, part{s: ks.sessions[i], old: true})
			i++
			continue
		}
		parts = append(parts, part{s: session{start: rows[j].t, end: rows[j].t + a.gap}, v: rows[j].v})
		j++
	}
	var out []session
	var pending [][]abi.Raw // guest: each merged session's values
	changed := []bool{}
	for _, p := range parts {
		last := len(out) - 1
		if last < 0 || p.s.start > out[last].end {
			out = append(out, session{start: p.s.start, end: p.s.end})
			pending = append(pending, nil)
			changed = append(changed, false)
			last++
			if p.old { // a session on its own so far: keep its aggregate as it is
				out[last] = p.s
				pending[last] = nil
				if a.fn == fnGuest {
					pending[last] = []abi.Raw{p.s.val}
				}
				continue
			}
		} else if p.s.end > out[last].end {
			out[last].end = p.s.end
		}
		s := &out[last]
		switch {
		case a.fn == fnGuest && p.old:
			pending[last] = append(pending[last], p.s.val)
			changed[last] = true
			s.acc.n += p.s.acc.n
		case a.fn == fnGuest:
			pending[last] = append(pending[last], p.v)
			changed[last] = true
			s.acc.n++
		case p.old:
			if err := mergeAcc(a.fn, &s.acc, &s.val, p.s.acc, p.s.val); err != nil {
				return nil, fmt.Errorf("%s: merging sessions: %v", a.label, err)
			}
			changed[last] = true
		default:
			if err := foldValue(a.fn, &s.acc, &s.val, p.v); err != nil {
				return nil, fmt.Errorf("%s: value %s: %v", a.label, abi.Describe(p.v), err)
			}
			changed[last] = true
		}
	}
	ks.sessions = out
	if a.fn == fnGuest {
		for k := range out {
			if changed[k] {
				folds = append(folds, sessionFold{s: &ks.sessions[k], vals: pending[k]})
			}
		}
	}
	return folds, nil
}

// emit encodes what the output mode emits, ordered by session start and
// then key, and forgets the sessions append mode emitted.
func (a *sessionStage) emit(wm int64) []abi.Raw {
	type ref struct {
		id  uint32
		seq int64
		i   int
		s   *session
	}
	var refs []ref
	for id, ks := range a.byKey {
		for i := range ks.sessions {
			s := &ks.sessions[i]
			if a.mode == modeComplete || s.end <= wm {
				refs = append(refs, ref{id, ks.seq, i, s})
			}
		}
	}
	slices.SortFunc(refs, func(x, y ref) int {
		if c := cmp.Compare(x.s.start, y.s.start); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	out := make([]abi.Raw, len(refs))
	var buf []byte
	for j, r := range refs {
		start := len(buf)
		buf = abi.AppendArrayHeader(buf, 2)
		buf = abi.AppendArrayHeader(buf, 2)
		buf = abi.AppendArrayHeader(buf, 2)
		buf = abi.AppendInt(buf, r.s.start)
		buf = abi.AppendInt(buf, r.s.end)
		buf = append(buf, a.keys.keys[r.id]...)
		buf = appendAcc(buf, a.fn, r.s.acc, r.s.val)
		out[j] = buf[start:len(buf):len(buf)]
	}
	if a.mode == modeAppend && len(refs) > 0 {
		for id, ks := range a.byKey {
			kept := ks.sessions[:0]
			for _, s := range ks.sessions {
				if s.end > wm {
					kept = append(kept, s)
				}
			}
			clear(ks.sessions[len(kept):])
			ks.sessions = kept
			if len(kept) == 0 {
				delete(a.byKey, id)
				a.keys.unref(id)
			}
		}
	}
	return out
}

// snapshot writes keys in output order, each as [key, [sessions...]], a
// session as [start, end, n, i, f, float, value].
func (a *sessionStage) snapshot(dst []byte) []byte {
	ids := make([]uint32, 0, len(a.byKey))
	for id := range a.byKey {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y uint32) int { return cmp.Compare(a.byKey[x].seq, a.byKey[y].seq) })
	dst = abi.AppendArrayHeader(dst, len(ids))
	for _, id := range ids {
		ks := a.byKey[id]
		dst = append(dst, 0x92)
		dst = append(dst, a.keys.keys[id]...)
		dst = abi.AppendArrayHeader(dst, len(ks.sessions))
		for _, s := range ks.sessions {
			dst = append(dst, 0x97)
			dst = abi.AppendInt(dst, s.start)
			dst = abi.AppendInt(dst, s.end)
			dst = abi.AppendInt(dst, s.acc.n)
			dst = abi.AppendInt(dst, s.acc.i)
			dst = abi.AppendFloat(dst, s.acc.f)
			dst = abi.AppendBool(dst, s.acc.float)
			if s.val != nil {
				dst = append(dst, s.val...)
			} else {
				dst = abi.AppendNil(dst)
			}
		}
	}
	return dst
}

func (a *sessionStage) restore(b []byte) error {
	a.keys, a.byKey, a.nextSeq = keyIDs{}, map[uint32]*keySessions{}, 0
	nk, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return fmt.Errorf("session state: %w", err)
	}
	for i := 0; i < nk; i++ {
		var m, ns int
		var key abi.Raw
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 2 {
			return fmt.Errorf("session state, key %d: malformed", i)
		}
		if key, rest, err = abi.Next(rest); err != nil {
			return err
		}
		if ns, rest, err = abi.ArrayHeader(rest); err != nil {
			return err
		}
		ks := a.sessionsOf(key)
		for j := 0; j < ns; j++ {
			var s session
			var val abi.Raw
			if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 7 {
				return fmt.Errorf("session state, key %d session %d: malformed", i, j)
			}
			for _, p := range []*int64{&s.start, &s.end, &s.acc.n, &s.acc.i} {
				if *p, rest, err = abi.ReadInt(rest); err != nil {
					return err
				}
			}
			if s.acc.f, rest, err = abi.ReadFloat(rest); err != nil {
				return err
			}
			if s.acc.float, rest, err = abi.ReadBool(rest); err != nil {
				return err
			}
			if val, rest, err = abi.Next(rest); err != nil {
				return err
			}
			if !abi.IsNil(val) || (a.fn == fnGuest && s.acc.n > 0) {
				s.val = append(abi.Raw(nil), val...)
			}
			ks.sessions = append(ks.sessions, s)
		}
	}
	return nil
}
