package wstream

import (
	"errors"
	"fmt"

	"github.com/wstream/wstream/abi"
)

// badInput marks input that does not have the shape ABI.md §6 gives the
// function's kind; it fails the whole call with code bad_input. Anything
// else that goes wrong with one element, group or key is a record error.
type badInput struct{ msg string }

func (e *badInput) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return &badInput{fmt.Sprintf(format, args...)}
}

// batch is the response being written for one call.
type batch struct {
	out  []byte
	errs []abi.RecordError // nil unless a record failed, so success allocates nothing
}

// fail records that item i failed: its result becomes nil (written from mark
// on, dropping whatever part of it was written) and the message is reported.
func (b *batch) fail(i, mark int, err error) {
	b.out = abi.AppendNil(b.out[:mark])
	b.errs = append(b.errs, abi.RecordError{Index: i, Message: err.Error()})
}

// handle runs function fn on one call input and appends the response
// ([code, payload, errors], ABI.md §5) to dst. It is the whole of
// wstream_call except for memory, so it runs and is tested natively.
func (r *registry) handle(dst []byte, fn int, in []byte) (resp []byte) {
	if fn < 0 || fn >= len(r.fns) {
		return abi.AppendErrorResponse(dst, abi.CodeUnknownFunction,
			fmt.Sprintf("plugin %q has no function %d (it has %d)", r.name, fn, len(r.fns)))
	}
	f := &r.fns[fn]
	b := batch{out: dst}
	defer func() {
		// User panics are recovered per record; this catches the SDK's own,
		// so that a bug here fails one batch instead of trapping the instance.
		if p := recover(); p != nil {
			resp = abi.AppendErrorResponse(b.out[:len(dst)], abi.CodeFailed, fmt.Sprintf("%s: panic: %v", f.name, p))
		}
	}()
	var err error
	switch f.kind {
	case abi.KindMap, abi.KindFlatMap, abi.KindFilter:
		err = b.elements(f, in)
	case abi.KindReduce:
		err = b.groups(f, in)
	case abi.KindUpdate:
		err = b.update(f, in)
	case abi.KindMapState:
		err = b.mapState(f, in)
	default:
		err = fmt.Errorf("unknown kind %q", f.kind)
	}
	if err != nil {
		code := abi.CodeFailed
		var bad *badInput
		if errors.As(err, &bad) {
			code = abi.CodeBadInput
		}
		return abi.AppendErrorResponse(b.out[:len(dst)], code, fmt.Sprintf("%s: %v", f.name, err))
	}
	return abi.AppendRecordErrors(b.out, b.errs)
}

// elements serves map, flatMap and filter: [x...] -> one result per x.
func (b *batch) elements(f *function, in []byte) error {
	n, rest, err := abi.ArrayHeader(in)
	if err != nil {
		return badf("want an array of elements: %v", err)
	}
	b.out = abi.AppendResponseHeader(b.out, n)
	raw := f.isRaw()
	for i := 0; i < n; i++ {
		var el abi.Raw
		if el, rest, err = abi.Next(rest); err != nil {
			return badf("element %d: %v", i, err)
		}
		mark := len(b.out)
		if raw {
			if err := b.rawElement(f, el); err != nil {
				b.fail(i, mark, err)
			}
			continue
		}
		x, err := abi.Decode(el)
		if err != nil {
			b.fail(i, mark, err)
			continue
		}
		switch f.kind {
		case abi.KindMap:
			var y any
			if y, err = callMap(f.mapFn, x); err == nil {
				b.out, err = abi.Append(b.out, y)
			}
		case abi.KindFlatMap:
			var ys []any
			if ys, err = callFlatMap(f.flatFn, x); err == nil {
				b.out = abi.AppendArrayHeader(b.out, len(ys))
				for _, y := range ys {
					if b.out, err = abi.Append(b.out, y); err != nil {
						break
					}
				}
			}
		case abi.KindFilter:
			var keep bool
			if keep, err = callFilter(f.filter, x); err == nil {
				b.out = abi.AppendBool(b.out, keep)
			}
		}
		if err != nil {
			b.fail(i, mark, err)
		}
	}
	if len(rest) != 0 {
		return badf("%d bytes after the input array", len(rest))
	}
	return nil
}

