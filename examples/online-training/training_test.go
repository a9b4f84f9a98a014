package training

import (
	"reflect"
	"testing"
)

func TestGenerateIsSeededAndDrifts(t *testing.T) {
	cfg := Config{Seed: 3, Batches: 4, PerBatch: 30, DriftAt: 2}
	a, b := Regression(cfg), Regression(cfg)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(Clustering(cfg), Clustering(cfg)) {
		t.Error("the same seed gave different data")
	}
	cfg.Seed = 4
	if reflect.DeepEqual(a, Regression(cfg)) {
		t.Error("another seed gave the same data")
	}
	// Least squares on each batch of "drifting" is far from the other
	// side's truth: the residuals under Before are small only before the drift.
	for batch, want := range []bool{true, true, false, false} {
		sse := 0.0
		n := 0
		for _, s := range a[batch] {
			if s.Model != "drifting" || s.Y == nil {
				continue
			}
			d := *s.Y
			for i := range Before {
				d -= Before[i] * s.X[i]
			}
			sse += d * d
			n++
		}
		if got := sse/float64(n) < 0.1; got != want || n != cfg.PerBatch {
			t.Errorf("batch %d: mse %.3f under the first truth over %d points", batch, sse/float64(n), n)
		}
	}
	if c := Clustering(Config{Seed: 1, Batches: 1, PerBatch: 6}); len(c[0]) != 7 || c[0][6].ID == "" {
		t.Errorf("a batch of 6 points: %v", c[0])
	}
}
