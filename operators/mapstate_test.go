package operators

import (
	"fmt"
	"hash/maphash"
	"math/rand"
	"sort"
	"testing"

	"github.com/wstream/wstream/abi"
)

// mapModel is what mapState must behave like: a map with, per key, its
// state, its last change and its place in order of first appearance.
type mapModel struct {
	state map[string]string
	last  map[string]int64
	seq   map[string]int
	next  int
}

func str(s string) abi.Raw { return abi.AppendString(nil, s) }

// TestMapStateAgainstAModel drives mapState with random puts, changes,
// touches and removes, and checks both of its orders, its index and its
// checkpoint round trip against a plain model after every step.
func TestMapStateAgainstAModel(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var s mapState
	s.init()
	m := mapModel{state: map[string]string{}, last: map[string]int64{}, seq: map[string]int{}}
	for step := 0; step < 2000; step++ {
		tm := int64(step / 10)
		k := fmt.Sprintf("k%d", rng.Intn(40))
		e, ok := s.find(str(k))
		if _, inModel := m.state[k]; ok != inModel {
			t.Fatalf("step %d: find(%s) = %v, model has it: %v", step, k, ok, inModel)
		}
		v := fmt.Sprintf("v%d-%s", step, string(make([]byte, rng.Intn(40))))
		switch op := rng.Intn(4); {
		case op == 0 && ok:
			s.remove(e)
			delete(m.state, k)
			delete(m.last, k)
			delete(m.seq, k)
		case op == 1 && ok:
			s.touch(e, tm)
			m.last[k] = tm
		case ok:
			s.set(e, str(v), tm)
			m.state[k], m.last[k] = v, tm
		default:
			s.put(str(k), str(v), tm)
			m.state[k], m.last[k], m.seq[k] = v, tm, m.next
			m.next++
		}
		s.compact()
		checkMapState(t, step, &s, &m)
	}
	if s.mem.used-s.mem.live > 4*arenaSlack {
		t.Errorf("the arena kept %d bytes of garbage", s.mem.used-s.mem.live)
	}
}

func checkMapState(t *testing.T, step int, s *mapState, m *mapModel) {
	t.Helper()
	keys := make([]string, 0, len(m.state))
	for k := range m.state {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m.seq[keys[i]] < m.seq[keys[j]] })
	var got []string
	for e := s.first; e >= 0; e = s.ents[e].next {
		k, _, _ := abi.ReadString(s.ents[e].key)
		v, _, _ := abi.ReadString(s.ents[e].state)
		if v != m.state[k] || s.ents[e].last != m.last[k] {
			t.Fatalf("step %d: %s = %q at %d, want %q at %d", step, k, v, s.ents[e].last, m.state[k], m.last[k])
		}
		got = append(got, k)
	}
	if fmt.Sprint(got) != fmt.Sprint(keys) || s.n != len(keys) || len(s.index) != len(keys) {
		t.Fatalf("step %d: order of first appearance %v (n %d), want %v", step, got, s.n, keys)
	}
	prev, count := int64(-1), 0
	for e := s.oldest; e >= 0; e = s.ents[e].newer {
		if s.ents[e].last < prev {
			t.Fatalf("step %d: the time list is out of order", step)
		}
		prev = s.ents[e].last
		count++
	}
	if count != len(keys) {
		t.Fatalf("step %d: the time list has %d entries, want %d", step, count, len(keys))
	}
	// A checkpoint restores the same state, in the same orders.
	a := &mapStateStage{st: *s, started: true}
	b := &mapStateStage{}
	if err := b.restore(a.snapshot(nil)); err != nil {
		t.Fatalf("step %d: restore: %v", step, err)
	}
	if string(b.snapshot(nil)) != string(a.snapshot(nil)) {
		t.Fatalf("step %d: a restored state snapshots differently", step)
	}
}

// joinModel row: what joinBuffer must keep.
type modelRow struct {
	key     string
	time    int64
	matched bool
}

