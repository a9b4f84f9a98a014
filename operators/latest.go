package operators

import (
	"context"
	"fmt"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// withLatest pairs each record x of its stream with the latest record of
// another stream: [x, latest], latest null until the other stream has
// produced one. With key: (read from the records of both streams) the
// latest is that of x's key. This is Spark's predictOn beside trainOn: a
// batch's records meet the other stream's value as it stood before the
// batch, and the other stream's records of a batch count from the next
// batch on, so a model trained on batch t predicts from batch t+1, whatever
// order the streams run in. Within a batch the other stream's last record
// of a key is its latest.

func init() { ops["withLatest"] = buildWithLatest }

type withLatestStage struct {
	other *stream
	key   *keyer // nil: one latest for the whole stream
	pol   *policy
	label string
	state recordKeys[abi.Raw]
}

func buildWithLatest(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "other", "key", "plugin", "onError"); err != nil {
		return nil, err
	}
	if s.Other == "" {
		return nil, fmt.Errorf("%s needs other: (the stream whose latest record each record is paired with, listed before this one)", label)
	}
	pol, err := b.policy(s, label)
	if err != nil {
		return nil, err
	}
	w := &withLatestStage{other: b.byName[s.Other], pol: pol, label: label}
	if len(s.Key) > 0 {
		if w.key, err = b.keyer(s, label, pol); err != nil {
			return nil, err
		}
	}
	b.after = append(b.after, w.takeIn)
	return w, nil
}

func (w *withLatestStage) keysOf(ctx context.Context, in []abi.Raw) ([]abi.Raw, error) {
	if w.key == nil {
		keys := make([]abi.Raw, len(in))
		for i := range keys {
			keys[i] = noKey
		}
		return keys, nil
	}
	return w.key.keys(ctx, in, w.pol)
}

func (w *withLatestStage) process(ctx context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer w.pol.flush()
	keys, err := w.keysOf(ctx, in)
	if err != nil {
		return nil, false, err
	}
	out := make([]abi.Raw, 0, len(in))
	var buf []byte
	for i, k := range keys {
		if k == nil {
			continue
		}
		latest := abi.Raw{0xc0}
		if j, ok := w.state.index[string(k)]; ok {
			latest = w.state.state[j]
		}
		start := len(buf)
		buf = abi.AppendPair(buf, in[i], latest)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	return out, true, nil
}

// takeIn keeps the other stream's last record of each key of this
// trigger, once every stream has run.
func (w *withLatestStage) takeIn(ctx context.Context) error {
	if !w.other.produced || len(w.other.out) == 0 {
		return nil
	}
	defer w.pol.flush()
	keys, err := w.keysOf(ctx, w.other.out)
	if err != nil {
		return fmt.Errorf("%s (records of other: %s): %w", w.label, w.other.name, err)
	}
	for i, k := range keys {
		if k != nil {
			*w.state.get(k) = append(abi.Raw(nil), w.other.out[i]...)
		}
	}
	return nil
}

// snapshot writes [[key, latest], ...] in key order of arrival.
func (w *withLatestStage) snapshot(dst []byte) []byte {
	dst = abi.AppendArrayHeader(dst, len(w.state.keys))
	for i, k := range w.state.keys {
		dst = abi.AppendPair(dst, k, w.state.state[i])
	}
	return dst
}

func (w *withLatestStage) restore(b []byte) error {
	w.state.reset()
	n, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return fmt.Errorf("withLatest state: %w", err)
	}
	for i := 0; i < n; i++ {
		var one abi.Raw
		if one, rest, err = abi.Next(rest); err != nil {
			return fmt.Errorf("withLatest state, key %d: %w", i, err)
		}
		k, v, err := abi.SplitPair(one)
		if err != nil {
			return fmt.Errorf("withLatest state, key %d: malformed", i)
		}
		*w.state.get(k) = append(abi.Raw(nil), v...)
	}
	return nil
}
