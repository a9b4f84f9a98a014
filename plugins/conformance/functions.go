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
