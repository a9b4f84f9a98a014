// Command conformance is the wstream conformance vocabulary (README.md
// beside it): small functions with exact semantics that the
// data-driven vectors in conformance/testdata name. Every guest SDK ships
// the same set, so one vector file tests every language and runtime.
//
// Build it with `make plugins`. Type errors (add-4 on a string) are returned
// as errors, never panics, so that they reach the host as record errors.
package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wstream/wstream/abi"
	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func init() {
	wstream.Plugin("conformance", "1.0.0")

	wstream.Map("identity", func(x any) (any, error) { return x, nil })
	wstream.Map("to-string", toString)
	wstream.Map("pair-with-one", func(x any) (any, error) { return wstream.Pair(x, int64(1)), nil })
	wstream.Map("pair-with-x", func(x any) (any, error) { return wstream.Pair(x, "x"), nil })
	wstream.Map("add-4", addConst(4))
	wstream.Map("add-8", addConst(8))
	wstream.Map("add-10", addConst(10))
	wstream.FlatMap("x-and-double", xAndDouble)
	wstream.FlatMap("v-and-v-plus-10", vAndVPlus10)
	wstream.Filter("is-even", isEven)
	wstream.FlatMap("split-words", splitWords)
	wstream.Map("first", first)
	wstream.Map("int-seconds", intSeconds)

	wstream.Reduce("sum", wstream.Add)
	wstream.Reduce("subtract", wstream.Sub)
	wstream.Filter("value-nonzero", valueNonzero)

	wstream.Update("sum-into-state", sumIntoState)
	wstream.Update("add-batch-time-if-values", addBatchTimeIfValues)
	wstream.Update("count-expire-after-2-idle", countExpireAfter2Idle)

	wstream.MapState("running-sum", runningSum(func(_ any, s any) (wstream.Option, error) { return wstream.Some(s), nil }))
	wstream.MapState("running-sum-emit-key-twice", runningSum(func(k any, _ any) (wstream.Option, error) {
		ks, ok := k.(string)
		if !ok {
			return wstream.None, fmt.Errorf("running-sum-emit-key-twice wants a string key, got %T", k)
		}
		return wstream.Some(ks + ks), nil
	}))
	wstream.MapState("running-sum-emit-pair", runningSum(func(k any, s any) (wstream.Option, error) { return wstream.Some(wstream.Pair(k, s)), nil }))
	wstream.MapState("running-sum-emit-none", runningSum(func(any, any) (wstream.Option, error) { return wstream.None, nil }))
	wstream.MapState("remove-if-exists-emit-key", removeIfExistsEmitKey)
	wstream.MapState("set-one-emit-key-on-timeout", setOneEmitKeyOnTimeout)
	wstream.MapState("state-command", stateCommand)
	wstream.MapState("inc-or-init-remove-on-2", incOrInitRemoveOn2)

	wstream.Map("key-by-first", keyByFirst)
	wstream.Map("second-seconds", secondSeconds)
}

// toString writes an int in decimal and a string as itself; any other value
// becomes Scala's toString of it (2.5, 1.0E10, (a,1), List(1, 2), null), as
// Spark's map(_.toString) and the host's pprint show it.
func toString(x any) (any, error) {
	switch v := x.(type) {
	case string:
		return v, nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	}
	b, err := abi.Append(nil, x)
	if err != nil {
		return nil, err
	}
	return string(abi.AppendText(nil, b)), nil
}

func addConst(n int64) func(any) (any, error) {
	return func(x any) (any, error) { return wstream.Add(x, n) }
}

func xAndDouble(x any) ([]any, error) {
	d, err := wstream.Add(x, x)
	if err != nil {
		return nil, err
	}
	return []any{x, d}, nil
}

func vAndVPlus10(v any) ([]any, error) {
	w, err := wstream.Add(v, int64(10))
	if err != nil {
		return nil, err
	}
	return []any{v, w}, nil
}

func isEven(x any) (bool, error) {
	i, ok := wstream.ToInt(x)
	if !ok {
		return false, fmt.Errorf("is-even wants an int, got %T", x)
	}
	return i%2 == 0, nil
}

// splitWords splits on every single space, exactly like strings.Split (and
// Scala's split(" ") without its dropping of trailing empties): "a  b" has
// an empty word between the spaces. Trimming is the pipeline's business.
func splitWords(x any) ([]any, error) {
	s, ok := x.(string)
	if !ok {
		return nil, fmt.Errorf("split-words wants a string, got %T", x)
	}
	words := strings.Split(s, " ")
	out := make([]any, len(words))
	for i, w := range words {
		out[i] = w
	}
	return out, nil
}

func first(x any) (any, error) {
	p, ok := x.([]any)
	if !ok || len(p) != 2 {
		return nil, errors.New("first wants a pair [a, b]")
	}
	return p[0], nil
}

func intSeconds(x any) (any, error) {
	s, ok := wstream.ToInt(x)
	if !ok {
		return nil, fmt.Errorf("int-seconds wants an int (seconds), got %T", x)
	}
	return s * 1000, nil
}

func valueNonzero(x any) (bool, error) {
	p, ok := x.([]any)
	if !ok || len(p) != 2 {
		return false, errors.New("value-nonzero wants a pair [k, v]")
	}
	v, ok := wstream.ToFloat(p[1])
	if !ok {
		return false, fmt.Errorf("value-nonzero wants a number value, got %T", p[1])
	}
	return v != 0, nil
}

