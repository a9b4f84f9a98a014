package operators

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// streamJoinStage is Structured Streaming's stream-stream join in event
// time (StreamingSymmetricHashJoinExec): join, leftOuterJoin,
// rightOuterJoin or fullOuterJoin with within:. Each side buffers its
// [k, v] rows; a left row at lt matches a right row of the same key at rt
// when rt − before ≤ lt ≤ rt + after. Per trigger, with the watermark wm:
//
//  1. rows at or before the previous trigger's watermark are late and
//     dropped (to the late: sink);
//  2. each left row joins the buffered right rows, then is buffered with a
//     matched flag; then each right row joins the buffered left rows (this
//     trigger's included), marking those it matches, and is buffered too;
//  3. rows no future row can match leave the buffers: a left row when
//     lt ≤ wm − before − 1 ms, a right row when rt ≤ wm − after − 1 ms
//     (Spark's state value watermarks, StreamingJoinHelper); an outer join
//     emits each row of its preserved side that leaves without ever having
//     matched, as [k, [lv, null]] or [k, [null, rv]].
//
// A right row that would leave in the trigger it arrives is not buffered,
// unless it is the unmatched row of a right or full outer join, as in
// Spark. Identical rows are buffered and joined separately. Joined rows
// are [k, [lv, rv]].
type streamJoinStage struct {
	kind          joinKind
	label         string
	other         *stream
	before, after int64 // ms
	clock         *eventClock
	leftTime      timeFunc
	rightTime     timeFunc
	leftMark      *watermarkStage
	left, right   joinBuffer
	// lateWM is the watermark of the previous trigger. Spark filters late
	// rows with it and evicts with the current one; they differ only in a
	// trigger right after the watermark moved without a no-data trigger
	// (noDataBatches: false, trigger: once).
	lateWM int64
}

func buildStreamJoin(b *builder, s pipeline.Stage, label string, kind joinKind) (stage, error) {
	if err := only(s, label, "other", "within"); err != nil {
		return nil, err
	}
	if s.Other == "" {
		return nil, fmt.Errorf("%s needs other: (the stream to join with)", label)
	}
	other := b.byName[s.Other]
	j := &streamJoinStage{kind: kind, label: label, other: other, before: s.Within.Before.D().Milliseconds(), after: s.Within.After.D().Milliseconds(), clock: b.events()}
	for _, side := range []struct {
		mark   *watermarkStage
		stream string
		dst    *timeFunc
	}{{b.chainMark, "this stream", &j.leftTime}, {other.mark, "stream " + other.name, &j.rightTime}} {
		if side.mark == nil {
			return nil, fmt.Errorf("%s: a join with within: matches rows by event time, and %s has no withWatermark upstream: add {op: withWatermark, time: FN, delay: D} before its rows are keyed into [k, v] pairs (the time function then reads v)", label, side.stream)
		}
		*side.dst = side.mark.fn
	}
	j.leftMark = b.chainMark
	b.events().evicting = true // a watermark move evicts, and outer joins emit then
	return j, nil
}

// afterJoin checks a stage that reads rows a stream-stream join produced,
// where join is that join. Another join with within: cannot follow: its
// event times come from withWatermark's function of v, and v is now a
// [left, right] pair. No event-time state can follow an outer join: the
// join emits its unmatched rows only once the watermark has passed them, so
// the later operator would drop them all as late (Spark moves back the
// watermark such operators see; wstream does not).
func afterJoin(join *streamJoinStage, s pipeline.Stage, label string) error {
	info, ok := stateOf(s)
	if !ok || !info.eventTime || s.Op == "withWatermark" {
		return nil
	}
	if s.Within.Set {
		return fmt.Errorf("%s: a join with within: cannot read the output of another (%s): one stream-stream join per pipeline", label, join.label)
	}
	if join.kind != joinInner {
		return fmt.Errorf("%s: %s cannot follow the outer join %s: the join emits its unmatched rows once the watermark has passed them, so %s would drop them as late; aggregate in a pipeline that reads the join's output", label, s.Op, join.label, s.Op)
	}
	return nil
}

