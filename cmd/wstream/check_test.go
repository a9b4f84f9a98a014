package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPassesEveryBundledPlugin(t *testing.T) {
	ensurePlugins(t)
	plugins, _ := filepath.Glob(filepath.Join(repoRoot(), "plugins/*/*.wasm"))
	more, _ := filepath.Glob(filepath.Join(repoRoot(), "plugins/*/*/*.wasm"))
	for _, p := range append(plugins, more...) {
		t.Run(strings.TrimPrefix(p, repoRoot()+"/"), func(t *testing.T) {
			code, out, stderr := wstreamCLI(t, "", "check", p)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
			}
			if !strings.Contains(out, ": 0 checks failed") || strings.Contains(out, "FAIL") {
				t.Fatalf("report:\n%s", out)
			}
		})
	}
}

func TestCheckRejectsBrokenModules(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"no exports": {"\x00asm\x01\x00\x00\x00", "lacks a required wstream export"},
		"not wasm":   {"#!/bin/sh\necho hi\n", "not a WebAssembly module"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, stderr := wstreamCLI(t, "", "check", write(t, "m.wasm", c.body))
			if code == 0 || !strings.Contains(out, "FAIL") || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
			}
			noStackTrace(t, stderr)
		})
	}
}
