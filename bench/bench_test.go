package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The smoke test runs every workload at a tiny size through the real graph
// with the Go bench guest (and the C one when clang is here), and checks
// that each WASM run emits exactly what the native version does. It makes
// no timing assertions: CI machines vary, and the numbers of a tiny run
// mean nothing.

func guests(t *testing.T) *artifacts {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	a, err := prepare(root, t.TempDir(), false, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range a.missing {
		t.Logf("%s: unavailable (%s)", k, v)
	}
	return a
}

func TestWorkloadsMatchNative(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WebAssembly guests")
	}
	a := guests(t)
	ctx := context.Background()
	for _, w := range workloads {
		plugins := []string{a.goGuest}
		switch w.name {
		case "wordcount":
			plugins = nil
			for _, p := range a.wordcount {
				plugins = append(plugins, p)
			}
		case "upper":
			if a.cGuest != "" {
				plugins = append(plugins, a.cGuest)
			}
		}
		j := Job{Kind: "throughput", Workload: w.name, Keys: min(w.shortKeys, 1000), Batch: 200, Records: 400, Seed: 7}
		nat, err := RunJob(ctx, j)
		if err != nil || nat.Out == 0 {
			t.Fatalf("%s native: %+v, %v", w.name, nat, err)
		}
		for _, p := range plugins {
			j.Plugin = p
			r, err := RunJob(ctx, j)
			if err != nil {
				t.Errorf("%s %s: %v", w.name, p, err)
				continue
			}
			if r.Out != nat.Out || r.Records != nat.Records {
				t.Errorf("%s %s: %d records in, %d out; native %d in, %d out", w.name, p, r.Records, r.Out, nat.Records, nat.Out)
			}
		}
	}
}

func TestLatencyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WebAssembly guests")
	}
	a := guests(t)
	r, err := RunJob(context.Background(), Job{Kind: "latency", Workload: "upper", Plugin: a.goGuest, Keys: 1,
		Rate: 2000, Interval: 10 * time.Millisecond, Duration: 400 * time.Millisecond, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Batches == 0 || r.P50ms <= 0 || r.P99ms < r.P50ms {
		t.Errorf("latency result %+v", r)
	}
}

// TestChildProtocol checks the JSON line a child writes, which the suite
// parses, using the native word count over a small file.
func TestChildProtocol(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lines.txt")
	if err := writeLines(path, 3000); err != nil {
		t.Fatal(err)
	}
	arg, _ := json.Marshal(Job{Kind: "file", Workload: "wordcount", File: path})
	var out bytes.Buffer
	if err := Child(context.Background(), string(arg), &out); err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal(lastLine(out.Bytes()), &r); err != nil || r.Records != 3000 || r.Batches != 3 || r.Err != "" {
		t.Errorf("child wrote %q: %+v, %v", out.String(), r, err)
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n != 3000 {
		t.Errorf("%d lines", n)
	}
}

func TestGeneratorsAreDeterministic(t *testing.T) {
	for _, w := range workloads {
		a, b := w.gen(3, 1000), w.gen(3, 1000)
		for i := 0; i < 100; i++ {
			if x, y := a(), b(); x != y {
				t.Fatalf("%s: %q then %q for the same seed", w.name, x, y)
			}
		}
	}
	next := lineGen(1, 100000)
	for i := 0; i < 1000; i++ {
		if l := next(); len(l) > 100 || len(l) < 80 {
			t.Fatalf("line %q is %d bytes, want about 100", l, len(l))
		}
	}
}

// The keyed event-time workload gives the native query's output count, at
// a size where windows close during the run; no guest is involved.
func TestKeyedWindowMatchesNative(t *testing.T) {
	ctx := context.Background()
	j := Job{Kind: "throughput", Workload: keyedWindowName, Keys: 50, Batch: 100, Rate: 1000, Records: 30000, Seed: 3}
	nat, err := RunJob(ctx, j)
	if err != nil || nat.Out == 0 {
		t.Fatalf("native: %+v, %v", nat, err)
	}
	j.Plugin = "host"
	r, err := RunJob(ctx, j)
	if err != nil || r.Out != nat.Out || r.Records != nat.Records {
		t.Fatalf("wstream: %+v, %v; native %+v", r, err, nat)
	}
	lat, err := RunJob(ctx, Job{Kind: "latency", Workload: keyedWindowName, Plugin: "host", Keys: 50, Rate: 2000, Interval: 100 * time.Millisecond, Duration: 600 * time.Millisecond, Seed: 1})
	if err != nil || lat.Batches == 0 {
		t.Fatalf("latency: %+v, %v", lat, err)
	}
}
