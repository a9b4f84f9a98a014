package operators

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
)

// Cases from Spark's suites for keyed event-time aggregation, sessions and
// deduplication, with the host's built-ins and field paths only (no guest):
// the conformance vectors run the same contracts through the CLI on every
// SDK. Each batch is one trigger at k × 1s; a line ending in noData is the
// no-data trigger that follows one that moved the watermark.

type graphCase struct {
	name     string
	pipeline string
	batches  []string
	want     []string
}

func checkGraph(t *testing.T, c graphCase) {
	t.Helper()
	g, err := Build(spec(t, c.pipeline), nil)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	got := run(t, g, c.batches, 0)
	if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
		t.Fatalf("%s:\n got %s\nwant %s", c.name, strings.Join(got, "\n     "), strings.Join(c.want, "\n     "))
	}
}

func TestKeyedWindows(t *testing.T) {
	for _, c := range []graphCase{{
		// The README's IoT query: per-sensor 10 s windows, a 5 s watermark,
		// the average temperature.
		name: "per-sensor average, append",
		pipeline: `stages:
  - {op: withWatermark, time: .ts, delay: 5s}
  - {op: aggregateByWindow, window: 10s, key: .sensor, value: .temp, fn: avg}`,
		batches: []string{
			`[{"sensor":"s1","ts":1000,"temp":20},{"sensor":"s2","ts":3000,"temp":19.5},{"sensor":"s1","ts":4000,"temp":21}]`,
			`[{"sensor":"s1","ts":12000,"temp":22},{"sensor":"s2","ts":8000,"temp":18.5}]`,
			`[{"sensor":"s2","ts":17000,"temp":18}]`,
			`[{"sensor":"s1","ts":9000,"temp":30}]`,
		},
		want: []string{
			"1000 [] wm=0",
			"2000 [] wm=0",
			"2000 [] wm=7000 noData",
			"3000 [] wm=7000",
			`3000 [[[[0,10000],"s1"],20.5],[[[0,10000],"s2"],19.0]] wm=12000 noData`,
			"4000 [] wm=12000",
		},
	}, {
		// sum of ints is an int, of floats a float; min and max keep the value
		// as it came; count ignores value:.
		name: "every built-in, update",
		pipeline: `streams:
  - {name: w, from: input, stages: [{op: withWatermark, time: .t, delay: 100s}]}
  - {name: count, from: w, stages: [{op: aggregateByWindow, window: 10s, key: .k, value: .missing, fn: count, outputMode: update}]}
  - {name: sum, from: w, stages: [{op: aggregateByWindow, window: 10s, key: .k, value: .v, fn: sum, outputMode: update}]}
  - {name: min, from: w, stages: [{op: aggregateByWindow, window: 10s, key: .k, value: .v, fn: min, outputMode: update}]}
  - {name: max, from: w, stages: [{op: aggregateByWindow, window: 10s, key: .k, value: .v, fn: max, outputMode: update}]}
  - {name: out, from: count, stages: [{op: union, other: sum}, {op: union, other: min}, {op: union, other: max}]}`,
		batches: []string{
			`[{"k":"a","t":1000,"v":2},{"k":"b","t":2000,"v":1.5},{"k":"a","t":3000,"v":5}]`,
			`[{"k":"b","t":4000,"v":1},{"k":"a","t":5000,"v":null}]`,
		},
		want: []string{
			`1000 [[[[0,10000],"a"],2],[[[0,10000],"b"],1],[[[0,10000],"a"],7],[[[0,10000],"b"],1.5],[[[0,10000],"a"],2],[[[0,10000],"b"],1.5],[[[0,10000],"a"],5],[[[0,10000],"b"],1.5]] wm=0`,
			`2000 [[[[0,10000],"a"],3],[[[0,10000],"b"],2],[[[0,10000],"a"],7],[[[0,10000],"b"],2.5],[[[0,10000],"a"],2],[[[0,10000],"b"],1],[[[0,10000],"a"],5],[[[0,10000],"b"],1.5]] wm=0`,
		},
	}, {
		// Each (row, window) is judged on its own: a row late for the window
		// that closed still counts in the next, per key.
		name: "sliding windows, a row late for one window counts in the next",
		pipeline: `stages:
  - {op: withWatermark, time: .t, delay: 0s}
  - {op: aggregateByWindow, window: 10s, slide: 5s, key: .k, fn: count, outputMode: update}`,
		batches: []string{`[{"k":"a","t":20000}]`, `[{"k":"a","t":16000},{"k":"b","t":16000},{"k":"a","t":12000}]`},
		want: []string{
			`1000 [[[[15000,25000],"a"],1],[[[20000,30000],"a"],1]] wm=0`,
			`1000 [] wm=20000 noData`,
			// 16 s is late for [10 s, 20 s) but not for [15 s, 25 s); 12 s
			// is late for both its windows.
			`2000 [[[[15000,25000],"a"],2],[[[15000,25000],"b"],1]] wm=20000`,
		},
	}, {
		// Spark's programming guide, "Handling Late Data and Watermarking":
		// word counts in 10 min windows sliding every 5 min with a 10 min
		// watermark, update mode; (12:09, cat) is late but still counted,
		// (12:04, donkey) is too late and dropped. Times in minutes (×60000).
		name: "the programming guide's late data, update mode",
		pipeline: `stages:
  - {op: withWatermark, time: .1, delay: 10m}
  - {op: aggregateByWindow, window: 10m, slide: 5m, key: .0, fn: count, outputMode: update}`,
		batches: []string{
			`[["dog", 420000], ["owl", 480000]]`,
			`[["dog", 840000], ["cat", 540000]]`,
			`[["cat", 900000], ["dog", 480000], ["owl", 780000], ["owl", 1260000]]`,
			`[["donkey", 240000], ["owl", 1020000]]`,
		},
		want: []string{
			`1000 [[[[0,600000],"dog"],1],[[[0,600000],"owl"],1],[[[300000,900000],"dog"],1],[[[300000,900000],"owl"],1]] wm=0`,
			`2000 [[[[0,600000],"cat"],1],[[[300000,900000],"dog"],2],[[[300000,900000],"cat"],1],[[[600000,1200000],"dog"],1]] wm=0`,
			`2000 [] wm=240000 noData`,
			`3000 [[[[0,600000],"dog"],2],[[[300000,900000],"dog"],3],[[[300000,900000],"owl"],2],[[[600000,1200000],"cat"],1],[[[600000,1200000],"owl"],1],[[[900000,1500000],"cat"],1],[[[900000,1500000],"owl"],1],[[[1200000,1800000],"owl"],1]] wm=240000`,
			`3000 [] wm=660000 noData`,
			`4000 [[[[600000,1200000],"owl"],2],[[[900000,1500000],"owl"],2]] wm=660000`,
		},
	}, {
		// StreamingAggregationSuite "simple count, update mode" and
		// "typed aggregators": aggregateByKey with key:, and on pairs.
		name: "aggregateByKey with key:",
		pipeline: `streams:
  - {name: counts, from: input, stages: [{op: aggregateByKey, key: ., fn: count}]}`,
		batches: []string{`[3]`, `[3, 2]`, `[3, 2, 1]`, `[4, 4, 4, 4]`},
		want:    []string{"1000 [[3,1]] wm=0", "2000 [[3,2],[2,1]] wm=0", "3000 [[3,3],[2,2],[1,1]] wm=0", "4000 [[4,4]] wm=0"},
	}, {
		// EventTimeWatermarkSuite "group by on raw timestamp": a key that
		// holds the event time is final once the watermark passes it.
		name: "group by the event time, append",
		pipeline: `stages:
  - {op: withWatermark, time: ., delay: 10s}
  - {op: aggregateByKey, key: ., fn: count, outputMode: append}`,
		batches: []string{`[10000]`, `[25000]`, `[10000, 26000]`},
		want:    []string{"1000 [] wm=0", "2000 [] wm=0", "2000 [[10000,1]] wm=15000 noData", "3000 [] wm=15000", "3000 [] wm=16000 noData"},
	}, {
		name:     "aggregateByKey on pairs, sum",
		pipeline: `stages: [{op: aggregateByKey, fn: sum}]`,
		batches:  []string{`[["a",10],["a",20],["b",1],["b",2],["c",1]]`},
		want:     []string{`1000 [["a",30],["b",3],["c",1]] wm=0`},
	}, {
		// StreamingAggregationSuite "simple count, complete mode".
		name:     "aggregateByKey complete",
		pipeline: `stages: [{op: aggregateByKey, key: ., fn: count, outputMode: complete}]`,
		batches:  []string{`[3]`, `[2]`, `[3, 2, 1]`, `[4, 4, 4, 4]`},
		want:     []string{"1000 [[3,1]] wm=0", "2000 [[3,1],[2,1]] wm=0", "3000 [[3,2],[2,2],[1,1]] wm=0", "4000 [[3,2],[2,2],[1,1],[4,4]] wm=0"},
	}, {
		// A composite key is the list of its parts; paths index lists and
		// name map fields at any depth.
		name:     "composite key and nested paths",
		pipeline: `stages: [{op: aggregateByKey, key: [.dev.id, .tags.0], value: .r.1.v, fn: sum}]`,
		batches:  []string{`[{"dev":{"id":7},"tags":["x"],"r":[{"v":1},{"v":2}]},{"dev":{"id":7},"tags":["x","y"],"r":[0,{"v":3}]}]`},
		want:     []string{`1000 [[[7,"x"],5]] wm=0`},
	}} {
		t.Run(c.name, func(t *testing.T) { checkGraph(t, c) })
	}
}

