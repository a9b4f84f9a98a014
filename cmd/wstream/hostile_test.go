package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime/wasmtest"
)

// compiledRuntimes asks `wstream version` which runtimes this binary has:
// wasmtime only when built with cgo.
func compiledRuntimes(t *testing.T) []string {
	t.Helper()
	code, out, stderr := wstreamCLI(t, "", "version")
	if code != 0 {
		t.Fatalf("wstream version: %s", stderr)
	}
	_, list, ok := strings.Cut(strings.TrimSpace(out), "runtimes: ")
	if !ok {
		t.Fatalf("wstream version names no runtimes: %q", out)
	}
	rts := strings.Split(strings.TrimSuffix(list, ")"), ", ")
	if !strings.Contains(list, "wasmtime") {
		t.Logf("wasmtime is not compiled in (%q): testing wazero only", out)
	}
	return rts
}

// hostileCase is a hostile plugin and how its run must end.
type hostileCase struct {
	name string
	wasm []byte
	want []string // in stderr, besides the plugin's file name
}

var hostileCases = []hostileCase{
	{"loop-in-initialize", wasmtest.LoopInInit.Bytes(), []string{"guest exceeded its time limit of 1s", "_initialize did not return in time"}},
	{"loop-in-call", wasmtest.LoopInCall.Bytes(), []string{`function "f"`, "guest exceeded its time limit of 1s", "wstream_call did not return in time"}},
	{"memory-bomb", wasmtest.MemoryBomb.Bytes(), []string{`function "f"`, "guest exceeded its memory limit of 256 pages (16 MiB)"}},
	{"out-of-bounds-pointer", wasmtest.BadPointer.Bytes(), []string{`function "f"`, "guest returned a pointer outside its memory", "0xffffff00"}},
	{"invalid-msgpack", wasmtest.BadMsgpack.Bytes(), []string{`function "f"`, "guest returned a malformed response", "c1 c1 c1 c1"}},
	{"no-exports", wasmtest.NoExports, []string{"module lacks a required wstream export"}},
	{"abi-version-2", wasmtest.Guest{Version: 2}.Bytes(), []string{"unsupported ABI version: the module speaks ABI 2, this host speaks ABI 1"}},
	{"wrong-function", wasmtest.Guest{Functions: []abi.Function{{Name: "g", Kind: abi.KindMap}}}.Bytes(), []string{`has no function "f" (it has: [g])`}},
}

// hostilePipeline writes a hostile plugin and a pipeline that calls its
// function f on two one-record batches.
func hostilePipeline(t *testing.T, dir string, c hostileCase) (plugin, pipeline string) {
	t.Helper()
	plugin = filepath.Join(dir, c.name+".wasm")
	if err := os.WriteFile(plugin, c.wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte("[1]\n[2]\n"), 0o644)
	pipeline = filepath.Join(dir, c.name+".yaml")
	os.WriteFile(pipeline, []byte("plugin: "+plugin+"\nclock: manual\nsource: batches:"+in+
		"\nstages: [{op: map, fn: f}]\nsink: jsonl:"+filepath.Join(dir, c.name+".out")+"\n"), 0o644)
	return plugin, pipeline
}

// checkHostileEnd checks how a run of a hostile plugin ended.
func checkHostileEnd(t *testing.T, c hostileCase, plugin string, code int, stderr string, took time.Duration) {
	t.Helper()
	t.Logf("exit %d after %v: %s", code, took.Round(time.Millisecond), strings.TrimSpace(stderr))
	if code == 0 {
		t.Fatal("the run succeeded")
	}
	for _, want := range append([]string{filepath.Base(plugin)}, c.want...) {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q", want)
		}
	}
	noStackTrace(t, stderr)
	// A loop is stopped after its 1s limit (twice at most: the retry of a
	// failed call, before a time-out that is not retried). The bound is
	// generous: a shared machine may be slow, never stuck.
	if took > 90*time.Second {
		t.Errorf("the run took %v", took)
	}
}

// TestHostilePluginsEndTheRun runs each hostile plugin through `wstream
// run`, in process, on every compiled-in runtime: each ends the run within
// its limit with a message naming the plugin and the cause, exit 1, and no
// Go panic or stack trace.
func TestHostilePluginsEndTheRun(t *testing.T) {
	for _, rt := range compiledRuntimes(t) {
		for _, c := range hostileCases {
			t.Run(rt+"/"+c.name, func(t *testing.T) {
				plugin, pipeline := hostilePipeline(t, t.TempDir(), c)
				start := time.Now()
				// The memory bomb gets a long time limit, so that on a
				// loaded machine it is the memory limit that stops it.
				timeout := "1s"
				if c.name == "memory-bomb" {
					timeout = "60s"
				}
				code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", pipeline, "--runtime", rt,
					"--call-timeout", timeout, "--memory-limit", "16MiB")
				checkHostileEnd(t, c, plugin, code, stderr, time.Since(start))
				if code != 1 {
					t.Errorf("exit %d, want 1", code)
				}
			})
		}
	}
}

// TestTrapToDeadLetter: a guest that traps on every call, under onError:
// deadletter. Each batch is retried once on a fresh instance (the guest
// logs each call), then all its records go to the dead-letter sink with
// the error, the stage and the batch time; the run goes on and exits 0.
func TestTrapToDeadLetter(t *testing.T) {
	for _, rt := range compiledRuntimes(t) {
		t.Run(rt, func(t *testing.T) {
			dir := t.TempDir()
			plugin := filepath.Join(dir, "trap.wasm")
			os.WriteFile(plugin, wasmtest.LoggingTrap("calling f").Bytes(), 0o644)
			out, dead := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "dead.jsonl")
			p := write(t, "p.yaml", "plugin: "+plugin+"\nclock: manual\nsource: batches:"+write(t, "in.jsonl", "[1, 2]\n[3]\n")+
				"\nstages: [{op: map, fn: f, onError: deadletter}]\nsink: jsonl:"+out+"\ndeadLetter: jsonl:"+dead+"\n")
			code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", p, "--runtime", rt)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			noStackTrace(t, stderr)
			if n := strings.Count(stderr, "[trap.wasm] warn: calling f"); n != 4 {
				t.Errorf("%d calls for 2 batches, want 4 (each retried once):\n%s", n, stderr)
			}
			got, _ := os.ReadFile(out)
			if want := "{\"time\":1000,\"records\":[]}\n{\"time\":2000,\"records\":[]}\n"; string(got) != want {
				t.Errorf("output %q, want %q", got, want)
			}
			d, _ := os.ReadFile(dead)
			lines := strings.Split(strings.TrimSpace(string(d)), "\n")
			if len(lines) != 2 {
				t.Fatalf("dead letters:\n%s", d)
			}
			for i, want := range [][]string{{`"time":1000`, `"record":1`, `"record":2`}, {`"time":2000`, `"record":3`}} {
				for _, w := range append(want, `"stage":"stage 1 (map f, line 4)"`, `guest trapped`, `plugin trap.wasm, function \"f\"`) {
					if !strings.Contains(lines[i], w) {
						t.Errorf("dead-letter line %d lacks %s: %s", i+1, w, lines[i])
					}
				}
			}
		})
	}
}
