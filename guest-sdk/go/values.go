package wstream

import (
	"fmt"
	"math"
)

// Pair returns the key/value pair [k, v], as the host expects it from a
// function feeding a *ByKey operator.
func Pair(k, v any) []any { return []any{k, v} }

// ToInt returns v as an int64 when it is an integer of any Go int type (the
// host sends int64). Floats are not integers here, even 2.0: the ABI keeps
// int and float apart, and so does the SDK.
func ToInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case uint:
		return int64(x), uint64(x) <= math.MaxInt64
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	}
	return 0, false
}

// ToFloat returns v as a float64 when it is a number (int or float).
func ToFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint:
		return float64(x), true
	}
	if i, ok := ToInt(v); ok {
		return float64(i), true
	}
	return 0, false
}

// Add is + for numbers as Spark users expect it: int + int stays an int64
// (wrapping on overflow, like the JVM), and either side a float makes a
// float64. Anything else is an error, which a function can return as is to
// fail just that record.
func Add(a, b any) (any, error) { return arith('+', a, b) }

// Sub is a - b with the same typing as Add, for inverse reducers.
func Sub(a, b any) (any, error) { return arith('-', a, b) }

func arith(op byte, a, b any) (any, error) {
	x, xok := ToInt(a)
	y, yok := ToInt(b)
	if xok && yok {
		if op == '-' {
			return x - y, nil
		}
		return x + y, nil
	}
	f, fok := ToFloat(a)
	g, gok := ToFloat(b)
	if !fok || !gok {
		return nil, fmt.Errorf("cannot compute %s %c %s: want numbers", describe(a), op, describe(b))
	}
	if op == '-' {
		return f - g, nil
	}
	return f + g, nil
}

// describe names a value's type and a short rendering, for error messages.
func describe(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		s = fmt.Sprintf("%q", x)
	default:
		s = fmt.Sprint(x)
	}
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return fmt.Sprintf("%s (%T)", s, v)
}
