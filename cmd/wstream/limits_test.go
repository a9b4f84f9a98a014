package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime/wasmtest"
)

func TestLimitFlags(t *testing.T) {
	conf := conformancePlugin(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory-limit", "64MB"}, `--memory-limit: "64MB" is not a size`},
		{[]string{"--memory-limit", "100KiB"}, "whole number of 64KiB pages"},
		{[]string{"--max-output", "3GiB"}, "must be below 2GiB"},
		{[]string{"--call-timeout", "soon"}, `--call-timeout "soon" is not a duration`},
		{[]string{"--allow", "network"}, `unknown capability "network"`},
		{[]string{"--max-rate", "-1"}, "--max-rate -1: must be a positive number"},
	} {
		code, _, stderr := wstreamCLI(t, "", append([]string{"run", "--plugin", conf}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 saying %q", c.args, code, stderr, c.want)
		}
		noStackTrace(t, stderr)
	}
}

// The pipeline file's limits: apply, and flags override them.
func TestPipelineLimits(t *testing.T) {
	dir := t.TempDir()
	plugin, pipeline := hostilePipeline(t, dir, hostileCase{name: "loop", wasm: wasmtest.LoopInCall.Bytes()})
	body, _ := os.ReadFile(pipeline)
	os.WriteFile(pipeline, append(body, "limits: {timeout: 300ms}\n"...), 0o644)
	code, _, stderr := wstreamCLI(t, "", "run", "--pipeline", pipeline)
	if code != 1 || !strings.Contains(stderr, "plugin "+filepath.Base(plugin)) || !strings.Contains(stderr, "time limit of 300ms") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	code, _, stderr = wstreamCLI(t, "", "run", "--pipeline", pipeline, "--call-timeout", "200ms")
	if code != 1 || !strings.Contains(stderr, "time limit of 200ms") {
		t.Errorf("the flag does not override the file: exit %d: %s", code, stderr)
	}

	// A response over --max-output fails the batch, naming the limit.
	big := `["` + strings.Repeat("x", 2000) + `"]`
	resp := append([]byte{0x93, 0x00}, jsonMsgpack(t, big)...)
	resp = append(resp, 0x90)
	plugin, pipeline = hostilePipeline(t, dir, hostileCase{name: "big", wasm: wasmtest.Guest{Response: resp}.Bytes()})
	code, _, stderr = wstreamCLI(t, "", "run", "--pipeline", pipeline, "--max-output", "1KiB")
	if code != 1 || !strings.Contains(stderr, "guest response exceeded its output limit: the guest returned 2007 bytes, over the limit of 1024") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if code, _, stderr = wstreamCLI(t, "", "run", "--pipeline", pipeline); code == 1 && strings.Contains(stderr, "output limit") {
		t.Errorf("the default output limit refused 2 KiB: %s", stderr)
	}
}

// A plugin's own default pipeline is the plugin's, so untrusted: it may
// not choose what wstream reads or writes, nor loosen the sandbox, nor
// open a server.
func TestDefaultPipelineIsUntrusted(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ pipeline, want string }{
		{"sink: jsonl:" + filepath.Join(dir, "victim") + "\nstages: [{op: map, fn: f}]\n", "sets sink:"},
		{"source: file:/etc/passwd\ncheckpoint: /tmp/x\nstages: [{op: map, fn: f}]\n", "sets sources:, checkpoint:"},
		{"allow: [env]\nlimits: {timeout: 1h}\nstages: [{op: map, fn: f}]\n", "sets limits:, allow:"},
		{"stages: [{op: map, fn: f, plugin: /tmp/other.wasm}]\n", "sets plugin:"},
		{"http: 0.0.0.0:4040\nstages: [{op: map, fn: f}]\n", "sets http:"},
	} {
		plugin := filepath.Join(dir, "p.wasm")
		os.WriteFile(plugin, wasmtest.Guest{Pipeline: c.pipeline}.Bytes(), 0o644)
		code, _, stderr := wstreamCLI(t, "", "run", "--plugin", plugin)
		if code != 1 || !strings.Contains(stderr, "its default pipeline "+c.want+", which only a pipeline file or a flag may set") {
			t.Errorf("%q: exit %d: %s", c.pipeline, code, stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "victim")); err == nil {
			t.Fatal("the plugin's pipeline wrote a file")
		}
	}
	// A flag that replaces the field makes the pipeline acceptable.
	plugin := filepath.Join(dir, "p.wasm")
	os.WriteFile(plugin, wasmtest.Guest{Pipeline: "sink: jsonl:" + filepath.Join(dir, "victim") + "\nstages: [{op: map, fn: f}]\n"}.Bytes(), 0o644)
	if code, _, stderr := wstreamCLI(t, "", "run", "--plugin", plugin, "--sink", "stdout"); code != 0 {
		t.Errorf("with --sink: exit %d: %s", code, stderr)
	}
}

func jsonMsgpack(t *testing.T, js string) []byte {
	t.Helper()
	b, err := abi.FromJSON(nil, []byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
