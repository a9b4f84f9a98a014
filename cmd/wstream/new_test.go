package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewPluginBuildsAndPassesConformance: what `wstream new` generates
// builds with one command and passes `wstream check` unchanged, in
// every language.
func TestNewPluginBuildsAndPassesConformance(t *testing.T) {
	for _, lang := range []string{"go", "c", "rust", "assemblyscript"} {
		t.Run(lang, func(t *testing.T) {
			dir := t.TempDir()
			code, out, stderr := wstreamCLI(t, "", "new", "--lang", lang, "--dir", dir, "--sdk", repoRoot(), "my-"+lang)
			if code != 0 {
				t.Fatalf("new: %s %s", out, stderr)
			}
			pdir := filepath.Join(dir, "my-"+lang)
			if b, err := exec.Command("make", "-C", pdir).CombinedOutput(); err != nil {
				t.Fatalf("make: %v\n%s", err, b)
			}
			code, out, stderr = wstreamCLI(t, "", "check", filepath.Join(pdir, "my-"+lang+".wasm"))
			if code != 0 || !strings.Contains(out, "0 checks failed") {
				t.Fatalf("conformance: exit %d\n%s\n%s", code, out, stderr)
			}
			code, out, _ = wstreamCLI(t, "", "inspect", filepath.Join(pdir, "my-"+lang+".wasm"), "--json")
			if code != 0 || !strings.Contains(out, `"name": "my-`+lang+`"`) {
				t.Fatalf("inspect: %s", out)
			}
		})
	}
}

func TestNewRefusesBadNames(t *testing.T) {
	for _, args := range [][]string{{"new", "Bad Name"}, {"new", "--lang", "cobol", "x"}, {"new"}} {
		if code, _, stderr := wstreamCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
	}
}
