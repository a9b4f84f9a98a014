package main

import (
	"reflect"
	"testing"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// pay is a transaction at minute m at a place.
func pay(m int64, amount, lat, lon float64) wstream.Option {
	return wstream.Some(map[string]any{"ts": m * 60000, "amount": amount, "lat": lat, "lon": lon})
}

func TestCardCheck(t *testing.T) {
	const paris, berlin = 48.8566, 52.52
	st := wstream.NewState(wstream.None, false)
	var got []any
	for _, tx := range []wstream.Option{
		pay(0, 20, paris, 2.35), pay(5, 30, paris, 2.36), pay(9, 25, paris, 2.35),
		pay(12, 500, paris, 2.35),  // history of 3: not judged yet
		pay(20, 20, berlin, 13.4),  // 880 km in 8 minutes
		pay(25, 30, paris, 2.35),   // home again: compared with the trusted payment at 12
		pay(30, 2000, paris, 2.35), // 16× the average of 5
		pay(200, 30, berlin, 13.4), // a trip that takes hours is possible
	} {
		out, err := cardCheck(0, "c1", tx, st)
		if err != nil {
			t.Fatal(err)
		}
		if out.OK {
			got = append(got, out.Value.(map[string]any)["pattern"], out.Value.(map[string]any)["time"])
		}
	}
	if want := []any{"travel", int64(20 * 60000), "amount", int64(30 * 60000)}; !reflect.DeepEqual(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
	if out, err := cardCheck(0, "c1", wstream.None, wstream.NewState(st.Get(), true)); out.OK || err != nil {
		t.Errorf("timing out: %v, %v", out, err)
	}
	if _, err := cardCheck(0, "c1", wstream.Some(map[string]any{"ts": 1, "amount": 2}), st); err == nil {
		t.Error("a transaction with no place was taken")
	}
}

func TestBurstAlert(t *testing.T) {
	row := func(n int64) any { return []any{[]any{[]any{int64(60000), int64(120000)}, "c1"}, n} }
	if out, err := burstAlert(row(4)); len(out) != 0 || err != nil {
		t.Errorf("4 payments: %v, %v", out, err)
	}
	out, err := burstAlert(row(5))
	want := map[string]any{"card": "c1", "pattern": "burst", "time": int64(60000), "detail": "5 transactions in 60 s"}
	if err != nil || len(out) != 1 || !reflect.DeepEqual(out[0], want) {
		t.Errorf("5 payments: %v, %v", out, err)
	}
	if _, err := burstAlert([]any{"c1", 5}); err == nil {
		t.Error("a row with no window was taken")
	}
}
