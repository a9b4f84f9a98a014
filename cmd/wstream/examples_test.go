package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestKeyedStateExamples runs the README's mapWithState and join examples
// (plugins/events) and checks their output against the files the README
// shows.
func TestKeyedStateExamples(t *testing.T) {
	bin := buildBinary(t)
	ensurePlugins(t)
	for _, name := range []string{"fraud", "ads"} {
		out := filepath.Join(t.TempDir(), name+".jsonl")
		cmd := exec.Command(bin, "run", "--pipeline", "plugins/events/"+name+".yaml", "--sink", "jsonl:"+out)
		cmd.Dir = repoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		got, _ := os.ReadFile(out)
		want, err := os.ReadFile(filepath.Join(repoRoot(), "plugins/events", name+".out.jsonl"))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: output\n%s\nwant (plugins/events/%s.out.jsonl)\n%s", name, got, name, want)
		}
	}
}