// StreamingSessionWindowSuite "append mode - session window" and "complete
// mode - session window": the words of each line are session keys; gap
// 10 s; watermark 30 s. Times in ms.
func TestSessions(t *testing.T) {
	words := func(line string, sec int) string {
		var recs []string
		for _, w := range strings.Fields(line) {
			recs = append(recs, fmt.Sprintf(`{"id":%q,"t":%d}`, w, sec*1000))
		}
		return strings.Join(recs, ",")
	}
	batch := func(parts ...string) string { return "[" + strings.Join(parts, ",") + "]" }
	session := func(id string, start, end, n int) string {
		return fmt.Sprintf(`[[[%d,%d],%q],%d]`, start*1000, end*1000, id, n)
	}
	row := func(s ...string) string { return "[" + strings.Join(s, ",") + "]" }
	for _, c := range []graphCase{{
		name: "append",
		pipeline: `stages:
  - {op: withWatermark, time: .t, delay: 30s}
  - {op: aggregateBySession, gap: 10s, key: .id, fn: count}`,
		batches: []string{
			batch(words("hello world spark streaming", 40), words("world hello structured streaming", 41)),
			batch(words("spark streaming", 25)),
			batch(words("spark streaming", 0)), // late: 0 + 10 s is at or below the watermark of 11 s
			batch(words("spark streaming", 30)),
			batch(words("hello apache spark", 60)),
			batch(words("structured streaming", 90)),
		},
		want: []string{
			"1000 [] wm=0",
			"1000 [] wm=11000 noData",
			"2000 [] wm=11000",
			"3000 [] wm=11000",
			"4000 [] wm=11000",
			"5000 [] wm=11000",
			"5000 [] wm=30000 noData",
			"6000 [] wm=30000",
			"6000 " + row(session("spark", 25, 50, 3), session("streaming", 25, 51, 4), session("hello", 40, 51, 2), session("world", 40, 51, 2), session("structured", 41, 51, 1)) + " wm=60000 noData",
		},
	}, {
		name: "complete",
		pipeline: `stages:
  - {op: withWatermark, time: .t, delay: 30s}
  - {op: aggregateBySession, gap: 10s, key: .id, fn: count, outputMode: complete}`,
		batches: []string{
			batch(words("hello world spark streaming", 40), words("world hello structured streaming", 41)),
			batch(words("spark streaming", 25)),
			batch(words("spark streaming", 30)),
			batch(words("hello apache spark", 60)),
			batch(words("structured streaming", 90)),
		},
		want: []string{
			"1000 " + row(session("hello", 40, 51, 2), session("world", 40, 51, 2), session("spark", 40, 50, 1), session("streaming", 40, 51, 2), session("structured", 41, 51, 1)) + " wm=0",
			"2000 " + row(session("spark", 25, 35, 1), session("streaming", 25, 35, 1), session("hello", 40, 51, 2), session("world", 40, 51, 2), session("spark", 40, 50, 1), session("streaming", 40, 51, 2), session("structured", 41, 51, 1)) + " wm=11000",
			"3000 " + row(session("spark", 25, 50, 3), session("streaming", 25, 51, 4), session("hello", 40, 51, 2), session("world", 40, 51, 2), session("structured", 41, 51, 1)) + " wm=11000",
			"4000 " + row(session("spark", 25, 50, 3), session("streaming", 25, 51, 4), session("hello", 40, 51, 2), session("world", 40, 51, 2), session("structured", 41, 51, 1), session("hello", 60, 70, 1), session("spark", 60, 70, 1), session("apache", 60, 70, 1)) + " wm=11000",
			"5000 " + row(session("spark", 25, 50, 3), session("streaming", 25, 51, 4), session("hello", 40, 51, 2), session("world", 40, 51, 2), session("structured", 41, 51, 1), session("hello", 60, 70, 1), session("spark", 60, 70, 1), session("apache", 60, 70, 1), session("streaming", 90, 100, 1), session("structured", 90, 100, 1)) + " wm=30000",
		},
	}, {
		// Sessions of sums and averages merge their aggregates.
		name: "sum and avg across merged sessions",
		pipeline: `streams:
  - {name: w, from: input, stages: [{op: withWatermark, time: .t, delay: 10s}]}
  - {name: s, from: w, stages: [{op: aggregateBySession, gap: 5s, key: .u, value: .n, fn: sum}]}
  - {name: a, from: w, stages: [{op: aggregateBySession, gap: 5s, key: .u, value: .n, fn: avg}]}
  - {name: out, from: s, stages: [{op: union, other: a}]}`,
		// [1 s, 6 s) and [9 s, 14 s), then 5 s bridges them.
		batches: []string{`[{"u":"x","t":1000,"n":1},{"u":"x","t":9000,"n":2}]`, `[{"u":"x","t":5000,"n":3.5}]`, `[{"u":"y","t":30000,"n":0}]`},
		want: []string{
			"1000 [] wm=0",
			"2000 [] wm=0",
			`3000 [] wm=0`,
			`3000 [[[[1000,14000],"x"],6.5],[[[1000,14000],"x"],2.1666666666666665]] wm=20000 noData`,
		},
	}} {
		t.Run(c.name, func(t *testing.T) { checkGraph(t, c) })
	}
}