func (j *streamJoinStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	wm, late := j.clock.wm, j.lateWM
	leftGone, rightGone := wm-j.before-1, wm-j.after-1
	var out []abi.Raw
	var buf arena // joined records, cut from shared chunks
	emit := func(k, lv, rv abi.Raw) {
		rec := buf.alloc(2 + len(k) + len(lv) + len(rv))
		rec[0] = 0x92
		n := 1 + copy(rec[1:], k)
		rec[n] = 0x92
		copy(rec[n+1+copy(rec[n+1:], lv):], rv)
		out = append(out, rec)
	}
	nilRaw := abi.Raw{0xc0}

	lk, lv, lt, err := j.rows(ctx, in, j.leftTime, j.leftMark, j.label)
	if err != nil {
		return nil, false, err
	}
	rk, rv, rt, err := j.rows(ctx, j.other.out, j.rightTime, j.other.mark, j.label+" (other: "+j.other.name+")")
	if err != nil {
		return nil, false, err
	}
	j.lateWM = wm
	for i := range lk {
		if lt[i] <= late {
			j.late(in[i])
			continue
		}
		matched := false
		h := maphash.Bytes(hashSeed, lk[i])
		j.right.each(lk[i], h, func(row *joinRow) {
			if row.time-j.before <= lt[i] && lt[i] <= row.time+j.after {
				emit(lk[i], lv[i], j.right.val(row))
				row.matched, matched = true, true
			}
		})
		j.left.add(lk[i], lv[i], h, lt[i], matched)
	}
	for i := range rk {
		if rt[i] <= late {
			j.late(j.other.out[i])
			continue
		}
		matched := false
		h := maphash.Bytes(hashSeed, rk[i])
		j.left.each(rk[i], h, func(row *joinRow) {
			if rt[i]-j.before <= row.time && row.time <= rt[i]+j.after {
				emit(rk[i], j.left.val(row), rv[i])
				row.matched, matched = true, true
			}
		})
		keepsUnmatched := !matched && (j.kind == joinRight || j.kind == joinFull)
		if rt[i] > rightGone || keepsUnmatched {
			j.right.add(rk[i], rv[i], h, rt[i], matched)
		}
	}
	// Evict, the preserved sides first, emitting the rows that never matched.
	outerLeft := j.kind == joinLeft || j.kind == joinFull
	outerRight := j.kind == joinRight || j.kind == joinFull
	j.left.evict(leftGone, func(row *joinRow) {
		if outerLeft && !row.matched {
			emit(j.left.key(row), j.left.val(row), nilRaw)
		}
	})
	j.right.evict(rightGone, func(row *joinRow) {
		if outerRight && !row.matched {
			emit(j.right.key(row), nilRaw, j.right.val(row))
		}
	})
	return out, true, nil
}

// rows splits a side's [k, v] records and computes each v's event time.
// When each v is the record its withWatermark read, in the same order (the
// usual pipeline: withWatermark, then a map that keys each row), the times
// it computed are reused instead of calling the time function again.
func (j *streamJoinStage) rows(ctx context.Context, in []abi.Raw, tf timeFunc, mark *watermarkStage, label string) (keys, vals []abi.Raw, times []int64, err error) {
	if len(in) == 0 {
		return nil, nil, nil, nil
	}
	keys, vals = make([]abi.Raw, len(in)), make([]abi.Raw, len(in))
	same := mark != nil && len(mark.lastIn) == len(in)
	for i, r := range in {
		if keys[i], vals[i], err = abi.SplitPair(r); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: record %d: %v (a join reads [key, value] pairs: key the rows after withWatermark, e.g. with a map)", label, i, err)
		}
		same = same && bytes.Equal(vals[i], mark.lastIn[i])
	}
	if same {
		return keys, vals, mark.lastTimes, nil
	}
	var bad []bool
	if times, bad, err = tf.times(ctx, vals); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: event time of a value: %w", label, err)
	}
	if bad != nil { // rows whose time could not be read, set aside by onError
		n := 0
		for i := range vals {
			if !bad[i] {
				keys[n], vals[n], times[n] = keys[i], vals[i], times[i]
				n++
			}
		}
		keys, vals, times = keys[:n], vals[:n], times[:n]
	}
	return keys, vals, times, nil
}

func (j *streamJoinStage) late(r abi.Raw) {
	j.clock.late = append(j.clock.late, r)
	j.clock.lateTotal++
}

// joinBuffer is one side's buffered rows, in arrival order. Nothing in it
// holds a Go pointer but the chunks of bytes, so a buffer of millions of
// rows costs the garbage collector a few objects: rows are indexes into
// byte chunks, chained per key through a map from the key's hash. An
// evicted row stays in rows as a hole until holes outnumber the live rows;
// then rows is compacted, which keeps arrival order without a sort.
type joinBuffer struct {
	rows    []joinRow
	holes   int
	chains  map[uint64]chain // a key's hash -> its rows (with any other key of that hash)
	minTime int64            // no live row is older: an eviction below it finds nothing
	data    rowBytes
}

