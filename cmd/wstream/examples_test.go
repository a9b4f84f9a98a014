package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEventTimeExamples runs the README's event-time examples
// (examples/iot, examples/sessions) with no plugin, and checks that each
// output is the one committed beside it and shown in the README.
func TestEventTimeExamples(t *testing.T) {
	bin := buildBinary(t)
	readme, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, outputs := range map[string][]string{"iot": {"averages", "late"}, "sessions": {"sessions"}} {
		src := filepath.Join(repoRoot(), "examples", name)
		dir := t.TempDir()
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(src, e.Name())); err == nil && !strings.Contains(e.Name(), ".expected.") {
				os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
			}
		}
		cmd := exec.Command(bin, "run", "--pipeline", name+".yaml")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		for _, o := range outputs {
			got, _ := os.ReadFile(filepath.Join(dir, o+".jsonl"))
			want, _ := os.ReadFile(filepath.Join(src, o+".expected.jsonl"))
			if string(got) != string(want) || len(want) == 0 {
				t.Errorf("%s: %s.jsonl:\n%s\nwant (%s.expected.jsonl):\n%s", name, o, got, o, want)
			}
			if !strings.Contains(string(readme), string(want)) {
				t.Errorf("README.md does not show examples/%s/%s.expected.jsonl as it is", name, o)
			}
		}
	}
}