func TestDeduplication(t *testing.T) {
	rep := func(n int, vals ...int) string {
		var out []string
		for range n {
			for _, v := range vals {
				out = append(out, fmt.Sprint(v*1000))
			}
		}
		return "[" + strings.Join(out, ",") + "]"
	}
	for _, c := range []graphCase{{
		// StreamingDeduplicationSuite "deduplicate with all columns".
		name:     "all columns, no watermark",
		pipeline: `stages: [{op: dropDuplicates}]`,
		batches:  []string{`["a"]`, `["a"]`, `["b"]`},
		want:     []string{`1000 ["a"] wm=0`, `2000 [] wm=0`, `3000 ["b"] wm=0`},
	}, {
		// "deduplicate with some columns".
		name:     "some columns",
		pipeline: `stages: [{op: dropDuplicates, key: .0}]`,
		batches:  []string{`[["a",1]]`, `[["a",2]]`, `[["b",1]]`},
		want:     []string{`1000 [["a",1]] wm=0`, `2000 [] wm=0`, `3000 [["b",1]] wm=0`},
	}, {
		// "deduplicate with watermark": the record is its event time.
		name: "with watermark, the key holds the time",
		pipeline: `stages:
  - {op: withWatermark, time: ., delay: 10s}
  - {op: dropDuplicates}`,
		batches: []string{rep(5, 10, 11, 12, 13, 14, 15), rep(1, 25), rep(1, 10), rep(1, 45)},
		want: []string{
			"1000 [10000,11000,12000,13000,14000,15000] wm=0", "1000 [] wm=5000 noData",
			"2000 [25000] wm=5000", "2000 [] wm=15000 noData",
			"3000 [] wm=15000",
			"4000 [45000] wm=15000", "4000 [] wm=35000 noData",
		},
	}, {
		// "SPARK-19841: watermarkPredicate should filter based on keys".
		name: "composite key with the time",
		pipeline: `stages:
  - {op: withWatermark, time: .time, delay: 1s}
  - {op: dropDuplicates, key: [.id, .time]}`,
		batches: []string{
			`[{"time":1000,"id":1},{"time":1000,"id":1},{"time":1000,"id":2}]`,
			`[{"time":1000,"id":1},{"time":2000,"id":3},{"time":2000,"id":4}]`,
			`[{"time":1000,"id":0},{"time":1000,"id":1},{"time":3000,"id":5},{"time":3000,"id":6}]`,
			`[{"time":1000,"id":0},{"time":4000,"id":7}]`,
		},
		want: []string{
			`1000 [{"time":1000,"id":1},{"time":1000,"id":2}] wm=0`,
			`2000 [{"time":2000,"id":3},{"time":2000,"id":4}] wm=0`, "2000 [] wm=1000 noData",
			`3000 [{"time":3000,"id":5},{"time":3000,"id":6}] wm=1000`, "3000 [] wm=2000 noData",
			`4000 [{"time":4000,"id":7}] wm=2000`, "4000 [] wm=3000 noData",
		},
	}, {
		// "SPARK-21546: dropDuplicates should ignore watermark when it's not a key".
		name: "a key without the time",
		pipeline: `stages:
  - {op: withWatermark, time: .time, delay: 1s}
  - {op: dropDuplicates, key: .id}`,
		batches: []string{`[{"id":1,"time":1000},{"id":1,"time":2000},{"id":2,"time":2000}]`},
		want:    []string{`1000 [{"id":1,"time":1000},{"id":2,"time":2000}] wm=0`, "1000 [] wm=1000 noData"},
	}, {
		// StreamingDeduplicationWithinWatermarkSuite "deduplicate with all
		// columns with event time column in DataFrame".
		name: "within watermark, all columns",
		pipeline: `stages:
  - {op: withWatermark, time: ., delay: 10s}
  - {op: dropDuplicatesWithinWatermark}`,
		batches: []string{rep(5, 10, 11, 12, 13, 14, 15), rep(1, 13, 14, 15, 16, 17), rep(1, 5), rep(1, 35), rep(1, 55)},
		want: []string{
			"1000 [10000,11000,12000,13000,14000,15000] wm=0", "1000 [] wm=5000 noData",
			"2000 [16000,17000] wm=5000", "2000 [] wm=7000 noData",
			"3000 [] wm=7000",
			"4000 [35000] wm=7000", "4000 [] wm=25000 noData",
			"5000 [55000] wm=25000", "5000 [] wm=45000 noData",
		},
	}, {
		// "deduplicate with subset of columns which event time column is not
		// in subset": a key expires at its first event time plus the delay.
		name: "within watermark, a key without the time",
		pipeline: `stages:
  - {op: withWatermark, time: .1, delay: 2s}
  - {op: dropDuplicatesWithinWatermark, key: .0}`,
		batches: []string{`[["a",17000]]`, `[["a",16000]]`, `[["a",13000]]`, `[["b",22000],["c",21000]]`, `[["a",21000]]`, `[["d",25000]]`},
		want: []string{
			`1000 [["a",17000]] wm=0`, "1000 [] wm=15000 noData",
			"2000 [] wm=15000",
			"3000 [] wm=15000",
			`4000 [["b",22000],["c",21000]] wm=15000`, "4000 [] wm=20000 noData",
			`5000 [["a",21000]] wm=20000`,
			`6000 [["d",25000]] wm=20000`, "6000 [] wm=23000 noData",
		},
	}} {
		t.Run(c.name, func(t *testing.T) { checkGraph(t, c) })
	}
}

