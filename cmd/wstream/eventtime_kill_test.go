package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeyedEventTimeKillAndRestart kills the binary at random points of a
// keyed event-time pipeline over a JSON-lines file (keyed sliding windows,
// sessions and deduplication, with late rows and lines that are not JSON
// going to their sinks) and restarts it from its checkpoint until the input
// is drained: the output, the late rows and the dead letters are byte for
// byte those of an uninterrupted run.
func TestKeyedEventTimeKillAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: skipped in -short mode")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(5))
	var in bytes.Buffer
	for i := 0; i < 800; i++ {
		if rng.Intn(40) == 0 {
			in.WriteString("{not json\n")
			continue
		}
		fmt.Fprintf(&in, "{\"u\": \"u%d\", \"t\": %d, \"n\": %d}\n", rng.Intn(6), i*100-rng.Intn(4000), rng.Intn(10))
	}
	input := filepath.Join(dir, "readings.jsonl")
	os.WriteFile(input, in.Bytes(), 0o644)

	files := []string{"out.jsonl", "late.jsonl", "dead.jsonl"}
	pipeline := func(name string) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		return write(t, name+".yaml", fmt.Sprintf(`clock: manual
checkpoint: %[1]s/ckpt
source: "file:%[2]s?format=json&onError=deadletter"
streams:
  - {name: w, from: input, stages: [{op: withWatermark, time: .t, delay: 3s}]}
  - {name: win, from: w, stages: [{op: aggregateByWindow, window: 5s, slide: 1s, key: .u, value: .n, fn: avg}]}
  - {name: sess, from: w, stages: [{op: aggregateBySession, gap: 1500ms, key: .u, value: .n, fn: sum}]}
  - {name: dd, from: w, stages: [{op: dropDuplicates, key: [.u, .t]}, {op: keyBy, key: .u}, {op: aggregateByKey, fn: count}]}
  - {name: out, from: win, stages: [{op: union, other: sess}, {op: union, other: dd}]}
sink: jsonl:%[1]s/out.jsonl
late: jsonl:%[1]s/late.jsonl
deadLetter: jsonl:%[1]s/dead.jsonl
`, d, input))
	}
	read := func(name string) []string {
		var out []string
		for _, f := range files {
			b, _ := os.ReadFile(filepath.Join(dir, name, f))
			out = append(out, string(b))
		}
		return out
	}

	start := time.Now()
	if b, err := exec.Command(bin, "run", "--pipeline", pipeline("ref")).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, b)
	}
	span := time.Since(start)
	want := read("ref")
	for i, w := range want {
		if !strings.Contains(w, `"records":[[`) && !strings.Contains(w, `"records":[{`) {
			t.Fatalf("the reference %s holds no records:\n%s", files[i], w)
		}
	}

	kills := killUntilDone(t, bin, pipeline("crash"), span, rng)
	got := read("crash")
	for i := range files {
		if got[i] != want[i] {
			t.Fatalf("after %d kills %s differs from an uninterrupted run's:\n got %d bytes\nwant %d bytes", kills, files[i], len(got[i]), len(want[i]))
		}
	}
	if kills < 3 {
		t.Logf("only %d kills landed before the run finished", kills)
	}
	t.Logf("%d kills, output, late rows and dead letters identical (%d, %d, %d bytes)", kills, len(want[0]), len(want[1]), len(want[2]))
}

// A restart whose pipeline changed a key, a value, a gap or a function is
// refused, naming what differs.
func TestChangedEventTimeFieldsAreRefusedOnRestart(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.csv")
	os.WriteFile(input, []byte("u,t,n\na,1000,1\nb,2000,2\na,9000,3\n"), 0o644)
	pipeline := func(stage string) string {
		return write(t, "p.yaml", fmt.Sprintf(`clock: manual
checkpoint: %[1]s/ckpt
source: file:%[2]s?format=csv
stages:
  - {op: withWatermark, time: .t, delay: 1s}
  - %[3]s
sink: jsonl:%[1]s/out.jsonl
`, dir, input, stage))
	}
	base := "{op: aggregateBySession, gap: 2s, key: .u, value: .n, fn: sum}"
	if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", pipeline(base)); code != 0 {
		t.Fatal(stderr)
	}
	for _, changed := range []string{
		strings.Replace(base, "gap: 2s", "gap: 3s", 1),
		strings.Replace(base, "key: .u", "key: .n", 1),
		strings.Replace(base, "value: .n", "value: .t", 1),
		strings.Replace(base, "fn: sum", "fn: avg", 1),
	} {
		code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", pipeline(changed))
		if code == 0 || !strings.Contains(stderr, "operators differ") {
			t.Errorf("%s: exit %d, %s", changed, code, stderr)
		}
	}
}
