package main

import (
	"reflect"
	"testing"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func TestKeyBy(t *testing.T) {
	ev := map[string]any{"card": "c1", "amount": 5.0}
	got, err := keyBy("card")(ev)
	if err != nil || !reflect.DeepEqual(got, []any{"c1", ev}) {
		t.Errorf("keyBy: %v, %v", got, err)
	}
	if _, err := keyBy("card")(map[string]any{}); err == nil {
		t.Error("an event without the field was keyed")
	}
	if _, err := keyBy("card")("x"); err == nil {
		t.Error("a string was keyed")
	}
}

func TestCardActivity(t *testing.T) {
	st := wstream.NewState(wstream.None, false)
	var got []any
	for _, amount := range []float64{20, 25, 22, 300, 10} {
		out, err := cardActivity(0, "c1", wstream.Some(map[string]any{"card": "c1", "amount": amount}), st)
		if err != nil {
			t.Fatal(err)
		}
		if out.OK {
			got = append(got, out.Value)
		}
	}
	alert := map[string]any{"card": "c1", "event": "alert", "amount": 300.0, "average": 67.0 / 3}
	if len(got) != 1 || !reflect.DeepEqual(got[0], alert) {
		t.Errorf("alerts %v, want %v", got, alert)
	}
	if s := st.Get(); !reflect.DeepEqual(s.Value, []any{int64(5), 377.0}) {
		t.Errorf("state %v", s)
	}
	idle := wstream.NewState(wstream.Some([]any{int64(5), 377.0}), true)
	out, err := cardActivity(0, "c1", wstream.None, idle)
	want := map[string]any{"card": "c1", "event": "idle", "transactions": int64(5), "total": 377.0}
	if err != nil || !reflect.DeepEqual(out.Value, want) {
		t.Errorf("timing out: %v, %v", out, err)
	}
	if _, err := cardActivity(0, "c1", wstream.Some("x"), wstream.NewState(wstream.None, false)); err == nil {
		t.Error("a string transaction was taken")
	}
}
