package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEventTimeResumesWithTheSameWatermark runs half of the input, then the
// rest from the checkpoint: the output (watermarks, windows, no-data
// triggers) must equal one uninterrupted run's.
func TestEventTimeResumesWithTheSameWatermark(t *testing.T) {
	plugin := conformancePlugin(t)
	lines := []string{"[10, 11, 12, 13, 14, 15]\n", "[25]\n", "[2, 31]\n", "[40]\n", "[]\n"}
	dir := t.TempDir()
	pipeline := func(name string) (string, string) {
		in := filepath.Join(dir, name+".jsonl")
		out := filepath.Join(dir, name+"-out.jsonl")
		p := write(t, name+".yaml", `plugin: `+plugin+`
clock: manual
checkpoint: `+filepath.Join(dir, name+"-ckpt")+`
source: batches:`+in+`
stages:
  - {op: withWatermark, time: int-seconds, delay: 10s}
  - {op: aggregateByWindow, window: 10s, slide: 5s, fn: count, outputMode: append}
sink: jsonl:`+out+`
late: jsonl:`+filepath.Join(dir, name+"-late.jsonl")+`
`)
		return p, in
	}
	full, fullIn := pipeline("full")
	os.WriteFile(fullIn, []byte(lines[0]+lines[1]+lines[2]+lines[3]+lines[4]), 0o644)
	if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", full); code != 0 {
		t.Fatal(stderr)
	}
	half, halfIn := pipeline("half")
	os.WriteFile(halfIn, []byte(lines[0]+lines[1]), 0o644)
	if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", half); code != 0 {
		t.Fatal(stderr)
	}
	os.WriteFile(halfIn, []byte(lines[0]+lines[1]+lines[2]+lines[3]+lines[4]), 0o644)
	if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", half); code != 0 {
		t.Fatal(stderr)
	}
	for _, suffix := range []string{"-out.jsonl", "-late.jsonl"} {
		want, _ := os.ReadFile(filepath.Join(dir, "full"+suffix))
		got, _ := os.ReadFile(filepath.Join(dir, "half"+suffix))
		if string(got) != string(want) || len(want) == 0 {
			t.Fatalf("%s after a restart:\n%s\nuninterrupted:\n%s", suffix, got, want)
		}
	}
}