// groups serves reduce: [[v...]...] -> each group folded left.
func (b *batch) groups(f *function, in []byte) error {
	n, rest, err := abi.ArrayHeader(in)
	if err != nil {
		return badf("want an array of groups: %v", err)
	}
	b.out = abi.AppendResponseHeader(b.out, n)
	for i := 0; i < n; i++ {
		var m int
		if m, rest, err = abi.ArrayHeader(rest); err != nil {
			return badf("group %d: %v", i, err)
		}
		if m == 0 {
			return badf("group %d is empty; a group has at least one value", i)
		}
		mark := len(b.out)
		var raw abi.Raw
		if raw, rest, err = abi.Next(rest); err != nil {
			return badf("group %d: %v", i, err)
		}
		if m == 1 {
			b.out = append(b.out, raw...) // a group of one is its own result
			continue
		}
		acc, ferr := abi.Decode(raw)
		for j := 1; j < m; j++ {
			if raw, rest, err = abi.Next(rest); err != nil {
				return badf("group %d value %d: %v", i, j, err)
			}
			if ferr != nil {
				continue // keep splitting the group so the next one starts right
			}
			var v any
			if v, ferr = abi.Decode(raw); ferr == nil {
				acc, ferr = callReduce(f.reduce, acc, v)
			}
		}
		if ferr == nil {
			b.out, ferr = abi.Append(b.out, acc)
		}
		if ferr != nil {
			b.fail(i, mark, ferr)
		}
	}
	if len(rest) != 0 {
		return badf("%d bytes after the input array", len(rest))
	}
	return nil
}

// timedItems reads the head of an update or mapState input,
// [time_ms, [item...]], whose items have the given shape: the time, the
// number of items and the bytes that hold them. An empty input array is
// legal for every kind (ABI.md §6) and has no items.
func timedItems(in []byte, shape string) (t int64, n int, rest []byte, err error) {
	m, rest, err := abi.ArrayHeader(in)
	if err != nil || (m != 0 && m != 2) {
		return 0, 0, nil, badf("want [time_ms, [[%s]...]], got %s", shape, abi.Describe(in))
	}
	if m == 0 {
		return 0, 0, rest, nil
	}
	if t, rest, err = abi.ReadInt(rest); err != nil {
		return 0, 0, nil, badf("time_ms: %v", err)
	}
	if n, rest, err = abi.ArrayHeader(rest); err != nil {
		return 0, 0, nil, badf("want an array of [%s]: %v", shape, err)
	}
	return t, n, rest, nil
}

// update serves updateStateByKey: [time_ms, [[key, [v...], [s]|[]]...]] ->
// one state option per key.
func (b *batch) update(f *function, in []byte) error {
	t, n, rest, err := timedItems(in, "key, values, state")
	if err != nil {
		return err
	}
	b.out = abi.AppendResponseHeader(b.out, n)
	for i := 0; i < n; i++ {
		var m int
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 3 {
			return badf("entry %d: want [key, values, state]", i)
		}
		var key, vals, state abi.Raw
		if key, rest, err = abi.Next(rest); err != nil {
			return badf("entry %d key: %v", i, err)
		}
		if vals, rest, err = abi.Next(rest); err != nil || abi.TypeOf(vals) != abi.TypeArray {
			return badf("entry %d: want an array of values", i)
		}
		if state, rest, err = abi.ReadOption(rest); err != nil {
			return badf("entry %d: state must be [] or [value]: %v", i, err)
		}
		mark := len(b.out)
		s, err := updateEntry(f.updateF, key, vals, state, t)
		if err == nil {
			if !s.OK {
				b.out = append(b.out, 0x90)
			} else {
				b.out, err = abi.Append(append(b.out, 0x91), s.Value)
			}
		}
		if err != nil {
			b.fail(i, mark, err)
		}
	}
	if len(rest) != 0 {
		return badf("%d bytes after the input", len(rest))
	}
	return nil
}

// updateEntry decodes one key's inputs and calls f. state is the option's
// value, nil for none.
func updateEntry(f func(any, []any, Option, int64) (Option, error), key, vals, state abi.Raw, t int64) (Option, error) {
	k, err := abi.Decode(key)
	if err != nil {
		return None, fmt.Errorf("key: %w", err)
	}
	v, err := abi.Decode(vals)
	if err != nil {
		return None, fmt.Errorf("values: %w", err)
	}
	prev := None
	if state != nil { // nil is none; a nil state is [0xc0]
		if prev.Value, err = abi.Decode(state); err != nil {
			return None, fmt.Errorf("state: %w", err)
		}
		prev.OK = true
	}
	return callUpdate(f, k, v.([]any), prev, t)
}

