package operators

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

func init() { ops["mapWithState"] = buildMapWithState }

// mapStateStage is Spark's mapWithState. Per batch at time T, the guest
// function runs once per record, in batch order, for the keys of the
// batch only (a key's records see the state the previous one left); then,
// with a timeout, once for every key whose state has not changed since
// before T − timeout, which it may read but not change, and which is then
// removed. The stream emits what the calls return (output: mapped) or every
// key's state after the batch (output: snapshots). One guest call covers
// the batch: one item per key (abi/ABI.md §6.1).
//
// Unlike Spark, which looks for timed-out keys only in checkpointed batches
// (every tenth by default), every batch looks: keys time out within one
// batch of their deadline, whatever the checkpoint interval.
type mapStateStage struct {
	c         caller
	label     string
	timeout   int64 // ms; 0 is none
	snapshots bool
	initial   []abi.Raw
	started   bool
	st        mapState
	scratch   []byte
}

func buildMapWithState(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin", "timeout", "initial", "output"); err != nil {
		return nil, err
	}
	f, err := lookup(b.resolve, s.Plugin, s.Fn, abi.KindMapState, label)
	if err != nil {
		return nil, err
	}
	m := &mapStateStage{c: caller{fn: f, stage: label}, label: label, timeout: s.Timeout.D().Milliseconds(), initial: s.Initial}
	m.st.init()
	if s.Timeout != 0 && m.timeout == 0 {
		return nil, fmt.Errorf("%s: timeout: %s is below the 1ms that batch times count in", label, s.Timeout.D())
	}
	switch s.Output {
	case "", "mapped":
	case "snapshots":
		m.snapshots = true
	default:
		return nil, fmt.Errorf("%s: output: %q: use mapped (what the function returns, the default) or snapshots (every key's state after each batch)", label, s.Output)
	}
	for i, p := range s.Initial {
		if _, _, err := abi.SplitPair(p); err != nil {
			return nil, fmt.Errorf("%s: initial[%d]: %v (write initial: [[key, state], ...])", label, i, err)
		}
	}
	return m, nil
}

// group is one key's records in a batch.
type group struct {
	key  abi.Raw
	vals []abi.Raw
	ent  int32 // the key's state entry, or -1
}

