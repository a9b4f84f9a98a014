package operators

import (
	"context"
	"errors"
	"fmt"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

func init() { ops["updateStateByKey"] = buildUpdateStateByKey }

// updateStage is Spark's updateStateByKey: every batch, the update function
// runs for every key in state and every key with new values, and the stream
// emits every key's new state. One guest call covers all keys.
type updateStage struct {
	c       caller
	label   string
	state   keyedState
	initial []abi.Raw
	started bool
	scratch []byte // the encoded entries, reused
}

func buildUpdateStateByKey(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "fn", "plugin", "initial"); err != nil {
		return nil, err
	}
	f, err := lookup(b.resolve, s.Plugin, s.Fn, abi.KindUpdate, label)
	if err != nil {
		return nil, err
	}
	for i, p := range s.Initial {
		if _, _, err := abi.SplitPair(p); err != nil {
			return nil, fmt.Errorf("%s: initial[%d]: %v (write initial: [[key, state], ...])", label, i, err)
		}
	}
	return &updateStage{c: caller{fn: f, stage: label}, label: label, initial: s.Initial}, nil
}

func (u *updateStage) process(ctx context.Context, t int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	if !u.started {
		for _, p := range u.initial {
			k, v, _ := abi.SplitPair(p)
			u.state.set(k, v)
		}
		u.started = true
	}
	g, err := groupPairs(in, u.label)
	if err != nil {
		return nil, false, err
	}
	// Keys in state keep their order; new keys follow in order of arrival.
	keys := append([]abi.Raw(nil), u.state.keys...)
	for _, k := range g.keys {
		if _, ok := u.state.index[string(k)]; !ok {
			keys = append(keys, k)
		}
	}
	prefix := abi.AppendInt([]byte{0x92}, t)
	buf := u.scratch[:0]
	items := make([]abi.Raw, len(keys))
	for i, k := range keys {
		start := len(buf)
		buf = append(buf, 0x93)
		buf = append(buf, k...)
		if j, ok := g.index[string(k)]; ok {
			buf = abi.AppendArray(buf, g.vals[j])
		} else {
			buf = append(buf, 0x90)
		}
		if j, ok := u.state.index[string(k)]; ok {
			buf = abi.AppendOption(buf, u.state.vals[j])
		} else {
			buf = append(buf, 0x90)
		}
		items[i] = buf[start:len(buf):len(buf)]
	}
	u.scratch = buf
	res, err := u.c.callWith(ctx, prefix, items)
	if err != nil {
		return nil, false, err
	}
	next := keyedState{index: make(map[string]int32, len(keys))}
	for i, k := range keys {
		s, _, err := abi.ReadOption(res[i])
		if err != nil {
			return nil, false, fmt.Errorf("%s: result for key %s: %v (an update returns [] or [state])", u.label, abi.Describe(k), err)
		}
		if s == nil { // none removes the key
			continue
		}
		next.set(k, s)
	}
	u.state = next
	return pairs(next.keys, next.vals), true, nil
}

// keyedState holds one value per key, in order of first appearance: keys
// and values in flat slices, so a million keys cost no million small slices.
type keyedState struct {
	index map[string]int32
	keys  []abi.Raw
	vals  []abi.Raw
}

func (k *keyedState) set(key, v abi.Raw) {
	if k.index == nil {
		k.index = map[string]int32{}
	}
	if i, ok := k.index[string(key)]; ok {
		k.vals[i] = v
		return
	}
	k.index[string(key)] = int32(len(k.keys))
	k.keys, k.vals = append(k.keys, key), append(k.vals, v)
}

func (u *updateStage) snapshot(dst []byte) []byte {
	dst = append(dst, 0x92)
	dst = abi.AppendBool(dst, u.started)
	dst = abi.AppendArrayHeader(dst, len(u.state.keys))
	for i, k := range u.state.keys {
		dst = abi.AppendPair(dst, k, u.state.vals[i])
	}
	return dst
}

func (u *updateStage) restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil || n != 2 {
		return errors.New("updateStateByKey state: want [started, pairs]")
	}
	if u.started, rest, err = abi.ReadBool(rest); err != nil {
		return err
	}
	ps, _, err := abi.SplitArray(nil, rest)
	if err != nil {
		return err
	}
	u.state = keyedState{index: make(map[string]int32, len(ps)), keys: make([]abi.Raw, 0, len(ps)), vals: make([]abi.Raw, 0, len(ps))}
	for _, p := range ps {
		k, v, err := abi.SplitPair(p)
		if err != nil {
			return err
		}
		u.state.set(k, v)
	}
	return nil
}