// The state a dedup keeps is what Spark keeps: keys with the time expire
// with the watermark, others stay.
func TestDeduplicationState(t *testing.T) {
	for p, want := range map[string]int{
		"[{op: withWatermark, time: .t, delay: 1s}, {op: dropDuplicates, key: [.k, .t]}]":          1,
		"[{op: withWatermark, time: .t, delay: 1s}, {op: dropDuplicates, key: .k}]":                3,
		"[{op: withWatermark, time: .t, delay: 1s}, {op: dropDuplicatesWithinWatermark, key: .k}]": 1,
	} {
		g, err := Build(spec(t, "stages: "+p), nil)
		if err != nil {
			t.Fatal(err)
		}
		run(t, g, []string{`[{"k":"a","t":1000},{"k":"b","t":2000}]`, `[{"k":"c","t":9000}]`}, 0)
		if n := len(g.stateful[len(g.stateful)-1].(*dedupStage).seen); n != want {
			t.Errorf("%s: %d keys kept, want %d", p, n, want)
		}
	}
}

func TestKeyBy(t *testing.T) {
	checkGraph(t, graphCase{
		name:     "keyBy a path and a composite",
		pipeline: `streams: [{name: a, from: input, stages: [{op: keyBy, key: .u}]}, {name: b, from: input, stages: [{op: keyBy, key: [.u, .n]}]}, {name: out, from: a, stages: [{op: union, other: b}]}]`,
		batches:  []string{`[{"u":"x","n":1}]`},
		want:     []string{`1000 [["x",{"u":"x","n":1}],[["x",1],{"u":"x","n":1}]]`},
	})
}