func (m *mapStateStage) process(ctx context.Context, t int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	if !m.started {
		for _, p := range m.initial {
			k, v, _ := abi.SplitPair(p)
			m.st.put(k, v, t)
		}
		m.started = true
	}
	// Group the records by key; each record remembers its group and its
	// place there, so that outputs come back in batch order.
	var groups []group
	index := make(map[string]int32, len(in)/2+1)
	at := make([][2]int32, len(in))
	for i, r := range in {
		k, v, err := abi.SplitPair(r)
		if err != nil {
			return nil, false, fmt.Errorf("%s: record %d: %v", m.label, i, err)
		}
		g, ok := index[string(k)]
		if !ok {
			g = int32(len(groups))
			index[string(k)] = g
			ent, _ := m.st.find(k)
			groups = append(groups, group{key: k, ent: ent})
		}
		at[i] = [2]int32{g, int32(len(groups[g].vals))}
		groups[g].vals = append(groups[g].vals, v)
	}
	// Keys timing out: idle since before T − timeout. A key of this batch
	// never times out in it: its call either removes it or leaves it
	// changed at T.
	var expired []int32
	if m.timeout > 0 {
		for e := m.st.oldest; e >= 0 && m.st.ents[e].last < t-m.timeout; e = m.st.ents[e].newer {
			if _, inBatch := index[string(m.st.ents[e].key)]; !inBatch {
				expired = append(expired, e)
			}
		}
		// Oldest first; keys that changed in the same batch in the order
		// they first entered state, which a restore reproduces.
		sort.SliceStable(expired, func(i, j int) bool {
			a, b := &m.st.ents[expired[i]], &m.st.ents[expired[j]]
			return a.last < b.last || (a.last == b.last && a.seq < b.seq)
		})
	}
	if len(groups) == 0 && len(expired) == 0 {
		return m.output(nil), true, nil
	}

	items := make([]abi.Raw, 0, len(groups)+len(expired))
	buf := m.scratch[:0]
	for _, g := range groups {
		start := len(buf)
		buf = append(buf, 0x94)
		buf = append(buf, g.key...)
		if g.ent >= 0 {
			buf = abi.AppendOption(buf, m.st.ents[g.ent].state)
		} else {
			buf = append(buf, 0x90)
		}
		buf = abi.AppendArray(buf, g.vals)
		buf = abi.AppendBool(buf, false)
		items = append(items, buf[start:len(buf):len(buf)])
	}
	for _, e := range expired {
		start := len(buf)
		buf = append(buf, 0x94)
		buf = append(buf, m.st.ents[e].key...)
		buf = abi.AppendOption(buf, m.st.ents[e].state)
		buf = append(buf, 0x90)
		buf = abi.AppendBool(buf, true)
		items = append(items, buf[start:len(buf):len(buf)])
	}
	m.scratch = buf
	m.c.record = func(item abi.Raw) abi.Raw { return recordOf(items, groups, item) }
	res, err := m.c.callWith(ctx, abi.AppendInt([]byte{0x92}, t), items)
	if err != nil {
		return nil, false, err
	}

	// Check every result before the state changes: a batch that fails
	// changes nothing.
	outs := make([][]abi.Raw, len(items))
	changes := make([]abi.Raw, len(items))
	for i, r := range res {
		calls := 1
		if i < len(groups) {
			calls = len(groups[i].vals)
		}
		if outs[i], changes[i], err = splitMapStateResult(r, calls, i >= len(groups)); err != nil {
			return nil, false, fmt.Errorf("%s: result for key %s: %v", m.label, abi.Describe(keyOf(items[i])), err)
		}
	}
	for i, g := range groups {
		switch c := changes[i]; {
		case abi.IsNil(c): // unchanged: with a timeout, a state that exists counts as seen at T
			if g.ent >= 0 && m.timeout > 0 {
				m.st.touch(g.ent, t)
			}
		case len(c) == 1: // [] removes
			if g.ent >= 0 {
				m.st.remove(g.ent)
			}
		default:
			s, _, _ := abi.ReadOption(c)
			if g.ent >= 0 {
				m.st.set(g.ent, s, t)
			} else {
				m.st.put(g.key, s, t)
			}
		}
	}
	for _, e := range expired {
		m.st.remove(e)
	}
	m.st.compact()
	if m.snapshots {
		return m.output(nil), true, nil
	}
	var emitted []abi.Raw
	for i := range in {
		if x := outs[at[i][0]][at[i][1]]; x != nil {
			emitted = append(emitted, x)
		}
	}
	for i := len(groups); i < len(items); i++ {
		if x := outs[i][0]; x != nil {
			emitted = append(emitted, x)
		}
	}
	return m.output(emitted), true, nil
}

// output is the stage's result for a batch: the emitted values, or with
// output: snapshots every [key, state] in order of first appearance.
func (m *mapStateStage) output(emitted []abi.Raw) []abi.Raw {
	if !m.snapshots {
		return emitted
	}
	keys, vals := make([]abi.Raw, 0, m.st.n), make([]abi.Raw, 0, m.st.n)
	for e := m.st.first; e >= 0; e = m.st.ents[e].next {
		keys, vals = append(keys, m.st.ents[e].key), append(vals, m.st.ents[e].state)
	}
	out := pairs(keys, vals)
	return out
}

