package operators

import (
	"context"
	"fmt"

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
	j.lateWM = wm
	leftGone, rightGone := wm-j.before-1, wm-j.after-1
	var out []abi.Raw
	var buf []byte
	emit := func(k, lv, rv abi.Raw) {
		start := len(buf)
		buf = append(buf, 0x92)
		buf = append(buf, k...)
		buf = append(buf, 0x92)
		buf = append(buf, lv...)
		buf = append(buf, rv...)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	nilRaw := abi.Raw{0xc0}

	lk, lv, lt, err := j.rows(ctx, in, j.leftTime, j.label)
	if err != nil {
		return nil, false, err
	}
	rk, rv, rt, err := j.rows(ctx, j.other.out, j.rightTime, j.label+" (other: "+j.other.name+")")
	if err != nil {
		return nil, false, err
	}
	for i := range lk {
		if lt[i] <= late {
			j.late(in[i])
			continue
		}
		matched := false
		for _, r := range j.right.keys[string(lk[i])] {
			row := &j.right.rows[r]
			if row.time-j.before <= lt[i] && lt[i] <= row.time+j.after {
				emit(lk[i], lv[i], row.val())
				row.matched, matched = true, true
			}
		}
		j.left.add(lk[i], lv[i], lt[i], matched)
	}
	for i := range rk {
		if rt[i] <= late {
			j.late(j.other.out[i])
			continue
		}
		matched := false
		for _, l := range j.left.keys[string(rk[i])] {
			row := &j.left.rows[l]
			if rt[i]-j.before <= row.time && row.time <= rt[i]+j.after {
				emit(rk[i], row.val(), rv[i])
				row.matched, matched = true, true
			}
		}
		keepsUnmatched := !matched && (j.kind == joinRight || j.kind == joinFull)
		if rt[i] > rightGone || keepsUnmatched {
			j.right.add(rk[i], rv[i], rt[i], matched)
		}
	}
	// Evict, the preserved sides first, emitting the rows that never matched.
	outerLeft := j.kind == joinLeft || j.kind == joinFull
	outerRight := j.kind == joinRight || j.kind == joinFull
	j.left.evict(leftGone, func(row *joinRow) {
		if outerLeft && !row.matched {
			emit(row.key(), row.val(), nilRaw)
		}
	})
	j.right.evict(rightGone, func(row *joinRow) {
		if outerRight && !row.matched {
			emit(row.key(), nilRaw, row.val())
		}
	})
	return out, true, nil
}

// rows splits a side's [k, v] records and computes each v's event time.
func (j *streamJoinStage) rows(ctx context.Context, in []abi.Raw, tf timeFunc, label string) (keys, vals []abi.Raw, times []int64, err error) {
	if len(in) == 0 {
		return nil, nil, nil, nil
	}
	keys, vals = make([]abi.Raw, len(in)), make([]abi.Raw, len(in))
	for i, r := range in {
		if keys[i], vals[i], err = abi.SplitPair(r); err != nil {
			return nil, nil, nil, fmt.Errorf("%s: record %d: %v (a join reads [key, value] pairs: key the rows after withWatermark, e.g. with a map)", label, i, err)
		}
	}
	if times, err = tf.times(ctx, vals); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: event time of a value: %w", label, err)
	}
	return keys, vals, times, nil
}

func (j *streamJoinStage) late(r abi.Raw) {
	j.clock.late = append(j.clock.late, r)
	j.clock.lateTotal++
}

// joinBuffer is one side's buffered rows, in arrival order. An evicted row
// stays in rows as a hole until holes outnumber the live rows; then rows is
// compacted, which keeps arrival order without a sort.
type joinBuffer struct {
	rows    []joinRow
	holes   int
	keys    map[string][]int32 // live rows by key, in arrival order
	minTime int64              // no live row is older: an eviction below it finds nothing
	mem     arena
}

// joinRow is a buffered [k, v] record and its event time.
type joinRow struct {
	rec     abi.Raw // [k, v], with k's length in klen
	klen    int32
	time    int64
	matched bool
	live    bool
}

func (r *joinRow) key() abi.Raw { return r.rec[1 : 1+r.klen] }
func (r *joinRow) val() abi.Raw { return r.rec[1+r.klen:] }

func (b *joinBuffer) add(k, v abi.Raw, t int64, matched bool) {
	if b.keys == nil {
		b.keys = map[string][]int32{}
	}
	if len(b.rows)-b.holes == 0 || t < b.minTime {
		b.minTime = t
	}
	i := int32(len(b.rows))
	b.rows = append(b.rows, joinRow{rec: b.mem.pair(k, v), klen: int32(len(k)), time: t, matched: matched, live: true})
	b.keys[string(k)] = append(b.keys[string(k)], i)
}

// evict removes the live rows with time ≤ upTo, in arrival order, calling
// gone for each before it goes.
func (b *joinBuffer) evict(upTo int64, gone func(*joinRow)) {
	if len(b.rows) == b.holes || upTo < b.minTime {
		return
	}
	min := int64(0)
	first := true
	for i := range b.rows {
		row := &b.rows[i]
		if !row.live {
			continue
		}
		if row.time > upTo {
			if first || row.time < min {
				min, first = row.time, false
			}
			continue
		}
		gone(row)
		k := string(row.key())
		list := b.keys[k]
		for j, r := range list {
			if r == int32(i) {
				list = append(list[:j], list[j+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(b.keys, k)
		} else {
			b.keys[k] = list
		}
		b.mem.release(len(row.rec))
		row.live, row.rec = false, nil
		b.holes++
	}
	b.minTime = min
	if b.holes > len(b.rows)/2 {
		b.compact()
	}
}

// compact drops the holes, renumbering the rows in the key lists, and
// copies the bytes into a fresh arena when most of the old one is garbage.
func (b *joinBuffer) compact() {
	rows := make([]joinRow, 0, len(b.rows)-b.holes)
	fresh := b.mem.wasteful()
	var mem arena
	for _, r := range b.rows {
		if r.live {
			if fresh {
				r.rec = mem.copy(r.rec)
			}
			rows = append(rows, r)
		}
	}
	if fresh {
		b.mem = mem
	}
	b.rows, b.holes = rows, 0
	b.keys = make(map[string][]int32, len(b.keys))
	for i := range rows {
		k := string(rows[i].key())
		b.keys[k] = append(b.keys[k], int32(i))
	}
}

// snapshot: [lateWM, left rows, right rows], each row [k, v, time, matched]
// in arrival order.
func (j *streamJoinStage) snapshot(dst []byte) []byte {
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
			dst = append(dst, r.key()...)
			dst = append(dst, r.val()...)
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
			buf.add(k, v, t, matched)
		}
	}
	return nil
}