// A record a path does not fit follows the stage's onError: fail names the
// stage, the path and the record; skip drops it; deadletter keeps it.
func TestPathErrorsFollowOnError(t *testing.T) {
	in := `[{"k":"a","t":1000,"v":1},{"t":2000,"v":2},{"k":"a","t":3000,"v":"hot"},{"k":"a","t":"soon","v":1},5]`
	for _, c := range []struct {
		onError, want string
		dead          int
	}{
		{"", `stage 2 (aggregateByWindow sum, line 4): key .k: the record has no field "k": {"t":2000,"v":2} (add onError: skip or deadletter to the stage to go on without such records)`, 0},
		{"skip", `1000 [[[[0,10000],"a"],1]] wm=0`, 0},
		// The key and the value errors; the time errors were the
		// withWatermark's, whose onError is skip.
		{"deadletter", `1000 [[[[0,10000],"a"],1]] wm=0`, 2},
	} {
		p := fmt.Sprintf(`deadLetter: jsonl:dead.jsonl
stages:
  - {op: withWatermark, time: .t, delay: 0s, onError: skip}
  - {op: aggregateByWindow, window: 10s, key: .k, value: .v, fn: sum, outputMode: update, onError: %q}`, c.onError)
		g, err := Build(spec(t, p), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := g.Process(context.Background(), 1000, map[string][]abi.Raw{"input": jsonBatch(t, in)})
		got := render(b)
		if err != nil {
			got = err.Error()
		}
		if got != c.want || len(b.Side["deadLetter"]) != c.dead {
			t.Errorf("onError %q:\n got %s (%d dead letters)\nwant %s (%d)", c.onError, got, len(b.Side["deadLetter"]), c.want, c.dead)
		}
	}
}

func TestPaths(t *testing.T) {
	rec := jsonBatch(t, `[{"a":{"b":[10,{"c":"x"}]},"1":"one","n":null}]`)[0]
	for p, want := range map[string]string{
		".":        `{"a":{"b":[10,{"c":"x"}]},"1":"one","n":null}`,
		".a.b.0":   `10`,
		".a.b.1.c": `"x"`,
		".1":       `"one"`,
		".n":       `null`,
		".a.x":     `error: .a has no field "x"`,
		".a.b.2":   `error: .a.b is a list of 2, which has no element 2`,
		".a.b.c":   `error: .a.b is a list, and "c" is not an index`,
		".a.b.0.z": `error: .a.b.0 is 10, not a map or a list`,
	} {
		path, err := parsePath(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := path.get(rec)
		got := "error: " + fmt.Sprint(err)
		if err == nil {
			js, _ := abi.AppendJSON(nil, v)
			got = string(js)
		}
		if got != want {
			t.Errorf("%s: got %s, want %s", p, got, want)
		}
	}
	if _, err := parsePath(".a..b"); err == nil {
		t.Error(".a..b parsed")
	}
}

func TestEventTimeBuildErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		`stages: [{op: aggregateBySession, gap: 10s, key: .u, fn: count}]`:                                                    `outputMode append needs a watermark`,
		`stages: [{op: withWatermark, time: .t}, {op: aggregateBySession, gap: 10s, key: .u, fn: count, outputMode: update}]`: `outputMode update is not supported for session windows`,
		`stages: [{op: withWatermark, time: .t}, {op: aggregateBySession, gap: 10s, fn: count}]`:                              `a session window over all rows, without a key, is not supported`,
		`stages: [{op: withWatermark, time: .t}, {op: aggregateBySession, key: .u, fn: count}]`:                               `needs gap:`,
		`stages: [{op: dropDuplicatesWithinWatermark, key: .u}]`:                                                              `needs a watermark`,
		`stages: [{op: dropDuplicates, key: .u, fn: sum}]`:                                                                    `field fn: does not apply to op dropDuplicates`,
		`stages: [{op: keyBy}]`:                                                                  `needs key:`,
		`stages: [{op: keyBy, key: .a..b}]`:                                                      `has an empty segment`,
		`stages: [{op: keyBy, key: sensor}]`:                                                     `(or give a path such as .key)`,
		`stages: [{op: map, fn: f, key: .k}]`:                                                    `field key: does not apply to op map`,
		`stages: [{op: aggregateByKey, key: .k, fn: avg, onError: deadletter}]`:                  `onError: deadletter needs a dead-letter sink`,
		`stages: [{op: aggregateByWindow, window: 10s, key: .k, fn: count, outputMode: update}]`: `needs event times`,
	} {
		_, err := Build(spec(t, yaml), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", yaml, err, want)
		}
	}
}