// TestJoinBufferAgainstAModel adds rows, marks some matched and evicts by
// time, checking the survivors, their order, the key lists and the
// checkpoint round trip against a plain list.
func TestJoinBufferAgainstAModel(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	var b joinBuffer
	var model []modelRow
	for step := 0; step < 3000; step++ {
		switch rng.Intn(3) {
		case 0, 1:
			r := modelRow{key: fmt.Sprintf("k%d", rng.Intn(20)), time: int64(step + rng.Intn(50)), matched: rng.Intn(2) == 0}
			b.add(str(r.key), abi.AppendInt(nil, r.time), maphash.Bytes(hashSeed, str(r.key)), r.time, r.matched)
			model = append(model, r)
		default:
			upTo := int64(step - rng.Intn(30))
			var gone []modelRow
			b.evict(upTo, func(r *joinRow) {
				k, _, _ := abi.ReadString(b.key(r))
				gone = append(gone, modelRow{k, r.time, r.matched})
			})
			var want, kept []modelRow
			for _, r := range model {
				if r.time <= upTo {
					want = append(want, r)
				} else {
					kept = append(kept, r)
				}
			}
			model = kept
			if fmt.Sprint(gone) != fmt.Sprint(want) {
				t.Fatalf("step %d: evicted %v, want %v", step, gone, want)
			}
		}
		var live []modelRow
		byKey := map[string]int{}
		for i := range b.rows {
			r := &b.rows[i]
			if !r.live {
				continue
			}
			k, _, _ := abi.ReadString(b.key(r))
			if tm, _, _ := abi.ReadInt(b.val(r)); tm != r.time {
				t.Fatalf("step %d: row value %d, time %d", step, tm, r.time)
			}
			live = append(live, modelRow{k, r.time, r.matched})
			byKey[k]++
		}
		if fmt.Sprint(live) != fmt.Sprint(model) {
			t.Fatalf("step %d: rows %v, want %v", step, live, model)
		}
		for k, n := range byKey {
			var times []int64
			b.each(str(k), maphash.Bytes(hashSeed, str(k)), func(r *joinRow) { times = append(times, r.time) })
			var want []int64
			for _, r := range live {
				if r.key == k {
					want = append(want, r.time)
				}
			}
			if len(times) != n || fmt.Sprint(times) != fmt.Sprint(want) {
				t.Fatalf("step %d: key %s chains %v, want %v", step, k, times, want)
			}
		}
		if len(b.chains) != len(byKey) {
			t.Fatalf("step %d: %d chains, %d live keys", step, len(b.chains), len(byKey))
		}
		j := &streamJoinStage{left: b}
		j2 := &streamJoinStage{}
		if err := j2.restore(j.snapshot(nil)); err != nil || string(j2.snapshot(nil)) != string(j.snapshot(nil)) {
			t.Fatalf("step %d: checkpoint round trip: %v", step, err)
		}
	}
}

// The checkpoint's shape tells apart every timeout, output and join range,
// so that a restart with another refuses the state instead of misusing it.
func TestShapeNamesTheKeyedFields(t *testing.T) {
	shapes := map[string]string{}
	for _, y := range []string{
		`stages: [{op: mapWithState, fn: f}]`,
		`stages: [{op: mapWithState, fn: f, timeout: 1s}]`,
		`stages: [{op: mapWithState, fn: f, timeout: 2s}]`,
		`stages: [{op: mapWithState, fn: f, output: snapshots}]`,
		`stages: [{op: join, other: x}]`,
		`stages: [{op: join, other: x, within: 1s}]`,
		`stages: [{op: join, other: x, within: {before: 1s, after: 2s}}]`,
		`stages: [{op: join, other: x, within: {before: 2s, after: 1s}}]`,
	} {
		shape := stageShape(spec(t, y).Stages[0])
		if prev, dup := shapes[shape]; dup {
			t.Errorf("%s and %s have the same shape %q", prev, y, shape)
		}
		shapes[shape] = y
	}
}
