package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintListsEveryProblem: lint reads a pipeline as run does, lists
// every problem with a did-you-mean for typos, names Go types nowhere,
// and opens or writes nothing.
func TestLintListsEveryProblem(t *testing.T) {
	plugin := conformancePlugin(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`plugin: `+plugin+`
source: batches:missing.jsonl
stages:
  - {op: flatMapp, fn: split-words}
  - {op: map, fn: pair-with-onne}
  - {op: reduceByKeyAndWindow, fn: sum, window: 2500ms, slide: 1s}
sink: ftp://nowhere
`), 0o644)
	code, out, _ := wstreamCLI(t, "", "lint", bad)
	for _, want := range []string{
		`source "input": batches:` + dir + `/missing.jsonl: open ` + dir + `/missing.jsonl: no such file or directory`,
		`stage 1 (flatMapp split-words, line 4): unknown op "flatMapp" (did you mean flatMap?)`,
		`stage 2 (map pair-with-onne, line 5): plugin conformance.wasm has no function "pair-with-onne"`, `(did you mean pair-with-one?)`,
		`stage 3 (reduceByKeyAndWindow sum, line 6): window 2.5s is not a multiple`,
		`sink: unknown sink "ftp://nowhere"`,
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, output lacks %q:\n%s", code, want, out)
		}
	}

	fields := filepath.Join(dir, "fields.yaml")
	os.WriteFile(fields, []byte("batch: 1s\nstages:\n  - {op: window, windw: 3s}\n"), 0o644)
	if code, out, _ := wstreamCLI(t, "", "lint", fields); code != 1 || !strings.Contains(out, "line 3: unknown field windw in a stage (did you mean window?)") || strings.Contains(out, "pipeline.") {
		t.Errorf("unknown field: exit %d\n%s", code, out)
	}
	syntax := filepath.Join(dir, "syntax.yaml")
	os.WriteFile(syntax, []byte("batch: 1s\nstages:\n  - op: map\n    fn: f\n   - op: filter\n"), 0o644)
	if code, out, _ := wstreamCLI(t, "", "lint", syntax); code != 1 || !strings.Contains(out, "line 5: did not find expected '-' indicator: - op: filter") {
		t.Errorf("syntax error: exit %d\n%s", code, out)
	}

	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(filepath.Join(dir, "in.jsonl"), []byte("[\"a b\"]\n"), 0o644)
	os.WriteFile(good, []byte("plugin: "+plugin+"\nclock: manual\ncheckpoint: ckpt\nsource: batches:in.jsonl\n"+
		"stages: [{op: flatMap, fn: split-words}, {op: map, fn: pair-with-one}, {op: reduceByKeyAndWindow, fn: sum, window: 2s}]\nsink: jsonl:out.jsonl\n"), 0o644)
	if code, out, stderr := wstreamCLI(t, "", "lint", good); code != 0 || out != good+": OK\n" {
		t.Fatalf("good pipeline: exit %d\n%s%s", code, out, stderr)
	}
	for _, name := range []string{"out.jsonl", "ckpt"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("lint created %s", name)
		}
	}
	if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", good); code != 0 {
		t.Fatal(stderr)
	}
	// A dry run applies run's flags: another batch interval does not fit
	// the checkpoint, and the output is left alone.
	before, _ := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	code, out, _ = wstreamCLI(t, "", "run", "--pipeline", good, "--batch", "500ms", "--dry-run")
	after, _ := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if code != 1 || !strings.Contains(out, "was written with batch: 1s and this run has batch: 500ms") || string(before) != string(after) {
		t.Errorf("dry run with another interval: exit %d\n%s", code, out)
	}
	if code, _, stderr := wstreamCLI(t, "", "lint"); code != 2 || !strings.Contains(stderr, "lint takes one pipeline file") {
		t.Errorf("lint without a file: exit %d, %s", code, stderr)
	}
}

// TestUnknownCommandIsAUsageError: a typo in the command exits 2 with a
// did-you-mean.
func TestUnknownCommandIsAUsageError(t *testing.T) {
	code, _, stderr := wstreamCLI(t, "", "runn")
	if code != 2 || !strings.Contains(stderr, `unknown command "runn" (did you mean run?)`) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := wstreamCLI(t, "", "frobnicate"); code != 2 {
		t.Errorf("frobnicate: exit %d, want 2", code)
	}
}