// chain is the first and last row of a hash chain, in arrival order.
type chain struct{ head, tail int32 }

// joinRow is a buffered [k, v] record and its event time.
type joinRow struct {
	at         rowAt // the record [k, v] in data
	klen       uint32
	time       int64
	prev, next int32 // in the row's hash chain, -1 at the ends
	matched    bool
	live       bool
}

// hashSeed makes key hashes; rows are found by hash and then by comparing
// the key's bytes, so the seed may differ between runs.
var hashSeed = maphash.MakeSeed()

func (b *joinBuffer) rec(r *joinRow) abi.Raw { return b.data.get(r.at) }

func (b *joinBuffer) key(r *joinRow) abi.Raw { return b.rec(r)[1 : 1+r.klen] }

func (b *joinBuffer) val(r *joinRow) abi.Raw { return b.rec(r)[1+r.klen:] }

// each calls f for every live row of key k (whose hash is h), in arrival
// order.
func (b *joinBuffer) each(k abi.Raw, h uint64, f func(*joinRow)) {
	c, ok := b.chains[h]
	if !ok {
		return
	}
	for i := c.head; i >= 0; i = b.rows[i].next {
		r := &b.rows[i]
		if bytes.Equal(b.key(r), k) {
			f(r)
		}
	}
}

func (b *joinBuffer) add(k, v abi.Raw, h uint64, t int64, matched bool) {
	if b.chains == nil {
		b.chains = map[uint64]chain{}
	}
	if len(b.rows)-b.holes == 0 || t < b.minTime {
		b.minTime = t
	}
	i := int32(len(b.rows))
	b.rows = append(b.rows, joinRow{at: b.data.pair(k, v), klen: uint32(len(k)), time: t, prev: -1, next: -1, matched: matched, live: true})
	b.link(i, h)
}

// link appends row i to the chain of hash h.
func (b *joinBuffer) link(i int32, h uint64) {
	c, ok := b.chains[h]
	if !ok {
		b.chains[h] = chain{i, i}
		return
	}
	b.rows[c.tail].next, b.rows[i].prev = i, c.tail
	c.tail = i
	b.chains[h] = c
}

// evict removes the live rows with time ≤ upTo, in arrival order, calling
// gone for each before it goes.
func (b *joinBuffer) evict(upTo int64, gone func(*joinRow)) {
	if len(b.rows) == b.holes || upTo < b.minTime {
		return
	}
	min, first := int64(0), true
	for i := range b.rows {
		r := &b.rows[i]
		if !r.live {
			continue
		}
		if r.time > upTo {
			if first || r.time < min {
				min, first = r.time, false
			}
			continue
		}
		gone(r)
		h := maphash.Bytes(hashSeed, b.key(r))
		c := b.chains[h]
		switch {
		case r.prev < 0 && r.next < 0:
			delete(b.chains, h)
		case r.prev < 0:
			c.head, b.rows[r.next].prev = r.next, -1
			b.chains[h] = c
		case r.next < 0:
			c.tail, b.rows[r.prev].next = r.prev, -1
			b.chains[h] = c
		default:
			b.rows[r.prev].next, b.rows[r.next].prev = r.next, r.prev
		}
		b.data.free(r.at)
		*r = joinRow{}
		b.holes++
	}
	b.minTime = min
	if b.holes > len(b.rows)/2 {
		b.compact()
	}
}

// compact drops the holes in place and renumbers the chains, so that it
// allocates nothing but a renumbering table; and it copies the bytes into
// fresh chunks when most of the old ones are garbage.
func (b *joinBuffer) compact() {
	renum := make([]int32, len(b.rows))
	n := int32(0)
	for i := range b.rows {
		renum[i] = n
		if b.rows[i].live {
			n++
		}
	}
	at := func(i int32) int32 {
		if i < 0 {
			return -1
		}
		return renum[i]
	}
	var data rowBytes
	fresh := b.data.wasteful()
	for i := range b.rows {
		r := b.rows[i]
		if !r.live {
			continue
		}
		if fresh {
			r.at = data.copy(b.data.get(r.at))
		}
		r.prev, r.next = at(r.prev), at(r.next)
		b.rows[renum[i]] = r
	}
	if fresh {
		b.data = data
	}
	clear(b.rows[n:])
	b.rows, b.holes = b.rows[:n], 0
	for h, c := range b.chains { // changing the values of existing keys while ranging is allowed
		b.chains[h] = chain{at(c.head), at(c.tail)}
	}
}

