//go:build linux

package wasmtest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wstream/wstream/runtime/wasmtest"
)

// buildWstream builds the CLI into dir.
func buildWstream(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "wstream")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/wstream/wstream/cmd/wstream").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestCorpusInTheBinary runs every module of the hostile corpus through the
// real wstream binary on each runtime it has, as an operator would: each
// run must exit non-zero within its limit plus a margin, with a message
// naming the plugin and the function, no Go panic, under 1 MiB of stderr
// and under 1 GiB of peak RSS (the child's own rusage). The margins are
// generous, since the machine may be shared and slow: what they catch is a
// run that does not end, or that balloons.
func TestCorpusInTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the wstream binary")
	}
	dir := t.TempDir()
	bin := buildWstream(t, dir)
	out, err := exec.Command(bin, "version").Output()
	_, list, ok := strings.Cut(strings.TrimSpace(string(out)), "runtimes: ")
	if err != nil || !ok {
		t.Fatalf("wstream version: %q, %v", out, err)
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte("[1]\n"), 0o644)
	const margin = 30 * time.Second
	for _, rt := range strings.Split(strings.TrimSuffix(list, ")"), ", ") {
		for _, h := range wasmtest.Corpus() {
			t.Run(rt+"/"+h.Name, func(t *testing.T) {
				plugin := filepath.Join(dir, h.Name+".wasm")
				os.WriteFile(plugin, h.Wasm, 0o644)
				pipeline := filepath.Join(t.TempDir(), "pipeline.yaml")
				os.WriteFile(pipeline, []byte("plugin: "+plugin+"\nclock: manual\nsource: batches:"+in+
					"\nstages: [{op: map, fn: f}]\nsink: jsonl:"+filepath.Join(t.TempDir(), "out.jsonl")+"\n"), 0o644)
				args := []string{"run", "--pipeline", pipeline, "--runtime", rt,
					"--call-timeout", wasmtest.CorpusTimeout.String(), "--memory-limit", "64MiB"}
				for _, a := range h.Allow {
					args = append(args, "--allow", a)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 4*margin)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, args...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				start := time.Now()
				cmd.Run()
				took := time.Since(start)
				if ctx.Err() != nil {
					t.Fatalf("still running after %v; stderr: %.2000s", 4*margin, stderr.String())
				}
				rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
				msg := stderr.String()
				t.Logf("exit %d after %v, peak RSS %d MiB, %d bytes of stderr: %.300s", cmd.ProcessState.ExitCode(), took.Round(time.Millisecond), rss>>20, len(msg), msg)
				if cmd.ProcessState.ExitCode() <= 0 {
					t.Errorf("exit %d, want a failure", cmd.ProcessState.ExitCode())
				}
				if took > 3*wasmtest.CorpusTimeout+margin {
					t.Errorf("the run took %v with a time limit of %v", took, wasmtest.CorpusTimeout)
				}
				if rss >= 1<<30 {
					t.Errorf("peak RSS %d MiB", rss>>20)
				}
				if len(msg) >= 1<<20 {
					t.Errorf("%d bytes of stderr", len(msg))
				}
				if strings.Contains(msg, "panic:") || strings.Contains(msg, "goroutine ") {
					t.Errorf("a Go panic or stack trace on stderr")
				}
				names := []string{h.Name + ".wasm", h.Says}
				if !h.AtLoad {
					names = append(names, "f")
				}
				for _, want := range names {
					if !strings.Contains(msg, want) {
						t.Errorf("stderr does not say %q", want)
					}
				}
				if !h.AtLoad && !strings.Contains(msg, `function "f"`) && !strings.Contains(msg, "(map f") {
					t.Errorf("stderr does not name the function f")
				}
			})
		}
	}
}

// TestNestedMapKeysInTheBinary: a valid result whose map keys are maps 28
// levels deep, 58 bytes of msgpack, reaches a jsonl: sink as a short line.
func TestNestedMapKeysInTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the wstream binary")
	}
	dir := t.TempDir()
	bin := buildWstream(t, dir)
	const depth = 28
	nest := append(bytes.Repeat([]byte{0x81}, depth), bytes.Repeat([]byte{0xc0}, depth+1)...)
	plugin := filepath.Join(dir, "keys.wasm")
	os.WriteFile(plugin, wasmtest.Guest{Response: append(append([]byte{0x93, 0x00, 0x91}, nest...), 0x90)}.Bytes(), 0o644)
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	os.WriteFile(in, []byte("[1]\n"), 0o644)
	pipeline := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipeline, []byte("plugin: "+plugin+"\nclock: manual\nsource: batches:"+in+"\nstages: [{op: map, fn: f}]\nsink: jsonl:"+out+"\n"), 0o644)
	if msg, err := exec.Command(bin, "run", "--pipeline", pipeline).CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, msg)
	}
	line, _ := os.ReadFile(out)
	if len(line) > 1<<10 || !bytes.Contains(line, []byte(`{"{{{{`)) {
		t.Errorf("the sink wrote %d bytes: %.300s", len(line), line)
	}
}
