package conformance

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The runner drives the real CLI the way a user (or an outside checker)
// does: `wstream run --pipeline` with batches: input, a manual clock and a
// jsonl: sink. It builds the binary and the plugins from source first.

var (
	root    string // repository root
	wstream string // built binary
)

func TestMain(m *testing.M) {
	os.Exit(func() int {
		wd, _ := os.Getwd()
		root = filepath.Dir(wd)
		tmp, err := os.MkdirTemp("", "wstream-conformance-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(tmp)
		wstream = filepath.Join(tmp, "wstream")
		if out, err := run(root, "go", "build", "-o", wstream, "./cmd/wstream"); err != nil {
			fmt.Fprintf(os.Stderr, "building wstream: %v\n%s", err, out)
			return 1
		}
		if out, err := run(root, "make", "-s", "plugins"); err != nil {
			fmt.Fprintf(os.Stderr, "make plugins: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

func run(dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// target is one plugin on one runtime.
type target struct {
	name    string
	plugin  string
	runtime string
}

// targets lists every conformance plugin × every runtime compiled into the
// binary. Other SDKs add their plugins under plugins/conformance/<lang>/.
func targets(t *testing.T) []target {
	plugins := []string{filepath.Join(root, "plugins/conformance/conformance.wasm")}
	more, _ := filepath.Glob(filepath.Join(root, "plugins/conformance/*/conformance.wasm"))
	plugins = append(plugins, more...)
	out, err := exec.Command(wstream, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	var runtimes []string
	for _, r := range []string{"wazero", "wasmtime"} {
		if bytes.Contains(out, []byte(r)) {
			runtimes = append(runtimes, r)
		}
	}
	var ts []target
	for _, p := range plugins {
		lang := filepath.Base(filepath.Dir(p))
		if lang == "conformance" {
			lang = "go"
		}
		for _, r := range runtimes {
			ts = append(ts, target{name: lang + "/" + r, plugin: p, runtime: r})
		}
	}
	return ts
}

func TestVectors(t *testing.T) {
	vectors, err := Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(vectors) == 0 {
		t.Fatal("no vectors in testdata")
	}
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			for _, v := range vectors {
				t.Run(strings.TrimSuffix(v.File, ".yaml")+"/"+v.Name, func(t *testing.T) {
					t.Parallel()
					checkVector(t, v, tg)
				})
			}
		})
	}
}

func checkVector(t *testing.T, v Vector, tg target) {
	dir := t.TempDir()
	uris, err := v.BatchesFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out.jsonl")
	pipeline, err := v.PipelineFile(tg.plugin, uris, "jsonl:"+outPath)
	if err != nil {
		t.Fatal(err)
	}
	pPath := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(pPath, pipeline, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(wstream, "run", "--pipeline", pPath, "--runtime", tg.runtime)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if v.Error != "" {
		if runErr == nil {
			t.Fatalf("run succeeded; want an error containing %q", v.Error)
		}
		if !strings.Contains(stderr.String(), v.Error) {
			t.Fatalf("error %q does not contain %q", stderr.String(), v.Error)
		}
		assertNoPanic(t, stderr.String())
		return
	}
	if runErr != nil {
		t.Fatalf("wstream run: %v\n%s\npipeline:\n%s", runErr, stderr.String(), pipeline)
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	actual, err := ParseOutput(data)
	if err != nil {
		t.Fatal(err)
	}
	interval := int64(1000)
	if b := batchOf(pipeline); b > 0 {
		interval = b
	}
	expected, err := v.ExpectedBatches(interval)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(expected, actual, v.Compare == "unordered"); d != "" {
		t.Fatalf("%s (Spark: %s)\n%s", v.Name, v.Spark, d)
	}
}

func assertNoPanic(t *testing.T, stderr string) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", ".go:"} {
		if strings.Contains(stderr, s) {
			t.Fatalf("stderr shows a Go panic or stack trace:\n%s", stderr)
		}
	}
}

// batchOf reads the batch interval (ms) from a rendered pipeline.
func batchOf(pipeline []byte) int64 {
	var m struct {
		Batch string `yaml:"batch"`
	}
	if yaml.Unmarshal(pipeline, &m) != nil {
		return 0
	}
	d, _ := time.ParseDuration(m.Batch)
	return d.Milliseconds()
}
