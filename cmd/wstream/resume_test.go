package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
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

// snapshotFiles reads every file below dir, by path relative to it.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			files[rel] = string(b)
		}
		return nil
	})
	return files
}

// TestRefusedStartChangesNoOutput: a corrupt or foreign checkpoint, a
// changed pipeline, a changed batch interval and an unreachable source are
// each refused with every output (the sink, late rows, dead letters, a dir:
// sink's files) unchanged to the byte; restoring the good checkpoint then
// resumes exactly where it stopped.
func TestRefusedStartChangesNoOutput(t *testing.T) {
	plugin := conformancePlugin(t)
	lines := []string{`[10, 11, "x", 12]`, `[25]`, `[2, 31, "y"]`, `[40]`, `[45, 1]`, `[]`}
	for _, sinkKind := range []string{"jsonl", "dir"} {
		t.Run(sinkKind, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			sink := "jsonl:" + filepath.Join(out, "counts.jsonl")
			if sinkKind == "dir" {
				sink = "dir:" + filepath.Join(out, "counts")
			}
			in := filepath.Join(dir, "in.jsonl")
			pipeline := func(name, window string) string {
				return write(t, name+".yaml", `plugin: `+plugin+`
clock: manual
checkpoint: `+filepath.Join(dir, "ckpt")+`
source: batches:`+in+`
stages:
  - {op: map, fn: add-4, onError: deadletter}
  - {op: withWatermark, time: int-seconds, delay: 10s}
  - {op: aggregateByWindow, window: `+window+`, fn: count, outputMode: append}
sink: `+sink+`
late: jsonl:`+filepath.Join(out, "late.jsonl")+`
deadLetter: jsonl:`+filepath.Join(out, "dead.jsonl")+`
`)
			}
			p := pipeline("p", "10s")
			input := func(n int) {
				var b []byte
				for _, l := range lines[:n] {
					b = append(b, l+"\n"...)
				}
				os.WriteFile(in, b, 0o644)
			}
			// The reference: one uninterrupted run over all the input.
			input(len(lines))
			if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", p); code != 0 {
				t.Fatal(stderr)
			}
			want := snapshotFiles(t, out)
			os.RemoveAll(out)
			os.RemoveAll(filepath.Join(dir, "ckpt"))

			input(3)
			if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", p); code != 0 {
				t.Fatal(stderr)
			}
			before := snapshotFiles(t, out)
			ckpt := filepath.Join(dir, "ckpt", "checkpoint")
			good, _ := os.ReadFile(ckpt)
			input(len(lines))

			foreign := filepath.Join(dir, "foreign-ckpt")
			other := write(t, "other.yaml", "plugin: "+plugin+"\nclock: manual\nsource: batches:"+in+"\nstages: [{op: map, fn: identity}]\nsink: jsonl:"+filepath.Join(dir, "foreign.jsonl")+"\n")
			if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", other, "--checkpoint", foreign); code != 0 {
				t.Fatal(stderr)
			}
			foreignCkpt, _ := os.ReadFile(filepath.Join(foreign, "checkpoint"))
			corrupt := append([]byte{}, good...)
			corrupt[len(corrupt)-3] ^= 0xff

			for _, c := range []struct {
				name string
				ckpt []byte
				args []string
				want string
			}{
				{"corrupt checkpoint", corrupt, []string{"--pipeline", p}, "checkpoint is corrupt"},
				{"foreign checkpoint", foreignCkpt, []string{"--pipeline", p}, "whose operators differ"},
				{"changed pipeline", good, []string{"--pipeline", pipeline("wider", "20s")}, "window: 10s in the checkpoint, 20s in the pipeline"},
				{"changed batch interval", good, []string{"--pipeline", p, "--batch", "500ms"}, "was written with batch: 1s and this run has batch: 500ms"},
				{"unreachable source", good, []string{"--pipeline", p, "--source", "socket://127.0.0.1:1"}, "socket://127.0.0.1:1"},
			} {
				os.WriteFile(ckpt, c.ckpt, 0o644)
				code, _, stderr := wstreamCLI(t, "", append([]string{"run"}, c.args...)...)
				if code != 1 || !strings.Contains(stderr, c.want) {
					t.Errorf("%s: exit %d, stderr %q; want 1 and %q", c.name, code, stderr, c.want)
				}
				if got := snapshotFiles(t, out); !reflect.DeepEqual(got, before) {
					t.Errorf("%s changed the output:\n%v\nwas\n%v", c.name, got, before)
				}
			}

			os.WriteFile(ckpt, good, 0o644)
			if code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", p); code != 0 {
				t.Fatal(stderr)
			}
			if got := snapshotFiles(t, out); !reflect.DeepEqual(got, want) {
				t.Errorf("after restoring the checkpoint:\n%v\nuninterrupted:\n%v", got, want)
			}
		})
	}

	// Without a checkpoint, a start that fails leaves an existing output as
	// it was too.
	old := write(t, "old.jsonl", "yesterday's results\n")
	code, _, stderr := wstreamCLI(t, "", "run", "--plugin", wordcountPlugin(t), "--source", "socket://127.0.0.1:1", "--sink", "jsonl:"+old)
	if b, _ := os.ReadFile(old); code != 1 || string(b) != "yesterday's results\n" {
		t.Errorf("failed start without a checkpoint: exit %d, %q, file %q", code, stderr, b)
	}
}

// TestPathsResolveBesideThePipelineFile: run from another folder, a
// pipeline reads its input, writes its sink and keeps its checkpoint
// beside its file; a flag's path is the working directory's.
func TestPathsResolveBesideThePipelineFile(t *testing.T) {
	bin := buildBinary(t)
	plugin := conformancePlugin(t)
	jobDir, elsewhere := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(jobDir, "in.jsonl"), []byte("[\"a b\"]\n[\"b\"]\n"), 0o644)
	os.WriteFile(filepath.Join(jobDir, "p.yaml"), []byte("plugin: "+plugin+"\nclock: manual\ncheckpoint: ckpt\nsource: batches:in.jsonl\n"+
		"stages: [{op: flatMap, fn: split-words}]\nsink: jsonl:out.jsonl\n"), 0o644)
	cmd := exec.Command(bin, "run", "--pipeline", filepath.Join(jobDir, "p.yaml"))
	cmd.Dir = elsewhere
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	out, _ := os.ReadFile(filepath.Join(jobDir, "out.jsonl"))
	if _, err := os.Stat(filepath.Join(jobDir, "ckpt", "checkpoint")); err != nil || string(out) != "{\"time\":1000,\"records\":[\"a\",\"b\"]}\n{\"time\":2000,\"records\":[\"b\"]}\n" {
		t.Fatalf("beside the file: out %q, checkpoint %v", out, err)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Fatalf("the working directory got %v", entries)
	}
	cmd = exec.Command(bin, "run", "--pipeline", filepath.Join(jobDir, "p.yaml"), "--sink", "jsonl:flag.jsonl", "--checkpoint", "flag-ckpt")
	cmd.Dir = elsewhere
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "flag.jsonl")); err != nil {
		t.Fatalf("a flag's path is the working directory's: %v", err)
	}
}
