package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"64MiB": 64 << 20, "512 KiB": 512 << 10, "1GiB": 1 << 30, "100": 100, "7B": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "64MB", "1.5GiB", "-1KiB", "lots", "99999999999GiB"} {
		if _, err := ParseSize(bad); err == nil || !strings.Contains(err.Error(), "64MiB") {
			t.Errorf("ParseSize(%q): %v, want an error with an example", bad, err)
		}
	}
	if s := Size(64 << 20).String(); s != "64MiB" {
		t.Errorf("String() = %s", s)
	}
}

func TestSpecLimits(t *testing.T) {
	s, err := Parse([]byte(`
limits: {memory: 64MiB, timeout: 5s, maxOutput: 16MiB}
allow: [clock, env, "fs:/data"]
sources: {a: stdin, b: "socket://127.0.0.1:1"}
maxRate: {a: 1000}
backpressure: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Limits != (Limits{Memory: 64 << 20, Timeout: Duration(5 * time.Second), MaxOutput: 16 << 20}) || len(s.Allow) != 3 || !s.Backpressure {
		t.Fatalf("spec = %+v", s)
	}
	if s.MaxRate.For("a") != 1000 || s.MaxRate.For("b") != 0 || s.CheckSandbox() != nil {
		t.Fatalf("maxRate = %v", s.MaxRate)
	}
	if p, _ := s.Limits.Memory.Pages(); p != 1024 {
		t.Fatalf("64MiB is %d pages", p)
	}
	s, err = Parse([]byte("maxRate: 250\n"))
	if err != nil || s.MaxRate.For("anything") != 250 {
		t.Fatalf("maxRate for every source: %v %v", s.MaxRate, err)
	}
	for yaml, want := range map[string]string{
		"limits: {memory: 64MB}":           `"64MB" is not a size`,
		"limits: {memory: 100000}":         "whole number of 64KiB pages",
		"limits: {memory: 8GiB}":           "between 64KiB",
		"limits: {timeout: forever}":       "is not a duration",
		"limits: {memroy: 1MiB}":           "unknown field memroy in limits: (did you mean memory?)",
		"allow: [network]":                 `unknown capability "network"`,
		"maxRate: -5":                      "must be a positive number",
		"maxRate: {input: 0}":              "maxRate: input: 0",
		"maxRate: fast":                    "want records per second",
		"source: stdin\nmaxRate: {x: 5}\n": "",
	} {
		s, err := Parse([]byte(yaml))
		if want == "" { // names an unknown source: caught once flags are in
			if err != nil || s.CheckSandbox() == nil || !strings.Contains(s.CheckSandbox().Error(), `no source is named "x"`) {
				t.Errorf("%q: %v / %v", yaml, err, s.CheckSandbox())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", yaml, err, want)
		}
	}
}