// splitMapStateResult checks one item's result [outs, change] (ABI.md
// §6.1) and returns each call's output (nil when it emits nothing) and the
// change (nil, [] or [s]).
func splitMapStateResult(r abi.Raw, calls int, timingOut bool) ([]abi.Raw, abi.Raw, error) {
	n, rest, err := abi.ArrayHeader(r)
	if err != nil || n != 2 {
		return nil, nil, fmt.Errorf("want [outputs, state change], got %s", abi.Describe(r))
	}
	m, rest, err := abi.ArrayHeader(rest)
	if err != nil || m != calls {
		return nil, nil, fmt.Errorf("want %d output options, one per call, got %s", calls, abi.Describe(r))
	}
	outs := make([]abi.Raw, m)
	for j := range outs {
		var o abi.Raw
		if o, rest, err = abi.Next(rest); err != nil {
			return nil, nil, err
		}
		if outs[j], _, err = abi.ReadOption(o); err != nil {
			return nil, nil, fmt.Errorf("output %d: %v (an output is [] or [value])", j, err)
		}
	}
	change, rest, err := abi.Next(rest)
	if err != nil || len(rest) != 0 {
		return nil, nil, fmt.Errorf("malformed state change in %s", abi.Describe(r))
	}
	if !abi.IsNil(change) {
		if _, _, err := abi.ReadOption(change); err != nil {
			return nil, nil, fmt.Errorf("state change: want nil (unchanged), [] (removed) or [state], got %s", abi.Describe(change))
		}
		if timingOut {
			return nil, nil, errors.New("a call for a timing-out key changed its state; it may only read it (Spark: cannot update or remove the state that is timing out)")
		}
	}
	return outs, change, nil
}

// keyOf is the key of an encoded item [key, ...].
func keyOf(item abi.Raw) abi.Raw {
	_, rest, _ := abi.ArrayHeader(item)
	k, _, _ := abi.Next(rest)
	return k
}

// recordOf names what a failed item stood for: its key's record when it
// had one, else [key, [values...]], or the key when it was timing out.
func recordOf(items []abi.Raw, groups []group, item abi.Raw) abi.Raw {
	for i, it := range items {
		if &it[0] != &item[0] {
			continue
		}
		if i >= len(groups) {
			return keyOf(it)
		}
		if g := groups[i]; len(g.vals) == 1 {
			return abi.AppendPair(nil, g.key, g.vals[0])
		}
		return abi.AppendPair(nil, groups[i].key, abi.AppendArray(nil, groups[i].vals))
	}
	return item
}

// mapState holds one state per key in a slab of entries threaded on two
// lists: by first appearance (snapshots, checkpoints) and by the time of
// the last change, oldest first (timeouts). A batch then costs its own
// keys and the keys timing out, however many others sit idle.
type mapState struct {
	index          map[string]int32
	ents           []mapEntry
	free           []int32
	first, last    int32 // by first appearance
	oldest, newest int32 // by last change
	n              int
	seq            int64 // next entry's place in order of first appearance
	mem            arena
}

type mapEntry struct {
	key, state abi.Raw
	last       int64 // batch time of the last change, ms
	seq        int64
	prev, next int32 // by first appearance
	older      int32
	newer      int32
}

func (s *mapState) init() {
	if s.index == nil {
		s.index = map[string]int32{}
		s.first, s.last, s.oldest, s.newest = -1, -1, -1, -1
	}
}

func (s *mapState) find(k abi.Raw) (int32, bool) {
	if e, ok := s.index[string(k)]; ok {
		return e, true
	}
	return -1, false
}

// put adds a key that has no entry, changed at time t.
func (s *mapState) put(k, v abi.Raw, t int64) {
	s.init()
	if e, ok := s.index[string(k)]; ok {
		s.set(e, v, t)
		return
	}
	var e int32
	if n := len(s.free); n > 0 {
		e, s.free = s.free[n-1], s.free[:n-1]
	} else {
		e = int32(len(s.ents))
		s.ents = append(s.ents, mapEntry{})
	}
	key := s.mem.copy(k)
	s.ents[e] = mapEntry{key: key, state: s.mem.copy(v), last: t, seq: s.seq, prev: s.last, next: -1, older: s.newest, newer: -1}
	s.seq++
	if s.last >= 0 {
		s.ents[s.last].next = e
	} else {
		s.first = e
	}
	s.last = e
	if s.newest >= 0 {
		s.ents[s.newest].newer = e
	} else {
		s.oldest = e
	}
	s.newest = e
	s.index[string(key)] = e
	s.n++
}

// set replaces entry e's state, changed at time t.
func (s *mapState) set(e int32, v abi.Raw, t int64) {
	s.mem.release(len(s.ents[e].state))
	s.ents[e].state = s.mem.copy(v)
	s.touch(e, t)
}

