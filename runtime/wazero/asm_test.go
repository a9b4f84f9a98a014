package wazero_test

import (
	"github.com/wstream/wstream/abi"
)

// A tiny WebAssembly assembler for the hostile guests that Go cannot
// express (a missing export, a wrong signature, a loop in _initialize, a
// foreign import). It writes the binary format directly, so the tests need
// no wat2wasm.

const (
	tI32 = 0x7f
	tI64 = 0x7e
)

type wfunc struct {
	name            string // export name; "" for none
	params, results []byte
	body            []byte // instructions, without locals and the final end
}

type wimport struct {
	module, name    string
	params, results []byte
}

type wmod struct {
	imports  []wimport
	funcs    []wfunc
	memPages uint32 // 0: no memory
	memName  string // export name of the memory
	data     []byte // placed at dataAt
}

const dataAt = 1024

func uleb(dst []byte, v uint64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

func sleb(dst []byte, v int64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

func name(dst []byte, s string) []byte { return append(uleb(dst, uint64(len(s))), s...) }

func section(dst []byte, id byte, body []byte) []byte {
	return append(uleb(append(dst, id), uint64(len(body))), body...)
}

func vec(items [][]byte) []byte {
	out := uleb(nil, uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func functype(params, results []byte) []byte {
	b := append(uleb([]byte{0x60}, uint64(len(params))), params...)
	return append(uleb(b, uint64(len(results))), results...)
}

func (m wmod) bytes() []byte {
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	var types, imps, fidx, exps, codes [][]byte
	for _, im := range m.imports {
		types = append(types, functype(im.params, im.results))
		imps = append(imps, uleb(append(name(name(nil, im.module), im.name), 0x00), uint64(len(types)-1)))
	}
	for i, f := range m.funcs {
		types = append(types, functype(f.params, f.results))
		fidx = append(fidx, uleb(nil, uint64(len(types)-1)))
		if f.name != "" {
			exps = append(exps, uleb(append(name(nil, f.name), 0x00), uint64(len(m.imports)+i)))
		}
		body := append([]byte{0x00}, f.body...) // no locals
		body = append(body, 0x0b)
		codes = append(codes, append(uleb(nil, uint64(len(body))), body...))
	}
	if m.memPages > 0 && m.memName != "" {
		exps = append(exps, uleb(append(name(nil, m.memName), 0x02), 0))
	}
	out = section(out, 1, vec(types))
	if len(imps) > 0 {
		out = section(out, 2, vec(imps))
	}
	out = section(out, 3, vec(fidx))
	if m.memPages > 0 {
		out = section(out, 5, vec([][]byte{uleb([]byte{0x00}, uint64(m.memPages))}))
	}
	out = section(out, 7, vec(exps))
	out = section(out, 10, vec(codes))
	if len(m.data) > 0 {
		seg := append(sleb([]byte{0x00, 0x41}, dataAt), 0x0b)
		seg = append(uleb(seg, uint64(len(m.data))), m.data...)
		out = section(out, 11, vec([][]byte{seg}))
	}
	return out
}

// Instructions.
func i32c(v int32) []byte { return sleb([]byte{0x41}, int64(v)) }
func i64c(v int64) []byte { return sleb([]byte{0x42}, v) }

var (
	opLoopForever = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00} // loop br 0 end unreachable
	opUnreachable = []byte{0x00}
	// growUntilRefused loops memory.grow(16) until it returns -1, then traps:
	// what a C or Rust guest does when malloc fails.
	opGrowUntilRefused = cat(
		[]byte{0x03, 0x40},           // loop
		i32c(16), []byte{0x40, 0x00}, // memory.grow
		i32c(-1), []byte{0x47}, // i32.ne
		[]byte{0x0d, 0x00}, // br_if 0
		[]byte{0x0b},       // end
		opUnreachable,
	)
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// hostile is a minimal valid guest (one map function "f") whose parts each
// test replaces: wstream_call returns the fixed response at dataAt+len(manifest).
type hostile struct {
	version  int32
	init     []byte // _initialize body; nil for none
	call     []byte // wstream_call body; nil returns the fixed response
	manifest []byte // wstream_manifest body; nil returns the manifest
	drop     string // an export to leave out
	retype   string // an export to give the wrong signature
	imports  []wimport
	memPages uint32
}

func (h hostile) bytes() []byte {
	man := abi.AppendManifest(nil, &abi.Manifest{ABI: abi.Version, Name: "hostile", Language: "wat",
		Functions: []abi.Function{{Name: "f", Kind: abi.KindMap}}})
	resp := []byte{0x93, 0x00, 0x90, 0x90} // [0, [], []]
	data := append(append([]byte{}, man...), resp...)
	packed := func(off, n int) []byte { return i64c(int64(abi.Pack(uint32(dataAt+off), uint32(n)))) }
	if h.version == 0 {
		h.version = abi.Version
	}
	if h.memPages == 0 {
		h.memPages = 2
	}
	m := wmod{imports: h.imports, memPages: h.memPages, memName: "memory", data: data}
	add := func(f wfunc) {
		if f.name == h.drop {
			return
		}
		if f.name == h.retype {
			f.params, f.results = nil, nil
			f.body = nil
		}
		m.funcs = append(m.funcs, f)
	}
	add(wfunc{name: abi.ExportVersion, results: []byte{tI32}, body: i32c(h.version)})
	add(wfunc{name: abi.ExportAlloc, params: []byte{tI32}, results: []byte{tI32}, body: i32c(8 << 10)})
	body := h.manifest
	if body == nil {
		body = packed(0, len(man))
	}
	add(wfunc{name: abi.ExportManifest, results: []byte{tI64}, body: body})
	body = h.call
	if body == nil {
		body = packed(len(man), len(resp))
	}
	add(wfunc{name: abi.ExportCall, params: []byte{tI32, tI32, tI32}, results: []byte{tI64}, body: body})
	if h.init != nil {
		add(wfunc{name: abi.ExportInitialize, body: h.init})
	}
	if h.drop == "memory" {
		m.memName = ""
	}
	return m.bytes()
}

// stub is a do-nothing export with the ABI's signature for that name.
func stub(export string) []wfunc {
	switch export {
	case abi.ExportVersion:
		return []wfunc{{name: export, results: []byte{tI32}, body: i32c(abi.Version)}}
	case abi.ExportAlloc:
		return []wfunc{{name: export, params: []byte{tI32}, results: []byte{tI32}, body: i32c(8 << 10)}}
	case abi.ExportManifest:
		return []wfunc{{name: export, results: []byte{tI64}, body: i64c(0)}}
	case abi.ExportCall:
		return []wfunc{{name: export, params: []byte{tI32, tI32, tI32}, results: []byte{tI64}, body: i64c(0)}}
	}
	return nil
}
