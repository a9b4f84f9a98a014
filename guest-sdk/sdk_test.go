package guestsdk_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
	guestsdk "github.com/wstream/wstream/guest-sdk"
)

// embedded lists the files of fsys under dir, relative to dir.
func embedded(t *testing.T, fsys fs.FS, dir string) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// onDisk lists the files in dir (not below it) that keep returns true for.
func onDisk(t *testing.T, dir string, keep func(string) bool) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && keep(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names
}

func goSource(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
}

// A file added to an SDK but not to the embed list would give `wstream new`
// a plugin that does not build: the lists must match the folders.
func TestEmbeddedGoSDKIsComplete(t *testing.T) {
	if got, want := embedded(t, guestsdk.Files, "go"), onDisk(t, "go", goSource); !slices.Equal(got, want) {
		t.Errorf("guestsdk.Files embeds go/%v; the Go SDK's non-test files are %v: update the go:embed line in sdk.go", got, want)
	}
	want := onDisk(t, "../abi", func(n string) bool { return goSource(n) && n != "source.go" || n == "ABI.md" })
	if got := embedded(t, abi.Source, "."); !slices.Equal(got, want) {
		t.Errorf("abi.Source embeds %v; abi's non-test files are %v: update the go:embed line in abi/source.go", got, want)
	}
}

func TestEmbeddedSDKsAreComplete(t *testing.T) {
	for dir, keep := range map[string]func(string) bool{
		"c":                       func(n string) bool { return strings.HasPrefix(n, "wstream.") },
		"rust":                    func(n string) bool { return strings.HasSuffix(n, ".rs") },
		"assemblyscript/assembly": func(string) bool { return true },
	} {
		want := onDisk(t, dir, keep)
		if got := embedded(t, guestsdk.Files, dir); !slices.Equal(got, want) {
			t.Errorf("guestsdk.Files embeds %s/%v; the folder has %v: update the go:embed lines in sdk.go", dir, got, want)
		}
	}
	for _, f := range []string{"assemblyscript/package.json", "assemblyscript/package-lock.json"} {
		if _, err := fs.Stat(guestsdk.Files, f); err != nil {
			t.Errorf("%s is not embedded: %v", f, err)
		}
	}
}
