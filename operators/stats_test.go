package operators

import (
	"fmt"
	"strings"
	"testing"
)

// Each stage counts the batches it ran, its records in and out, and says
// what state it holds; a transform counts as one stage.
func TestStageStatsAndStateSizes(t *testing.T) {
	g, err := Build(spec(t, `streams:
  - {name: a, from: input, stages: [{op: reduceByKey, fn: sum}, {op: transform, stages: [{op: countByValue}, {op: count}]}]}
  - {name: w, from: input, stages: [{op: reduceByKeyAndWindow, fn: sum, window: 2s}]}
  - {name: out, from: w, stages: [{op: union, other: a}]}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, g, []string{`[["x", 1], ["y", 2], ["x", 3]]`, `[["z", 1]]`, `[]`}, 0)

	var lines []string
	sizes := g.StateSizes(nil)
	for i, s := range g.StageStats(nil) {
		info := g.Stages()[i]
		lines = append(lines, fmt.Sprintf("%s<%s %d %s %s other=%s stateful=%v: batches=%d in=%d out=%d state=%+v",
			info.Stream, info.From, info.Index, info.Op, info.Fn, info.Other, info.Stateful, s.Batches, s.RecordsIn, s.RecordsOut, sizes[i]))
		if s.Time <= 0 || s.Guest != 0 {
			t.Errorf("%s: time %v, guest %v: want time and no guest time", info.Label, s.Time, s.Guest)
		}
	}
	want := []string{
		"a<input 1 reduceByKey sum other= stateful=false: batches=3 in=4 out=3 state={Keys:0 Bytes:0}",
		"a<input 2 transform  other= stateful=false: batches=3 in=3 out=3 state={Keys:0 Bytes:0}",
		"w<input 1 reduceByKeyAndWindow sum other= stateful=true: batches=3 in=4 out=6 state={Keys:3 Bytes:12}",
		"out<w 1 union  other=a stateful=false: batches=3 in=6 out=9 state={Keys:0 Bytes:0}",
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("stages:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
