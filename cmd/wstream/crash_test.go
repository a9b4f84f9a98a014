package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillAndRestartGivesIdenticalOutput kills the real binary with SIGKILL
// at random points, restarts it from its checkpoint until the input is
// drained, and checks that the output is byte for byte what an
// uninterrupted run writes: nothing lost, nothing duplicated.
func TestKillAndRestartGivesIdenticalOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: skipped in -short mode")
	}
	bin := buildBinary(t)
	plugin := conformancePlugin(t)
	dir := t.TempDir()

	// 400 batches of words, so runs last long enough to be killed midway.
	rng := rand.New(rand.NewSource(1))
	var in bytes.Buffer
	words := []string{"a", "b", "c", "d", "e"}
	for i := 0; i < 400; i++ {
		var batch []string
		for j := rng.Intn(6); j > 0; j-- {
			batch = append(batch, fmt.Sprintf("%q", words[rng.Intn(len(words))]+" "+words[rng.Intn(len(words))]))
		}
		if len(batch) == 0 && rng.Intn(3) == 0 {
			in.WriteString("null\n")
			continue
		}
		in.WriteString("[" + strings.Join(batch, ",") + "]\n")
	}
	input := filepath.Join(dir, "in.jsonl")
	os.WriteFile(input, in.Bytes(), 0o644)

	pipeline := func(name, sink string) string {
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`plugin: %s
clock: manual
checkpoint: %s
source: batches:%s
streams:
  - {name: words, from: input, stages: [{op: flatMap, fn: split-words}, {op: map, fn: pair-with-one}]}
  - {name: total, from: words, stages: [{op: updateStateByKey, fn: sum-into-state}]}
  - {name: recent, from: words, stages: [{op: reduceByKeyAndWindow, fn: sum, inverse: subtract, window: 3s, slide: 1s}]}
  - {name: out, from: total, stages: [{op: join, other: recent}]}
sink: %s
`, plugin, filepath.Join(dir, name+"-ckpt"), input, sink)), 0o644)
		return p
	}

	for _, sink := range []string{"jsonl", "dir"} {
		t.Run(sink, func(t *testing.T) {
			out := func(name string) string {
				if sink == "jsonl" {
					return "jsonl:" + filepath.Join(dir, name+".jsonl")
				}
				os.MkdirAll(filepath.Join(dir, name), 0o755)
				return "dir:" + filepath.Join(dir, name, "part")
			}
			ref := pipeline(sink+"-ref", out(sink+"-ref"))
			start := time.Now()
			if b, err := exec.Command(bin, "run", "--pipeline", ref).CombinedOutput(); err != nil {
				t.Fatalf("reference run: %v\n%s", err, b)
			}
			// Kill at a random moment within the time a whole run takes, so
			// kills land during start-up, batches and checkpoint commits.
			span := time.Since(start)
			want := readOutput(t, dir, sink+"-ref", sink)

			kills := killUntilDone(t, bin, pipeline(sink+"-crash", out(sink+"-crash")), span, rng)
			got := readOutput(t, dir, sink+"-crash", sink)
			if got != want {
				t.Fatalf("after %d kills the output differs from an uninterrupted run:\n got %d bytes\nwant %d bytes", kills, len(got), len(want))
			}
			if kills < 3 {
				t.Logf("only %d kills landed before the run finished", kills)
			}
			t.Logf("%d kills, output identical (%d bytes)", kills, len(want))
		})
	}
}

// killUntilDone runs the pipeline, killing it with SIGKILL at a random
// moment within within, and restarts it from its checkpoint; after
// maxKills kills it lets the run finish, so that a slow machine, where
// most kills land during start-up, still ends. It returns how many runs
// were killed.
func killUntilDone(t *testing.T, bin, pipeline string, within time.Duration, rng *rand.Rand) int {
	t.Helper()
	const maxKills = 15
	for kills := 0; ; kills++ {
		cmd := exec.Command(bin, "run", "--pipeline", pipeline)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var kill <-chan time.Time
		if kills < maxKills {
			kill = time.After(time.Duration(rng.Int63n(int64(within))))
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run failed: %v\n%s", err, stderr.String())
			}
			return kills
		case <-kill:
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}
}

