package fraud

import (
	"reflect"
	"testing"
)

func TestGenerateIsSeeded(t *testing.T) {
	cfg := Config{Seed: 3, Cards: 100, Minutes: 120, Frauds: 2}
	a, injA, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, injB, _ := Generate(cfg)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(injA, injB) {
		t.Error("the same seed gave different data")
	}
	cfg.Seed = 4
	if c, _, _ := Generate(cfg); reflect.DeepEqual(a, c) {
		t.Error("another seed gave the same data")
	}
	if len(injA) != 6 {
		t.Errorf("%d frauds injected, want 6", len(injA))
	}
	for i := 1; i < len(a); i++ {
		if a[i].TS < a[i-1].TS {
			t.Fatalf("transactions out of time order at %d", i)
		}
	}
	if _, _, err := Generate(Config{Cards: 5, Minutes: 120, Frauds: 2}); err == nil {
		t.Error("5 cards took 6 frauds")
	}
}

func TestCompare(t *testing.T) {
	x := Alert{Card: "c1", Pattern: "burst", Time: 60000}
	y := Alert{Card: "c2", Pattern: "amount", Time: 5}
	z := Alert{Card: "c1", Pattern: "burst", Time: 120000}
	missed, wrong := Compare([]Alert{x, z}, []Alert{x, y})
	if !reflect.DeepEqual(missed, []Alert{y}) || !reflect.DeepEqual(wrong, []Alert{z}) {
		t.Errorf("missed %v, false %v", missed, wrong)
	}
}