// mapState serves mapWithState: [time_ms, [[key, state, [v...], timing_out]...]]
// -> one [[out option...], state change] per key (ABI.md §6.1).
func (b *batch) mapState(f *function, in []byte) error {
	t, n, rest, err := timedItems(in, "key, state, values, timing_out")
	if err != nil {
		return err
	}
	b.out = abi.AppendResponseHeader(b.out, n)
	for i := 0; i < n; i++ {
		var m int
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 4 {
			return badf("item %d: want [key, state, values, timing_out]", i)
		}
		var key, state, vals abi.Raw
		var timingOut bool
		if key, rest, err = abi.Next(rest); err != nil {
			return badf("item %d key: %v", i, err)
		}
		if state, rest, err = abi.ReadOption(rest); err != nil {
			return badf("item %d: state must be [] or [value]: %v", i, err)
		}
		if vals, rest, err = abi.Next(rest); err != nil || abi.TypeOf(vals) != abi.TypeArray {
			return badf("item %d: want an array of values", i)
		}
		if timingOut, rest, err = abi.ReadBool(rest); err != nil {
			return badf("item %d: timing_out must be a bool", i)
		}
		mark := len(b.out)
		if err := b.mapStateItem(f.mapSt, t, key, state, vals, timingOut); err != nil {
			b.fail(i, mark, err)
		}
	}
	if len(rest) != 0 {
		return badf("%d bytes after the input", len(rest))
	}
	return nil
}

// mapStateItem calls f for one key's values (once, with none, when the key
// is timing out) and appends [outs, change].
func (b *batch) mapStateItem(f func(int64, any, Option, *State) (Option, error), t int64, key, state, vals abi.Raw, timingOut bool) error {
	k, err := abi.Decode(key)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	var st State
	if state != nil { // nil is none; a nil state is [0xc0]
		if st.value, err = abi.Decode(state); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		st.exists = true
	}
	vs, err := abi.Decode(vals)
	if err != nil {
		return fmt.Errorf("values: %w", err)
	}
	values := vs.([]any)
	if timingOut {
		if len(values) != 0 || !st.exists {
			return errors.New("a timing-out key comes with a state and no values")
		}
		st.timingOut = true
		values = []any{nil}
	} else if len(values) == 0 {
		return errors.New("a key with no values that is not timing out")
	}
	b.out = append(b.out, 0x92)
	b.out = abi.AppendArrayHeader(b.out, len(values))
	for _, v := range values {
		value := Some(v)
		if timingOut {
			value = None
		}
		o, err := callMapState(f, t, k, value, &st)
		if st.misuse != "" {
			return errors.New(st.misuse)
		}
		if err != nil {
			return err
		}
		if !o.OK {
			b.out = append(b.out, 0x90)
		} else if b.out, err = abi.Append(append(b.out, 0x91), o.Value); err != nil {
			return err
		}
	}
	switch {
	case !st.changed:
		b.out = abi.AppendNil(b.out)
	case !st.exists:
		b.out = append(b.out, 0x90)
	default:
		b.out, err = abi.Append(append(b.out, 0x91), st.value)
	}
	return err
}

// The call* helpers run one user function call and turn a panic into an
// error, so that it becomes a record error and the batch goes on.

func recovered(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("panic: %v", p)
	}
}

func callMap(f func(any) (any, error), x any) (y any, err error) {
	defer recovered(&err)
	return f(x)
}

func callFlatMap(f func(any) ([]any, error), x any) (ys []any, err error) {
	defer recovered(&err)
	return f(x)
}

func callFilter(f func(any) (bool, error), x any) (keep bool, err error) {
	defer recovered(&err)
	return f(x)
}

func callReduce(f func(a, b any) (any, error), a, b any) (c any, err error) {
	defer recovered(&err)
	return f(a, b)
}

func callUpdate(f func(any, []any, Option, int64) (Option, error), k any, vs []any, s Option, t int64) (o Option, err error) {
	defer recovered(&err)
	return f(k, vs, s, t)
}

func callMapState(f func(int64, any, Option, *State) (Option, error), t int64, k any, v Option, s *State) (o Option, err error) {
	defer recovered(&err)
	return f(t, k, v, s)
}
