package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binOnce, pluginOnce sync.Once
	binPath, binErr     string
	pluginErr           string
)

// repoRoot is the repository root, two levels above this package.
func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(filepath.Dir(wd))
}

// buildBinary builds the real wstream binary once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wstream-bin-")
		if err != nil {
			binErr = err.Error()
			return
		}
		binPath = filepath.Join(dir, "wstream")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = err.Error() + "\n" + string(out)
		}
	})
	if binErr != "" {
		t.Fatalf("building wstream: %s", binErr)
	}
	return binPath
}

// ensurePlugins builds the bundled plugins from source once per test run.
func ensurePlugins(t testing.TB) {
	t.Helper()
	pluginOnce.Do(func() {
		cmd := exec.Command("make", "-s", "plugins")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginErr = err.Error() + "\n" + string(out)
		}
	})
	if pluginErr != "" {
		t.Fatalf("make plugins: %s", pluginErr)
	}
}

func conformancePlugin(t *testing.T) string {
	ensurePlugins(t)
	return filepath.Join(repoRoot(), "plugins/conformance/conformance.wasm")
}

func wordcountPlugin(t *testing.T) string {
	ensurePlugins(t)
	return filepath.Join(repoRoot(), "plugins/wordcount/wordcount.wasm")
}