// TestKillAndRestartKeyedState is the kill loop above for mapWithState
// (timeouts, initial state, snapshots) and a stream-stream full outer join
// (buffers, matched flags, watermarks): a restart from the checkpoint must
// continue exactly where the killed run committed.
func TestKillAndRestartKeyedState(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: skipped in -short mode")
	}
	bin := buildBinary(t)
	plugin := conformancePlugin(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(2))

	// Words from a vocabulary larger than a batch, so that keys idle long
	// enough to time out; and rows [key, seconds] for two join sides, a
	// few seconds out of order.
	var words, left, right bytes.Buffer
	vocab := strings.Fields("a b c d e f g h i j k l")
	for i := 0; i < 300; i++ {
		var batch []string
		for j := rng.Intn(4); j > 0; j-- {
			batch = append(batch, fmt.Sprintf("%q", vocab[rng.Intn(len(vocab))]))
		}
		words.WriteString("[" + strings.Join(batch, ",") + "]\n")
		for _, side := range []*bytes.Buffer{&left, &right} {
			var rows []string
			for j := rng.Intn(4); j > 0; j-- {
				rows = append(rows, fmt.Sprintf("[%d,%d]", rng.Intn(5), i+rng.Intn(8)))
			}
			side.WriteString("[" + strings.Join(rows, ",") + "]\n")
		}
	}
	for name, b := range map[string]*bytes.Buffer{"words": &words, "left": &left, "right": &right} {
		os.WriteFile(filepath.Join(dir, name+".jsonl"), b.Bytes(), 0o644)
	}
	pipelines := map[string]string{
		"mapWithState": `sources: {input: "batches:%[1]s/words.jsonl"}
streams:
  - {name: words, from: input, stages: [{op: map, fn: pair-with-one}]}
  - {name: idle, from: words, stages: [{op: mapWithState, fn: set-one-emit-key-on-timeout, timeout: 3s}]}
  - {name: sums, from: words, stages: [{op: mapWithState, fn: running-sum-emit-pair, initial: [["a", 100]]}]}
  - {name: states, from: words, stages: [{op: mapWithState, fn: inc-or-init-remove-on-2, output: snapshots, timeout: 5s, initial: [["z", 1]]}]}
  - {name: out, from: sums, stages: [{op: union, other: idle}, {op: union, other: states}]}
`,
		"join": `sources: {left: "batches:%[1]s/left.jsonl", right: "batches:%[1]s/right.jsonl"}
streams:
  - {name: r, from: right, stages: [{op: withWatermark, time: second-seconds, delay: 4s}, {op: map, fn: key-by-first}]}
  - {name: out, from: left, stages: [{op: withWatermark, time: second-seconds, delay: 3s}, {op: map, fn: key-by-first}, {op: fullOuterJoin, other: r, within: {before: 2s, after: 3s}}]}
`,
	}
	for name, body := range pipelines {
		t.Run(name, func(t *testing.T) {
			pipeline := func(run string) string {
				p := filepath.Join(dir, name+"-"+run+".yaml")
				os.WriteFile(p, []byte(fmt.Sprintf("plugin: %s\nclock: manual\ncheckpoint: %s\nsink: jsonl:%s\n", plugin,
					filepath.Join(dir, name+"-"+run+"-ckpt"), filepath.Join(dir, name+"-"+run+".jsonl"))+fmt.Sprintf(body, dir)), 0o644)
				return p
			}
			start := time.Now()
			if b, err := exec.Command(bin, "run", "--pipeline", pipeline("ref")).CombinedOutput(); err != nil {
				t.Fatalf("reference run: %v\n%s", err, b)
			}
			span := time.Since(start)
			t.Logf("reference run: %v", span)
			want := readOutput(t, dir, name+"-ref", "jsonl")
			if !strings.Contains(want, `"records":[[`) {
				t.Fatalf("the reference run produced no records:\n%.500s", want)
			}
			kills := killUntilDone(t, bin, pipeline("crash"), span, rng)
			if got := readOutput(t, dir, name+"-crash", "jsonl"); got != want {
				t.Fatalf("after %d kills the output differs from an uninterrupted run:\n got %d bytes\nwant %d bytes", kills, len(got), len(want))
			}
			t.Logf("%d kills, output identical (%d bytes)", kills, len(want))
		})
	}
}

// readOutput returns a sink's output: the jsonl file, or every dir: file
// in name order.
func readOutput(t *testing.T, dir, name, kind string) string {
	if kind == "jsonl" {
		b, err := os.ReadFile(filepath.Join(dir, name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	files, _ := filepath.Glob(filepath.Join(dir, name, "part-*"))
	sort.Strings(files)
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.WriteString(filepath.Base(f) + "\n")
		all.Write(b)
	}
	return all.String()
}