// rowBytes stores the records of a join buffer in large chunks, addressed
// by chunk and offset rather than by slice, so that rows hold no pointers.
// A chunk whose records have all left is dropped: rows arrive roughly in
// event-time order and leave in it, so old chunks empty out whole.
type rowBytes struct {
	chunks [][]byte
	live   []int // live bytes per chunk
	used   int   // bytes in chunks that still exist
	inUse  int   // of which live
}

// rowAt is where a record lies in a rowBytes.
type rowAt struct{ chunk, off, n uint32 }

const rowChunk = 1 << 20

func (d *rowBytes) alloc(n int) (rowAt, []byte) {
	last := len(d.chunks) - 1
	if last < 0 || d.chunks[last] == nil || len(d.chunks[last])+n > cap(d.chunks[last]) {
		d.chunks = append(d.chunks, make([]byte, 0, max(rowChunk, n)))
		d.live = append(d.live, 0)
		last++
	}
	c := d.chunks[last]
	off := len(c)
	d.chunks[last] = c[:off+n]
	d.live[last] += n
	d.used += n
	d.inUse += n
	return rowAt{uint32(last), uint32(off), uint32(n)}, d.chunks[last][off : off+n]
}

// pair stores the record [k, v].
func (d *rowBytes) pair(k, v abi.Raw) rowAt {
	at, dst := d.alloc(1 + len(k) + len(v))
	dst[0] = 0x92
	copy(dst[1+copy(dst[1:], k):], v)
	return at
}

func (d *rowBytes) copy(b []byte) rowAt {
	at, dst := d.alloc(len(b))
	copy(dst, b)
	return at
}

func (d *rowBytes) get(at rowAt) abi.Raw {
	return d.chunks[at.chunk][at.off : at.off+at.n : at.off+at.n]
}

// free releases a record's bytes, and its chunk once the chunk holds no
// live record and is not the one being filled.
func (d *rowBytes) free(at rowAt) {
	d.live[at.chunk] -= int(at.n)
	d.inUse -= int(at.n)
	if d.live[at.chunk] == 0 && int(at.chunk) != len(d.chunks)-1 {
		d.used -= len(d.chunks[at.chunk])
		d.chunks[at.chunk] = nil
	}
}

// wasteful reports whether copying the live records into fresh chunks
// would free more than it costs (as arena.wasteful).
func (d *rowBytes) wasteful() bool {
	garbage := d.used - d.inUse
	return garbage > d.inUse && garbage > arenaSlack
}

// snapshot: [lateWM, left rows, right rows], each row [k, v, time, matched]
// in arrival order.
func (j *streamJoinStage) snapshot(dst []byte) []byte {
	size := 1 + 9
	for _, b := range []*joinBuffer{&j.left, &j.right} {
		size += 5 + b.data.inUse + 11*(len(b.rows)-b.holes)
	}
	dst = slices.Grow(dst, size)
	dst = append(dst, 0x93)
	dst = abi.AppendInt(dst, j.lateWM)
	for _, b := range []*joinBuffer{&j.left, &j.right} {
		dst = abi.AppendArrayHeader(dst, len(b.rows)-b.holes)
		for i := range b.rows {
			r := &b.rows[i]
			if !r.live {
				continue
			}
			dst = append(dst, 0x94)
			dst = append(dst, b.rec(r)[1:]...) // k and v
			dst = abi.AppendInt(dst, r.time)
			dst = abi.AppendBool(dst, r.matched)
		}
	}
	return dst
}

func (j *streamJoinStage) restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil || n != 3 {
		return fmt.Errorf("join state: want [watermark, left rows, right rows]")
	}
	if j.lateWM, rest, err = abi.ReadInt(rest); err != nil {
		return err
	}
	for side, buf := range []*joinBuffer{&j.left, &j.right} {
		*buf = joinBuffer{}
		var m int
		if m, rest, err = abi.ArrayHeader(rest); err != nil {
			return err
		}
		for i := 0; i < m; i++ {
			var f int
			if f, rest, err = abi.ArrayHeader(rest); err != nil || f != 4 {
				return fmt.Errorf("join state: side %d row %d: want [key, value, time, matched]", side, i)
			}
			var k, v abi.Raw
			var t int64
			var matched bool
			if k, rest, err = abi.Next(rest); err != nil {
				return err
			}
			if v, rest, err = abi.Next(rest); err != nil {
				return err
			}
			if t, rest, err = abi.ReadInt(rest); err != nil {
				return err
			}
			if matched, rest, err = abi.ReadBool(rest); err != nil {
				return err
			}
			buf.add(k, v, maphash.Bytes(hashSeed, k), t, matched)
		}
	}
	return nil
}
