package operators

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// Stopping anywhere and resuming from a snapshot changes nothing the
// record-order operators emit, in an event-time pipeline they mix with.
func TestRecordOrderSnapshotRestoreIsInvisible(t *testing.T) {
	p := `streams:
  - {name: w, from: input, stages: [{op: withWatermark, time: .t, delay: 1s}]}
  - {name: top, from: w, stages: [{op: aggregateByWindow, window: 2s, key: .k, fn: count, outputMode: update}, {op: topN, n: 2}]}
  - {name: cw, from: input, stages: [{op: countWindow, size: 3, every: 2, key: .k, value: .v, fn: max}]}
  - {name: lm, from: input, stages: [{op: landmarkWindow, reset: .r, key: .k, value: .v, fn: sum}]}
  - {name: wl, from: input, stages: [{op: withLatest, other: cw}]}
  - {name: out, from: top, stages: [{op: union, other: cw}, {op: union, other: lm}, {op: union, other: wl}]}`
	rng := rand.New(rand.NewSource(5))
	var batches []string
	for i := 0; i < 12; i++ {
		var recs []string
		for j := rng.Intn(5); j > 0; j-- {
			recs = append(recs, fmt.Sprintf(`{"k":%q,"t":%d,"v":%d,"r":%t}`, string(rune('a'+rng.Intn(3))), i*700+rng.Intn(2000), rng.Intn(9), rng.Intn(4) == 0))
		}
		batches = append(batches, "["+strings.Join(recs, ",")+"]")
	}
	want := strings.Join(restoreIsInvisible(t, p, batches), "\n")
	for _, s := range []string{`{"k":`, `["`, `[[[`} {
		if !strings.Contains(want, s) {
			t.Fatalf("no %s in the output:\n%s", s, want)
		}
	}
}

func TestRecordOrderBuildErrors(t *testing.T) {
	for yaml, want := range map[string]string{
		`stages: [{op: topN, n: 0}]`:                                  `needs n:`,
		`stages: [{op: topN, n: 2, by: value}]`:                       `by: "value" is not a path`,
		`stages: [{op: topN, n: 2, window: 1s}]`:                      `field window: does not apply to op topN`,
		`stages: [{op: countWindow, size: 3, fn: median}]`:            `"median" is not a built-in`,
		`stages: [{op: countWindow, size: 3, every: -1, fn: count}]`:  `every: -1 is negative`,
		`stages: [{op: countWindow, size: 3}]`:                        `needs fn:`,
		`stages: [{op: landmarkWindow, reset: reset, fn: sum}]`:       `needs reset: a path`,
		`stages: [{op: landmarkWindow, reset: .r, fn: sum, size: 2}]`: `field size: does not apply`,
		`stages: [{op: withLatest, other: nowhere}]`:                  `not a stream listed before`,
		`stages: [{op: countWindow, size: 2, fn: count}, {op: window, window: 2s}, {op: withWatermark, time: .t, delay: 1s}]`: `do not mix`,
	} {
		_, err := Build(spec(t, yaml), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", yaml, err, want)
		}
	}
}
