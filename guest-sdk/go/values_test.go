package wstream

import (
	"math"
	"testing"
)

func TestAddSub(t *testing.T) {
	tests := []struct {
		a, b     any
		add, sub any
	}{
		{int64(2), int64(3), int64(5), int64(-1)},
		{int64(2), 3, int64(5), int64(-1)},
		{int64(2), 0.5, 2.5, 1.5},
		{1.5, int64(1), 2.5, 0.5},
		{1.0, 1.0, 2.0, 0.0},
		{uint64(math.MaxUint64), int64(1), float64(math.MaxUint64) + 1, float64(math.MaxUint64) - 1},
		{int64(math.MaxInt64), int64(1), int64(math.MinInt64), int64(math.MaxInt64 - 1)},
	}
	for _, tt := range tests {
		if got, err := Add(tt.a, tt.b); err != nil || got != tt.add {
			t.Errorf("Add(%T %v, %T %v) = %T %v, %v; want %T %v", tt.a, tt.a, tt.b, tt.b, got, got, err, tt.add, tt.add)
		}
		if got, err := Sub(tt.a, tt.b); err != nil || got != tt.sub {
			t.Errorf("Sub(%T %v, %T %v) = %T %v, %v; want %T %v", tt.a, tt.a, tt.b, tt.b, got, got, err, tt.sub, tt.sub)
		}
	}
	for _, bad := range [][2]any{{"a", int64(1)}, {int64(1), nil}, {true, 1.0}, {[]any{}, int64(1)}} {
		if got, err := Add(bad[0], bad[1]); err == nil {
			t.Errorf("Add(%v, %v) = %v, want an error", bad[0], bad[1], got)
		}
	}
	_, err := Sub(nil, "a long string that will be cut short in the message because it is long")
	if want := `cannot compute nil - "a long string that will be cut short... (string): want numbers`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestConversions(t *testing.T) {
	if i, ok := ToInt(int64(7)); !ok || i != 7 {
		t.Error("ToInt(int64)")
	}
	if i, ok := ToInt(uint8(7)); !ok || i != 7 {
		t.Error("ToInt(uint8)")
	}
	for _, v := range []any{2.0, "2", nil, uint64(math.MaxUint64)} {
		if _, ok := ToInt(v); ok {
			t.Errorf("ToInt(%T %v) ok", v, v)
		}
	}
	if f, ok := ToFloat(int64(2)); !ok || f != 2 {
		t.Error("ToFloat(int64)")
	}
	if f, ok := ToFloat(float32(0.5)); !ok || f != 0.5 {
		t.Error("ToFloat(float32)")
	}
	if _, ok := ToFloat("1"); ok {
		t.Error(`ToFloat("1") ok`)
	}
	if p := Pair("k", int64(1)); len(p) != 2 || p[0] != "k" || p[1] != int64(1) {
		t.Errorf("Pair = %v", p)
	}
	if None.Or(0) != 0 || Some(nil).Or(0) != nil || Some(int64(3)).Or(0) != int64(3) {
		t.Error("Option.Or")
	}
}
