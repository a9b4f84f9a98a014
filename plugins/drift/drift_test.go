package main

import (
	"math/rand/v2"
	"testing"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// feed runs readings through pageHinkley and returns the index of each
// reading that raised an alert.
func feed(t *testing.T, st *wstream.State, xs []float64) []int {
	t.Helper()
	var at []int
	for i, x := range xs {
		out, err := pageHinkley(0, "s1", wstream.Some(map[string]any{"ts": int64(i), "temp": x}), st)
		if err != nil {
			t.Fatal(err)
		}
		if out.OK {
			at = append(at, i)
		}
	}
	return at
}

func TestPageHinkley(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	noise := func(mean float64, n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = mean + 0.5*r.NormFloat64()
		}
		return xs
	}
	if at := feed(t, wstream.NewState(wstream.None, false), noise(20, 2000)); len(at) > 0 {
		t.Errorf("steady readings alerted at %v", at)
	}
	for _, shift := range []float64{3, -3} {
		st := wstream.NewState(wstream.None, false)
		at := feed(t, st, append(noise(20, 200), noise(20+shift, 500)...))
		if len(at) != 1 || at[0] < 200 || at[0] > 220 {
			t.Errorf("a shift of %v at reading 200 alerted at %v, want once within 20 readings", shift, at)
		}
	}
	if _, err := pageHinkley(0, "s1", wstream.Some("x"), wstream.NewState(wstream.None, false)); err == nil {
		t.Error("a string was taken for a reading")
	}
}
