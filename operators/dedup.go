package operators

import (
	"context"
	"fmt"
	"slices"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// dropDuplicates is Spark's dropDuplicates(cols): rows are taken in batch
// order and the first row of each key passes. With a withWatermark before
// it, a row whose event time is at or below the watermark is dropped as
// late whatever its key, and a stored key is forgotten once its event time
// is at or below the watermark, but only when the key holds the event time
// (no key: the whole record, or the withWatermark's own time path or
// function, alone or in a list); any other key is kept for ever, as in
// Spark, where state grows without bound.
//
// dropDuplicatesWithinWatermark is Spark 3.5's: it needs a withWatermark;
// late rows are dropped; a new key is kept until its first row's event time
// plus the watermark delay (a later duplicate does not extend it) is at or
// below the watermark.

func init() {
	ops["dropDuplicates"] = dedupOp(false)
	ops["dropDuplicatesWithinWatermark"] = dedupOp(true)
}

type dedupStage struct {
	label  string
	within bool
	key    *keyer // nil: the whole record
	pol    *policy
	times  *eventTimes // nil without a watermark
	clock  *eventClock
	delay  int64 // within: the watermark delay
	// evicts: keys are forgotten with the watermark (the key holds the
	// event time, or within).
	evicts bool

	seen map[string]int64 // key -> event time, or expiry (within)
	// swept is the watermark the last eviction ran at: keys only expire
	// when the watermark moves.
	swept int64
}

func dedupOp(within bool) opBuilder {
	return func(b *builder, s pipeline.Stage, label string) (stage, error) {
		if err := only(s, label, "key", "plugin", "onError"); err != nil {
			return nil, err
		}
		d := &dedupStage{label: label, within: within, clock: b.events(), seen: map[string]int64{}, swept: minTime}
		var err error
		if d.pol, err = b.policy(s, label); err != nil {
			return nil, err
		}
		if len(s.Key) > 0 {
			if d.key, err = b.keyer(s, label, d.pol); err != nil {
				return nil, err
			}
		}
		marks := b.events().marks
		if len(marks) == 0 {
			if within {
				return nil, fmt.Errorf("%s needs a watermark: add {op: withWatermark, time: .ts, delay: DURATION} before it (keys are kept for the delay); without one use dropDuplicates (Spark rejects this too)", label)
			}
			return d, nil
		}
		if d.times, err = b.eventTimes(s, label, d.pol, ""); err != nil {
			return nil, err
		}
		d.delay = marks[0].delay
		for _, m := range marks[1:] {
			if within && m.delay != d.delay {
				return nil, fmt.Errorf("%s: the inputs' withWatermark stages have different delays (%dms, %dms), and the delay is how long a key is kept; give them one delay", label, d.delay, m.delay)
			}
		}
		d.evicts = within || d.key == nil
		for _, f := range d.key.fieldsOrNil() {
			d.evicts = d.evicts || f.spec == d.times.spec.key()
		}
		b.registerAggregate(true)
		return d, nil
	}
}

// minTime is before every watermark.
const minTime = -1 << 63

func (k *keyer) fieldsOrNil() []*field {
	if k == nil {
		return nil
	}
	return k.fields
}

func (d *dedupStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer d.pol.flush()
	wm := d.clock.wm
	keys := in
	if d.key != nil {
		var err error
		if keys, err = d.key.keys(ctx, in, d.pol); err != nil {
			return nil, false, err
		}
	}
	var ts []int64
	var bad []bool
	if d.times != nil {
		var err error
		if ts, bad, err = d.times.times(ctx, in); err != nil {
			return nil, false, err
		}
	}
	out := make([]abi.Raw, 0, len(in))
	for i, r := range in {
		k := keys[i]
		if k == nil || bad != nil && bad[i] {
			continue
		}
		var t int64
		if ts != nil {
			t = ts[i]
			if t <= wm {
				d.clock.late = append(d.clock.late, r)
				d.clock.lateTotal++
				continue
			}
		}
		if _, dup := d.seen[string(k)]; dup {
			continue
		}
		if d.within {
			t += d.delay
		}
		d.seen[string(k)] = t
		out = append(out, r)
	}
	if d.evicts && wm > d.swept {
		for k, t := range d.seen {
			if t <= wm {
				delete(d.seen, k)
			}
		}
		d.swept = wm
	}
	return out, true, nil
}

// snapshot writes the kept keys in byte order, each as [key, time].
func (d *dedupStage) snapshot(dst []byte) []byte {
	keys := make([]string, 0, len(d.seen))
	for k := range d.seen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = abi.AppendArrayHeader(dst, len(keys))
	for _, k := range keys {
		dst = append(dst, 0x92)
		dst = append(dst, k...)
		dst = abi.AppendInt(dst, d.seen[k])
	}
	return dst
}

func (d *dedupStage) restore(b []byte) error {
	d.seen, d.swept = map[string]int64{}, minTime
	n, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return fmt.Errorf("deduplication state: %w", err)
	}
	for i := 0; i < n; i++ {
		var m int
		var k abi.Raw
		var t int64
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 2 {
			return fmt.Errorf("deduplication state, key %d: malformed", i)
		}
		if k, rest, err = abi.Next(rest); err != nil {
			return err
		}
		if t, rest, err = abi.ReadInt(rest); err != nil {
			return err
		}
		d.seen[string(k)] = t
	}
	return nil
}
