package main

import (
	"reflect"
	"strings"
	"testing"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func TestElementFunctions(t *testing.T) {
	type fn = func(any) (any, error)
	tests := []struct {
		name string
		f    fn
		in   any
		want any
	}{
		{"to-string", toString, int64(12), "12"},
		{"to-string", toString, int64(-3), "-3"},
		{"to-string", toString, "s", "s"},
		{"to-string", toString, 2.5, "2.5"},
		{"to-string", toString, 2.0, "2.0"},
		{"to-string", toString, 1e10, "1.0E10"},
		{"to-string", toString, []any{int64(1), "a"}, "(1,a)"},
		{"to-string", toString, []any{int64(1), "a", true}, "List(1, a, true)"},
		{"to-string", toString, nil, "null"},
		{"add-4", addConst(4), int64(1), int64(5)},
		{"add-4", addConst(4), 0.5, 4.5},
		{"add-10", addConst(10), int64(-10), int64(0)},
		{"first", first, []any{"a", int64(1)}, "a"},
		{"int-seconds", intSeconds, int64(7), int64(7000)},
	}
	for _, tt := range tests {
		got, err := tt.f(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s(%#v) = %#v, %v; want %#v", tt.name, tt.in, got, err, tt.want)
		}
	}
}

func TestFlatMapAndFilterFunctions(t *testing.T) {
	flat := []struct {
		name string
		f    func(any) ([]any, error)
		in   any
		want []any
	}{
		{"x-and-double", xAndDouble, int64(3), []any{int64(3), int64(6)}},
		{"x-and-double", xAndDouble, 1.5, []any{1.5, 3.0}},
		{"v-and-v-plus-10", vAndVPlus10, int64(2), []any{int64(2), int64(12)}},
		{"split-words", splitWords, "a b  c ", []any{"a", "b", "", "c", ""}},
		{"split-words", splitWords, "", []any{""}},
	}
	for _, tt := range flat {
		got, err := tt.f(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s(%#v) = %#v, %v; want %#v", tt.name, tt.in, got, err, tt.want)
		}
	}
	filters := []struct {
		name string
		f    func(any) (bool, error)
		in   any
		want bool
	}{
		{"is-even", isEven, int64(4), true},
		{"is-even", isEven, int64(-3), false},
		{"value-nonzero", valueNonzero, []any{"a", int64(0)}, false},
		{"value-nonzero", valueNonzero, []any{"a", int64(-1)}, true},
		{"value-nonzero", valueNonzero, []any{"a", 0.0}, false},
	}
	for _, tt := range filters {
		got, err := tt.f(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s(%#v) = %v, %v; want %v", tt.name, tt.in, got, err, tt.want)
		}
	}
}

// Wrong types are errors (record errors in the host), never panics.
func TestTypeErrors(t *testing.T) {
	bad := []any{"s", nil, true, []any{}, map[string]any{}, 1.5}
	for _, x := range bad {
		for name, f := range map[string]func(any) error{
			"add-4":         func(x any) error { _, err := addConst(4)(x); return err },
			"x-and-double":  func(x any) error { _, err := xAndDouble(x); return err },
			"is-even":       func(x any) error { _, err := isEven(x); return err },
			"int-seconds":   func(x any) error { _, err := intSeconds(x); return err },
			"first":         func(x any) error { _, err := first(x); return err },
			"value-nonzero": func(x any) error { _, err := valueNonzero([]any{"k", x}); return err },
			"split-words":   func(x any) error { _, err := splitWords(x); return err },
			"sum":           func(x any) error { _, err := wstream.Add(int64(1), x); return err },
		} {
			if _, isFloat := x.(float64); isFloat && (name == "add-4" || name == "x-and-double" || name == "value-nonzero" || name == "sum") {
				continue // floats are numbers
			}
			if _, isString := x.(string); isString && name == "split-words" {
				continue
			}
			if err := f(x); err == nil {
				t.Errorf("%s(%#v) returned no error", name, x)
			}
		}
	}
	if _, err := splitWords([]any{"a b"}); err == nil || !strings.Contains(err.Error(), "string") {
		t.Errorf("split-words error %v", err)
	}
}

func TestUpdateFunctions(t *testing.T) {
	type upd = func(any, []any, wstream.Option, int64) (wstream.Option, error)
	ints := func(xs ...int64) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = x
		}
		return out
	}
	tests := []struct {
		name   string
		f      upd
		values []any
		state  wstream.Option
		want   wstream.Option
	}{
		{"sum-into-state", sumIntoState, ints(1, 2), wstream.None, wstream.Some(int64(3))},
		{"sum-into-state", sumIntoState, ints(), wstream.None, wstream.Some(int64(0))},
		{"sum-into-state", sumIntoState, ints(1), wstream.Some(int64(10)), wstream.Some(int64(11))},
		{"sum-into-state", sumIntoState, []any{0.5}, wstream.Some(int64(1)), wstream.Some(1.5)},
		{"add-batch-time-if-values", addBatchTimeIfValues, ints(9), wstream.None, wstream.Some(int64(1000))},
		{"add-batch-time-if-values", addBatchTimeIfValues, ints(), wstream.Some(int64(5)), wstream.Some(int64(5))},
		{"add-batch-time-if-values", addBatchTimeIfValues, ints(), wstream.None, wstream.Some(int64(0))},
		{"add-batch-time-if-values", addBatchTimeIfValues, ints(1, 2), wstream.Some(int64(5)), wstream.Some(int64(1005))},
	}
	for _, tt := range tests {
		got, err := tt.f("k", tt.values, tt.state, 1000)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s(%v, %+v) = %+v, %v; want %+v", tt.name, tt.values, tt.state, got, err, tt.want)
		}
	}
	if _, err := sumIntoState("k", ints(1), wstream.Some("s"), 0); err == nil {
		t.Error("sum-into-state on a string state: no error")
	}
	if _, err := sumIntoState("k", []any{"x"}, wstream.None, 0); err == nil {
		t.Error("sum-into-state on a string value: no error")
	}
}

// Spark's BasicOperationsSuite "updateStateByKey - object lifecycle", with
// the host's part (every key in state gets called, values all 1) played here.
func TestCountExpireAfter2Idle(t *testing.T) {
	batches := [][]string{{"a", "b"}, nil, {"a", "c", "a"}, {"c"}, nil, nil}
	// Spark's expected output: the counters per batch (mapValues(_.counter)).
	want := []map[string]int64{
		{"a": 1, "b": 1},
		{"a": 1, "b": 1},
		{"a": 3, "c": 1},
		{"a": 3, "c": 2},
		{"c": 2},
		{},
	}
	state := map[string]wstream.Option{}
	for i, batch := range batches {
		values := map[string][]any{}
		for _, k := range batch {
			values[k] = append(values[k], int64(1))
		}
		for k := range values {
			if _, ok := state[k]; !ok {
				state[k] = wstream.None
			}
		}
		got := map[string]int64{}
		for k, s := range state {
			next, err := countExpireAfter2Idle(k, values[k], s, 0)
			if err != nil {
				t.Fatalf("batch %d key %s: %v", i, k, err)
			}
			if !next.OK {
				delete(state, k)
				continue
			}
			state[k] = next
			got[k] = next.Value.([]any)[0].(int64)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("batch %d: counters %v, want %v", i, got, want[i])
		}
	}
	if _, err := countExpireAfter2Idle("k", nil, wstream.Some(int64(1)), 0); err == nil {
		t.Error("a state that is not [counter, idle]: no error")
	}
}