// A restart with a changed key, value, gap, time, delay or output mode is
// another pipeline: the shape differs.
func TestShapeHasTheEventTimeFields(t *testing.T) {
	base := `{op: withWatermark, time: .t, delay: 5s}, {op: aggregateBySession, gap: 10s, key: .u, value: .n, fn: sum}`
	shape := func(stages string) string {
		g, err := Build(spec(t, "stages: ["+stages+"]"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return g.Shape()
	}
	ref := shape(base)
	for _, changed := range []string{
		strings.Replace(base, "key: .u", "key: .v", 1),
		strings.Replace(base, "value: .n", "value: .m", 1),
		strings.Replace(base, "gap: 10s", "gap: 20s", 1),
		strings.Replace(base, "delay: 5s", "delay: 6s", 1),
		strings.Replace(base, "time: .t", "time: .ts", 1),
		strings.Replace(base, "fn: sum", "fn: avg", 1),
		strings.Replace(base, "fn: sum", "fn: sum, outputMode: complete", 1),
	} {
		if shape(changed) == ref {
			t.Errorf("same shape for %s", changed)
		}
	}
	if shape(base) != ref {
		t.Error("the shape is not stable")
	}
}

// Stopping after any batch, snapshotting and going on in a graph restored
// from the snapshot gives what one graph gives running straight through,
// for every new event-time operator.
func TestEventTimeSnapshotRestoreIsInvisible(t *testing.T) {
	pipelines := map[string]string{
		"keyed windows": `streams:
  - {name: w, from: input, stages: [{op: withWatermark, time: .t, delay: 2s}]}
  - {name: avg, from: w, stages: [{op: aggregateByWindow, window: 4s, slide: 2s, key: .k, value: .v, fn: avg, outputMode: append}]}
  - {name: min, from: w, stages: [{op: aggregateByWindow, window: 4s, key: [.k, .j], value: .v, fn: min, outputMode: update}]}
  - {name: cnt, from: w, stages: [{op: aggregateByKey, key: .k, fn: count, outputMode: complete}]}
  - {name: out, from: avg, stages: [{op: union, other: min}, {op: union, other: cnt}]}`,
		"sessions": `streams:
  - {name: w, from: input, stages: [{op: withWatermark, time: .t, delay: 1s}]}
  - {name: a, from: w, stages: [{op: aggregateBySession, gap: 1500ms, key: .k, value: .v, fn: sum}]}
  - {name: c, from: w, stages: [{op: aggregateBySession, gap: 1s, key: .k, value: .v, fn: max, outputMode: complete}]}
  - {name: out, from: a, stages: [{op: union, other: c}]}`,
		"dedup": `streams:
  - {name: w, from: input, stages: [{op: withWatermark, time: .t, delay: 1s}]}
  - {name: a, from: w, stages: [{op: dropDuplicates, key: [.k, .t]}]}
  - {name: b, from: w, stages: [{op: dropDuplicatesWithinWatermark, key: .k}]}
  - {name: c, from: input, stages: [{op: dropDuplicates, key: .j}]}
  - {name: out, from: a, stages: [{op: union, other: b}, {op: union, other: c}]}`,
	}
	rng := rand.New(rand.NewSource(11))
	for name, p := range pipelines {
		t.Run(name, func(t *testing.T) {
			var batches []string
			for i := 0; i < 14; i++ {
				var recs []string
				for j := rng.Intn(5); j > 0; j-- {
					recs = append(recs, fmt.Sprintf(`{"k":%q,"j":%d,"t":%d,"v":%d}`, string(rune('a'+rng.Intn(3))), rng.Intn(4), i*700+rng.Intn(3000), rng.Intn(9)-3))
				}
				batches = append(batches, "["+strings.Join(recs, ",")+"]")
			}
			want := restoreIsInvisible(t, p, batches)
			if j := strings.Join(want, ""); !strings.Contains(j, "[[") && !strings.Contains(j, "[{") {
				t.Fatalf("no output records: %v", want)
			}
		})
	}
}

// A checkpoint written before keyed windows (rows [key, start, value])
// still restores into aggregateByWindow and aggregateByKey.
func TestAggregateRestoresTheEarlierFormat(t *testing.T) {
	old := func(rows string) []byte {
		b, err := abi.FromJSON(nil, []byte(rows))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		pipeline, rows, batch, want string
	}{
		{`stages: [{op: aggregateByWindow, time: timestamp, window: 2s, fn: count, outputMode: complete}]`,
			`[[[0, 2000], 0, 3], [[2000, 4000], 2000, 1]]`, `[{"timestamp": 2500}]`, `1000 [[[0,2000],3],[[2000,4000],2]] wm=0`},
		{`stages: [{op: aggregateByWindow, time: timestamp, window: 2s, fn: sum, outputMode: complete}]`,
			`[[[0, 2000], 0, 1.5]]`, `[]`, `1000 [[[0,2000],1.5]] wm=0`},
		{`stages: [{op: aggregateByKey, fn: max, outputMode: complete}]`,
			`[["a", 0, 7], ["b", 0, "x"]]`, `[["a", 9]]`, `1000 [["a",9],["b","x"]] wm=0`},
	} {
		g, err := Build(spec(t, c.pipeline), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.stateful[0].restore(old(c.rows)); err != nil {
			t.Fatalf("%s: %v", c.pipeline, err)
		}
		if got := run(t, g, []string{c.batch}, 0); len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: got %v, want %s", c.pipeline, got, c.want)
		}
	}
}
