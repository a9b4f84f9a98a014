//go:build cgo

package wasmtime_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wstream/wstream/abi"
)

// Hostile guests that Go cannot express (a missing export, a wrong
// signature, a loop in _initialize, a foreign import), written as WAT and
// assembled by wasmtime-go's Wat2Wasm: the same modules as the wazero
// adapter's binary assembler builds, so the two test suites agree.

const dataAt = 1024

const (
	watLoopForever = `(loop (br 0)) unreachable`
	// watGrowUntilRefused grows memory 16 pages at a time until refused,
	// then traps: what a C or Rust guest does when malloc fails.
	watGrowUntilRefused = `(loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable`
)

// hostile is a minimal valid guest (one map function "f") whose parts each
// test replaces: wstream_call returns the fixed response [0, [], []].
type hostile struct {
	version   int32
	init      string // _initialize body; "" for none
	call      string // wstream_call body; "" returns the fixed response
	manifest  string // wstream_manifest body; "" returns the manifest
	drop      string // an export to leave out
	retype    string // an export to give the wrong signature
	imports   string // import declarations
	importMem bool   // import the memory (env.mem) instead of defining it
	memPages  uint32
	extra     string // more module fields
}

func watBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	return sb.String()
}

func i64c(v uint64) string { return fmt.Sprintf("(i64.const %d)", int64(v)) }

func (h hostile) wat() string {
	man := abi.AppendManifest(nil, &abi.Manifest{ABI: abi.Version, Name: "hostile", Language: "wat",
		Functions: []abi.Function{{Name: "f", Kind: abi.KindMap}}})
	resp := []byte{0x93, 0x00, 0x90, 0x90} // [0, [], []]
	data := append(append([]byte{}, man...), resp...)
	packed := func(off, n int) string { return i64c(abi.Pack(uint32(dataAt+off), uint32(n))) }
	if h.version == 0 {
		h.version = abi.Version
	}
	if h.memPages == 0 {
		h.memPages = 2
	}
	var b strings.Builder
	b.WriteString("(module\n")
	b.WriteString(h.imports)
	switch {
	case h.importMem:
		fmt.Fprintf(&b, "(import \"env\" \"mem\" (memory %d))\n(export \"memory\" (memory 0))\n", h.memPages)
	case h.drop == "memory":
		fmt.Fprintf(&b, "(memory %d)\n", h.memPages)
	default:
		fmt.Fprintf(&b, "(memory (export \"memory\") %d)\n", h.memPages)
	}
	fmt.Fprintf(&b, "(data (i32.const %d) \"%s\")\n", dataAt, watBytes(data))
	fn := func(name, sig, body string) {
		if name == h.drop {
			return
		}
		if name == h.retype {
			sig, body = "", ""
		}
		fmt.Fprintf(&b, "(func (export %q) %s %s)\n", name, sig, body)
	}
	fn(abi.ExportVersion, "(result i32)", fmt.Sprintf("(i32.const %d)", h.version))
	fn(abi.ExportAlloc, "(param i32) (result i32)", "(i32.const 8192)")
	body := h.manifest
	if body == "" {
		body = packed(0, len(man))
	}
	fn(abi.ExportManifest, "(result i64)", body)
	body = h.call
	if body == "" {
		body = packed(len(man), len(resp))
	}
	fn(abi.ExportCall, "(param i32 i32 i32) (result i64)", body)
	if h.init != "" {
		fn(abi.ExportInitialize, "", h.init)
	}
	b.WriteString(h.extra)
	b.WriteString(")\n")
	return b.String()
}

func (h hostile) bytes(t testing.TB) []byte {
	t.Helper()
	wasm, err := wasmtime.Wat2Wasm(h.wat())
	if err != nil {
		t.Fatalf("assembling:\n%s\n%v", h.wat(), err)
	}
	return wasm
}