// sum adds values, starting from int 0 so that an empty batch sums to 0.
func sum(values []any) (any, error) {
	var acc any = int64(0)
	for _, v := range values {
		var err error
		if acc, err = wstream.Add(acc, v); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

func sumIntoState(_ any, values []any, state wstream.Option, _ int64) (wstream.Option, error) {
	s, err := sum(values)
	if err != nil {
		return wstream.None, err
	}
	if s, err = wstream.Add(state.Or(int64(0)), s); err != nil {
		return wstream.None, err
	}
	return wstream.Some(s), nil
}

func addBatchTimeIfValues(_ any, values []any, state wstream.Option, timeMs int64) (wstream.Option, error) {
	s := state.Or(int64(0))
	if len(values) == 0 {
		return wstream.Some(s), nil
	}
	s, err := wstream.Add(s, timeMs)
	if err != nil {
		return wstream.None, err
	}
	return wstream.Some(s), nil
}

// countExpireAfter2Idle is Spark's "updateStateByKey - object lifecycle":
// the state [counter, idle] counts values and the batches in a row without
// any; the key is dropped on its second idle batch.
func countExpireAfter2Idle(_ any, values []any, state wstream.Option, _ int64) (wstream.Option, error) {
	st, ok := state.Or([]any{int64(0), int64(0)}).([]any)
	if !ok || len(st) != 2 {
		return wstream.None, errors.New("count-expire-after-2-idle wants a state [counter, idle]")
	}
	counter := st[0]
	idle, ok := wstream.ToInt(st[1])
	if !ok {
		return wstream.None, fmt.Errorf("count-expire-after-2-idle: idle must be an int, got %T", st[1])
	}
	s, err := sum(values)
	if err != nil {
		return wstream.None, err
	}
	if f, _ := wstream.ToFloat(s); f == 0 {
		idle++
	} else {
		if counter, err = wstream.Add(counter, s); err != nil {
			return wstream.None, err
		}
		idle = 0
	}
	if idle == 2 {
		return wstream.None, nil
	}
	return wstream.Some([]any{counter, idle}), nil
}

// runningSum is Spark's running count of MapWithStateSuite: s' = (state or
// 0) + (value or 0) becomes the state, and emit says what to return. A
// timing-out call has no value and may not update, so it fails the record,
// as Spark's update throws there.
func runningSum(emit func(key, sum any) (wstream.Option, error)) func(int64, any, wstream.Option, *wstream.State) (wstream.Option, error) {
	return func(_ int64, k any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
		s, err := wstream.Add(st.Get().Or(int64(0)), v.Or(int64(0)))
		if err != nil {
			return wstream.None, err
		}
		st.Update(s)
		return emit(k, s)
	}
}

// removeIfExistsEmitKey is MapWithStateSuite's "state removing": a key's
// records alternately set its state and remove it, emitting the key then.
func removeIfExistsEmitKey(_ int64, k any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	if st.Exists() {
		st.Remove()
		return wstream.Some(k), nil
	}
	st.Update(v.Value)
	return wstream.None, nil
}

// setOneEmitKeyOnTimeout is MapWithStateSuite's "state timing out".
func setOneEmitKeyOnTimeout(_ int64, k any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	if v.OK {
		st.Update(int64(1))
	}
	if st.IsTimingOut() {
		return wstream.Some(k), nil
	}
	return wstream.None, nil
}

// stateCommand is MapWithStateRDDSuite's testFunc: each value is a command
// on the key's state.
func stateCommand(_ int64, _ any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	if !v.OK { // timing out
		return wstream.None, nil
	}
	switch v.Value {
	case "noop":
	case "get-state":
		return wstream.Some(st.Get().Or(int64(-1))), nil
	case "update-state":
		return wstream.None, incOrInit(st)
	case "remove-state":
		st.Remove()
	default:
		cmd, err := toString(v.Value)
		if err != nil {
			return wstream.None, err
		}
		return wstream.None, fmt.Errorf("state-command: unknown command %s (want noop, get-state, update-state or remove-state)", cmd)
	}
	return wstream.None, nil
}

// incOrInitRemoveOn2 is MapWithStateRDDSuite's "states generated by
// MapWithStateRDD": 1 increments the state or sets it to 0, 2 removes it.
func incOrInitRemoveOn2(_ int64, _ any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	n, isInt := wstream.ToInt(v.Value)
	switch {
	case !v.OK || !isInt:
	case n == 1:
		return wstream.None, incOrInit(st)
	case n == 2:
		st.Remove()
	}
	return wstream.None, nil
}

// incOrInit increments the state, or sets it to 0 when there is none.
func incOrInit(st *wstream.State) error {
	if !st.Exists() {
		st.Update(int64(0))
		return nil
	}
	s, err := wstream.Add(st.Get().Value, int64(1))
	if err == nil {
		st.Update(s)
	}
	return err
}

// keyByFirst keys a pair by its first element: [a, b] -> [a, [a, b]], so
// that a stream-stream join's v is the row withWatermark read.
func keyByFirst(x any) (any, error) {
	p, ok := x.([]any)
	if !ok || len(p) != 2 {
		return nil, errors.New("key-by-first wants a pair [a, b]")
	}
	return wstream.Pair(p[0], x), nil
}

// secondSeconds is the event time of a row [key, seconds], in ms.
func secondSeconds(x any) (any, error) {
	p, ok := x.([]any)
	if !ok || len(p) != 2 {
		return nil, errors.New("second-seconds wants a pair [a, seconds]")
	}
	return intSeconds(p[1])
}
