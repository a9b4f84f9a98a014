package iot

import (
	"reflect"
	"strings"
	"testing"
)

func TestGenerateIsSeeded(t *testing.T) {
	cfg := Config{Seed: 3, Sensors: 10, Drifted: 3, Minutes: 30, Every: 10_000, Shift: 3, Noise: 0.5}
	a, dA, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, dB, _ := Generate(cfg)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(dA, dB) {
		t.Error("the same seed gave different data")
	}
	cfg.Seed = 4
	if c, _, _ := Generate(cfg); reflect.DeepEqual(a, c) {
		t.Error("another seed gave the same data")
	}
	if len(dA) != 3 || len(a) != 10*30*6 {
		t.Errorf("%d drifts and %d readings, want 3 and 1800", len(dA), len(a))
	}
	for _, d := range dA {
		if d.Start < 15*minute || d.Start >= 30*minute {
			t.Errorf("drift %+v outside the run's second half", d)
		}
	}
	if _, _, err := Generate(Config{Sensors: 2, Drifted: 3, Minutes: 30, Every: 10_000, Shift: 3, Noise: 0.5}); err == nil {
		t.Error("3 of 2 sensors drifted")
	}
}

func TestCheck(t *testing.T) {
	drifts := []Drift{{Sensor: "s1", Start: 1000, Shift: 3}, {Sensor: "s2", Start: 5000, Shift: -3}}
	ok := []Alert{{Sensor: "s1", Time: 2000, Direction: "up"}, {Sensor: "s2", Time: 5000, Direction: "down"}}
	if p := Check(ok, drifts, 1000); len(p) != 0 {
		t.Errorf("right alerts: %v", p)
	}
	for _, c := range []struct {
		alerts []Alert
		want   string
	}{
		{ok[:1], "missed: s2"},
		{append(ok, Alert{Sensor: "s3", Time: 1}), "false alarm: s3"},
		{append(ok, ok[0]), "s1 drifted once at 1000 ms but alerted 2 times"},
		{[]Alert{{Sensor: "s1", Time: 2001, Direction: "up"}, ok[1]}, "not up within 1000 ms"},
		{[]Alert{{Sensor: "s1", Time: 999, Direction: "up"}, ok[1]}, "not up within 1000 ms"},
		{[]Alert{{Sensor: "s1", Time: 2000, Direction: "down"}, ok[1]}, "not up within 1000 ms"},
	} {
		p := Check(c.alerts, drifts, 1000)
		if len(p) != 1 || !strings.Contains(p[0], c.want) {
			t.Errorf("%v: %v, want one problem with %q", c.alerts, p, c.want)
		}
	}
}
