package operators

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
)

// These tests use only host built-ins (no guest), so they exercise the
// graph, windows and state machinery directly; the conformance vectors run
// the same operators with guests through the CLI.

func spec(t *testing.T, yaml string) *pipeline.Spec {
	t.Helper()
	s, err := pipeline.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyDefaults()
	return s
}

func jsonBatch(t *testing.T, js string) []abi.Raw {
	t.Helper()
	mp, err := abi.FromJSON(nil, []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	recs, _, err := abi.SplitArray(nil, mp)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func render(b host.Batch) string {
	out, _ := abi.AppendJSON(nil, abi.AppendArray(nil, b.Records))
	if b.Watermark != nil {
		return fmt.Sprintf("%d %s wm=%d", b.Time, out, *b.Watermark)
	}
	return fmt.Sprintf("%d %s", b.Time, out)
}

// run feeds batches 1..n through g from batch `from`, returning the lines.
func run(t *testing.T, g *Graph, batches []string, from int) []string {
	t.Helper()
	var lines []string
	for k := from; k < len(batches); k++ {
		b, emit, err := g.Process(context.Background(), int64(k+1)*1000, map[string][]abi.Raw{"input": jsonBatch(t, batches[k])})
		if err != nil {
			t.Fatal(err)
		}
		if emit {
			lines = append(lines, render(b))
		}
		if g.NoDataPending() {
			b, _, err := g.ProcessNoData(context.Background(), int64(k+1)*1000)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, render(b)+" noData")
		}
	}
	return lines
}

// TestSnapshotRestoreIsInvisible is metamorphic: stopping after any batch,
// snapshotting, and continuing in a freshly built graph restored from the
// snapshot gives the same output as one graph running straight through.
func TestSnapshotRestoreIsInvisible(t *testing.T) {
	pipelines := map[string]string{
		"windows": `streams:
  - {name: a, from: input, stages: [{op: reduceByKeyAndWindow, fn: sum, window: 3s, slide: 1s}]}
  - {name: b, from: input, stages: [{op: groupByKeyAndWindow, window: 2s, slide: 2s}]}
  - {name: c, from: input, stages: [{op: countByWindow, window: 3s}]}
  - {name: d, from: input, stages: [{op: countByValueAndWindow, window: 2s}]}
  - {name: e, from: input, stages: [{op: window, window: 4s, slide: 2s}, {op: countByValue}]}
  - {name: out, from: c, stages: [{op: union, other: a}, {op: union, other: d}]}`,
		"event time": `stages:
  - {op: aggregateByWindow, time: timestamp, window: 2s, slide: 1s, fn: count, outputMode: update}`,
		"keyed aggregate": `stages: [{op: aggregateByKey, fn: max, outputMode: complete}]`,
		"watermark": `stages:
  - {op: withWatermark, time: timestamp, delay: 1s}
  - {op: aggregateByWindow, window: 2s, fn: count, outputMode: append}`,
	}
	rng := rand.New(rand.NewSource(7))
	for name, p := range pipelines {
		t.Run(name, func(t *testing.T) {
			var batches []string
			for i := 0; i < 12; i++ {
				var recs []string
				for j := rng.Intn(4); j > 0; j-- {
					k := string(rune('a' + rng.Intn(3)))
					if name == "event time" || name == "watermark" {
						recs = append(recs, fmt.Sprintf(`{"timestamp": %d}`, rng.Intn(8000)))
					} else {
						recs = append(recs, fmt.Sprintf(`[%q, %d]`, k, rng.Intn(5)))
					}
				}
				batches = append(batches, "["+strings.Join(recs, ",")+"]")
			}
			if want := restoreIsInvisible(t, p, batches); len(want) == 0 {
				t.Fatal("no output")
			}
		})
	}
}

// restoreIsInvisible runs batches through the pipeline once straight
// through and, for every stop, up to the stop, then from a graph restored
// from a snapshot taken there; all must give the same lines, which it
// returns.
func restoreIsInvisible(t *testing.T, pipeline string, batches []string) []string {
	t.Helper()
	build := func() *Graph {
		g, err := Build(spec(t, pipeline), nil)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	want := run(t, build(), batches, 0)
	for stop := 1; stop < len(batches); stop++ {
		g := build()
		got := run(t, g, batches[:stop], 0)
		g2 := build()
		if err := g2.Restore(g.Snapshot(nil)); err != nil {
			t.Fatalf("restore after %d batches: %v", stop, err)
		}
		got = append(got, run(t, g2, batches, stop)...)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("stopped after %d batches:\n got %s\nwant %s", stop, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
		}
	}
	return want
}

func TestShapeChangesWithTheOperators(t *testing.T) {
	a, _ := Build(spec(t, `stages: [{op: reduceByKeyAndWindow, fn: sum, window: 3s}]`), nil)
	b, _ := Build(spec(t, `stages: [{op: reduceByKeyAndWindow, fn: sum, window: 4s}]`), nil)
	c, _ := Build(spec(t, `stages: [{op: reduceByKeyAndWindow, fn: sum, window: 3s}]`), nil)
	if a.Shape() == b.Shape() || a.Shape() != c.Shape() {
		t.Fatalf("shapes: %q %q %q", a.Shape(), b.Shape(), c.Shape())
	}
	// Every setting that changes results is in the shape; where functions
	// come from is not.
	g, err := Build(spec(t, `stages:
  - {op: withWatermark, time: timestamp, delay: 5s}
  - {op: aggregateByWindow, window: 10s, slide: 5s, offset: 1s, fn: count, outputMode: append}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "output<input;withWatermark(time=timestamp, delay=5s);aggregateByWindow(fn=count, window=10s, slide=5s, offset=1s, outputMode=append)"
	if g.Shape() != want {
		t.Errorf("shape\n got %s\nwant %s", g.Shape(), want)
	}
	if want := "output<input;withWatermark(,,,,0,0,);aggregateByWindow(count,,,,10000,5000,)"; g.LegacyShape() != want {
		t.Errorf("legacy shape\n got %s\nwant %s", g.LegacyShape(), want)
	}
}

func TestBuildErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		`stages: [{op: reduceByKey, fn: nosuch}]`:                                                                   `needs a plugin`,
		`stages: [{op: window, window: 1500ms}]`:                                                                    `not a multiple`,
		`stages: [{op: count, fn: sum}]`:                                                                            `field fn: does not apply to op count`,
		`streams: [{name: a, from: b}, {name: b, from: input}]`:                                                     `neither a source`,
		`stages: [{op: union, other: nowhere}]`:                                                                     `not a stream listed before`,
		`stages: [{op: aggregateByKey, fn: sum, outputMode: append}]`:                                               `append is not possible without windows`,
		`stages: [{op: aggregateByWindow, time: timestamp, window: 1h, slide: 1ms, fn: count, outputMode: update}]`: `puts every row in 3600000 windows`,
	} {
		_, err := Build(spec(t, yaml), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", yaml, err, want)
		}
	}
}