// touch moves entry e to the newest end of the time list, at time t
// (batch times never decrease, so the list stays sorted).
func (s *mapState) touch(e int32, t int64) {
	en := &s.ents[e]
	en.last = t
	if s.newest == e {
		return
	}
	s.unlinkTime(e)
	en.older, en.newer = s.newest, -1
	s.ents[s.newest].newer = e
	s.newest = e
}

func (s *mapState) unlinkTime(e int32) {
	en := &s.ents[e]
	if en.older >= 0 {
		s.ents[en.older].newer = en.newer
	} else {
		s.oldest = en.newer
	}
	if en.newer >= 0 {
		s.ents[en.newer].older = en.older
	} else {
		s.newest = en.older
	}
}

func (s *mapState) remove(e int32) {
	en := &s.ents[e]
	s.unlinkTime(e)
	if en.prev >= 0 {
		s.ents[en.prev].next = en.next
	} else {
		s.first = en.next
	}
	if en.next >= 0 {
		s.ents[en.next].prev = en.prev
	} else {
		s.last = en.prev
	}
	delete(s.index, string(en.key))
	s.mem.release(len(en.key) + len(en.state))
	*en = mapEntry{}
	s.free = append(s.free, e)
	s.n--
}

// compact copies the live keys and states into a fresh arena when most of
// the old one is garbage.
func (s *mapState) compact() {
	if !s.mem.wasteful() {
		return
	}
	var fresh arena
	for e := s.first; e >= 0; e = s.ents[e].next {
		en := &s.ents[e]
		en.key, en.state = fresh.copy(en.key), fresh.copy(en.state)
	}
	s.mem = fresh
}

// snapshot: [started, [[key, state, last], ...]] in order of first
// appearance.
func (m *mapStateStage) snapshot(dst []byte) []byte {
	dst = append(dst, 0x92)
	dst = abi.AppendBool(dst, m.started)
	dst = abi.AppendArrayHeader(dst, m.st.n)
	for e := m.st.first; e >= 0; e = m.st.ents[e].next {
		en := &m.st.ents[e]
		dst = append(dst, 0x93)
		dst = append(dst, en.key...)
		dst = append(dst, en.state...)
		dst = abi.AppendInt(dst, en.last)
	}
	return dst
}

func (m *mapStateStage) restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil || n != 2 {
		return errors.New("mapWithState state: want [started, entries]")
	}
	if m.started, rest, err = abi.ReadBool(rest); err != nil {
		return err
	}
	if n, rest, err = abi.ArrayHeader(rest); err != nil {
		return err
	}
	type saved struct {
		key, state abi.Raw
		last       int64
	}
	all := make([]saved, n)
	for i := range all {
		var m3 int
		if m3, rest, err = abi.ArrayHeader(rest); err != nil || m3 != 3 {
			return fmt.Errorf("mapWithState state entry %d: want [key, state, last]", i)
		}
		if all[i].key, rest, err = abi.Next(rest); err != nil {
			return err
		}
		if all[i].state, rest, err = abi.Next(rest); err != nil {
			return err
		}
		if all[i].last, rest, err = abi.ReadInt(rest); err != nil {
			return err
		}
	}
	// Entries go back in order of first appearance; the time list is that
	// order sorted by last change, as put and touch kept it.
	m.st = mapState{}
	m.st.init()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return all[order[i]].last < all[order[j]].last })
	for _, i := range order {
		m.st.put(all[i].key, all[i].state, all[i].last)
	}
	// put appended in time order: relink the first-appearance list in the
	// saved order.
	m.st.first, m.st.last = -1, -1
	for i := range all {
		e := m.st.index[string(all[i].key)]
		en := &m.st.ents[e]
		en.seq, en.prev, en.next = int64(i), m.st.last, -1
		if m.st.last >= 0 {
			m.st.ents[m.st.last].next = e
		} else {
			m.st.first = e
		}
		m.st.last = e
	}
	m.st.seq = int64(n)
	return nil
}
