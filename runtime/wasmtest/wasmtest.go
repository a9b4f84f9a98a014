// Package wasmtest builds small WebAssembly guests for tests: hostile ones
// that no SDK would produce (a loop in _initialize, a pointer outside
// memory, a response that is not msgpack), written straight to the binary
// format so that tests need no wat2wasm. It is a normal package, not a
// _test file, so that the runtime adapters' tests and the CLI's tests use
// the same modules; nothing outside tests imports it.
package wasmtest

import (
	"encoding/binary"
	"time"

	"github.com/wstream/wstream/abi"
)

// Value types.
const (
	I32 = 0x7f
	I64 = 0x7e
)

// Func is one function of a module.
type Func struct {
	Export          string // export name; "" for none
	Params, Results []byte
	Body            []byte // instructions, without locals and the final end
}

// Import is one imported function.
type Import struct {
	Module, Name    string
	Params, Results []byte
}

// Module is a module with at most one memory and one data segment.
type Module struct {
	Imports  []Import
	Funcs    []Func
	MemPages uint32 // 0: no memory
	MemName  string // export name of the memory; "" for none
	Data     []byte // placed at DataAt
}

// DataAt is where Module.Data is placed in memory.
const DataAt = 1024

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

// Bytes encodes the module.
func (m Module) Bytes() []byte {
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	var types, imps, fidx, exps, codes [][]byte
	for _, im := range m.Imports {
		types = append(types, functype(im.Params, im.Results))
		imps = append(imps, uleb(append(name(name(nil, im.Module), im.Name), 0x00), uint64(len(types)-1)))
	}
	for i, f := range m.Funcs {
		types = append(types, functype(f.Params, f.Results))
		fidx = append(fidx, uleb(nil, uint64(len(types)-1)))
		if f.Export != "" {
			exps = append(exps, uleb(append(name(nil, f.Export), 0x00), uint64(len(m.Imports)+i)))
		}
		body := append([]byte{0x00}, f.Body...) // no locals
		body = append(body, 0x0b)
		codes = append(codes, append(uleb(nil, uint64(len(body))), body...))
	}
	if m.MemPages > 0 && m.MemName != "" {
		exps = append(exps, uleb(append(name(nil, m.MemName), 0x02), 0))
	}
	out = section(out, 1, vec(types))
	if len(imps) > 0 {
		out = section(out, 2, vec(imps))
	}
	out = section(out, 3, vec(fidx))
	if m.MemPages > 0 {
		out = section(out, 5, vec([][]byte{uleb([]byte{0x00}, uint64(m.MemPages))}))
	}
	out = section(out, 7, vec(exps))
	out = section(out, 10, vec(codes))
	if len(m.Data) > 0 {
		seg := append(sleb([]byte{0x00, 0x41}, DataAt), 0x0b)
		seg = append(uleb(seg, uint64(len(m.Data))), m.Data...)
		out = section(out, 11, vec([][]byte{seg}))
	}
	return out
}

// I32Const and I64Const are the constant instructions.
func I32Const(v int32) []byte { return sleb([]byte{0x41}, int64(v)) }
func I64Const(v int64) []byte { return sleb([]byte{0x42}, v) }

// Instruction sequences for function bodies.
var (
	// LoopForever never returns: loop br 0 end unreachable.
	LoopForever = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00}
	// Unreachable traps.
	Unreachable = []byte{0x00}
	// GrowUntilRefused grows memory 16 pages at a time until memory.grow
	// returns -1, then traps: what a C or Rust guest does when malloc fails.
	GrowUntilRefused = cat(
		[]byte{0x03, 0x40},                                 // loop
		I32Const(16), []byte{0x40, 0x00, 0x41, 0x7f, 0x47}, // memory.grow, i32.const -1, i32.ne
		[]byte{0x0d, 0x00, 0x0b}, // br_if 0, end
		Unreachable,
	)
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Guest is a minimal ABI v1 guest whose parts a test replaces. By default
// it has one map function "f" and wstream_call returns Response, placed in
// memory after the manifest.
type Guest struct {
	Name      string         // manifest name; default "hostile"
	Functions []abi.Function // default: map "f"
	Version   int32          // wstream_abi_version's result; default abi.Version
	Init      []byte         // _initialize body; nil for no _initialize
	Call      []byte         // wstream_call body; nil returns Response
	Response  []byte         // default [0, [], []]
	Manifest  []byte         // wstream_manifest body; nil returns the manifest
	Drop      string         // an export to leave out ("memory" for the memory)
	MemPages  uint32         // initial memory; default 2
	Imports   []Import
	Pipeline  string // the manifest's default pipeline
}

// Bytes encodes the guest.
func (g Guest) Bytes() []byte {
	if g.Name == "" {
		g.Name = "hostile"
	}
	if g.Functions == nil {
		g.Functions = []abi.Function{{Name: "f", Kind: abi.KindMap}}
	}
	if g.Version == 0 {
		g.Version = abi.Version
	}
	if g.Response == nil {
		g.Response = []byte{0x93, 0x00, 0x90, 0x90} // [0, [], []]
	}
	if g.MemPages == 0 {
		g.MemPages = 2
	}
	man := g.manifest()
	data := append(append([]byte{}, man...), g.Response...)
	m := Module{Imports: g.Imports, MemPages: g.MemPages, MemName: "memory", Data: data}
	add := func(f Func) {
		if f.Export != g.Drop {
			m.Funcs = append(m.Funcs, f)
		}
	}
	add(Func{Export: abi.ExportVersion, Results: []byte{I32}, Body: I32Const(g.Version)})
	// The input buffer sits after the data, so the host's writes never
	// clobber the response.
	inBuf := int32((DataAt + len(data) + 7) &^ 7)
	add(Func{Export: abi.ExportAlloc, Params: []byte{I32}, Results: []byte{I32}, Body: I32Const(inBuf)})
	body := g.Manifest
	if body == nil {
		body = Packed(DataAt, len(man))
	}
	add(Func{Export: abi.ExportManifest, Results: []byte{I64}, Body: body})
	body = g.Call
	if body == nil {
		body = Packed(DataAt+len(man), len(g.Response))
	}
	add(Func{Export: abi.ExportCall, Params: []byte{I32, I32, I32}, Results: []byte{I64}, Body: body})
	if g.Init != nil {
		add(Func{Export: abi.ExportInitialize, Body: g.Init})
	}
	if g.Drop == "memory" {
		m.MemName = ""
	}
	return m.Bytes()
}

func (g Guest) manifest() []byte {
	return abi.AppendManifest(nil, &abi.Manifest{ABI: abi.Version, Name: g.Name, Version: "1", Language: "wasm", Functions: g.Functions, Pipeline: g.Pipeline})
}

// ResponseAt is where Response lies in memory, for bodies that return or
// log parts of it.
func (g Guest) ResponseAt() int {
	if g.Name == "" {
		g.Name = "hostile"
	}
	if g.Functions == nil {
		g.Functions = []abi.Function{{Name: "f", Kind: abi.KindMap}}
	}
	return DataAt + len(g.manifest())
}

// LoggingTrap is Trap, but each call first logs msg at level warn through
// wstream_v1.log, so a test can count the calls (a retry included).
func LoggingTrap(msg string) Guest {
	g := Guest{Response: []byte(msg)}
	at := g.ResponseAt()
	g.Imports = []Import{{Module: abi.ImportModule, Name: abi.ImportLog, Params: []byte{I32, I32, I32}}}
	g.Call = cat(I32Const(abi.LogWarn), I32Const(int32(at)), I32Const(int32(len(msg))), []byte{0x10, 0x00}, Unreachable) // call 0
	return g
}

// Sleeper asks WASI to sleep for d (poll_oneoff with one relative clock
// subscription) in every call, then returns [0, [], []]: a guest that
// blocks in a host function, where an engine cannot interrupt wasm code.
func Sleeper(d time.Duration) Guest {
	g := Guest{Imports: []Import{{Module: "wasi_snapshot_preview1", Name: "poll_oneoff", Params: []byte{I32, I32, I32, I32}, Results: []byte{I32}}}}
	base := g.ResponseAt()
	resp := []byte{0x93, 0x00, 0x90, 0x90}
	in := (base + len(resp) + 7) &^ 7 // WASI wants the subscription 8-aligned
	sub := make([]byte, 48)           // userdata, tag 0 (clock), clock id 0 (realtime), timeout, precision, flags 0 (relative)
	binary.LittleEndian.PutUint64(sub[24:], uint64(d))
	g.Response = append(append(append(resp, make([]byte, in-base-len(resp))...), sub...), make([]byte, 40)...) // then the event and the count
	g.Call = cat(I32Const(int32(in)), I32Const(int32(in+48)), I32Const(1), I32Const(int32(in+80)),
		[]byte{0x10, 0x00, 0x1a}, // call poll_oneoff; drop its errno
		Packed(base, len(resp)))
	return g
}

// Opener opens path for reading under the first pre-opened directory (fd
// 3, what the fs:DIR capability mounts) in every call, and traps when WASI
// refuses: a guest probing what its file system lets it reach.
func Opener(path string) Guest {
	g := Guest{Imports: []Import{{Module: "wasi_snapshot_preview1", Name: "path_open",
		Params: []byte{I32, I32, I32, I32, I32, I64, I64, I32, I32}, Results: []byte{I32}}}}
	base := g.ResponseAt()
	resp := []byte{0x93, 0x00, 0x90, 0x90}
	g.Response = append(append(resp, path...), make([]byte, 8)...)
	fdOut := (base + len(resp) + len(path) + 3) &^ 3
	g.Call = cat(I32Const(3), I32Const(1), I32Const(int32(base+len(resp))), I32Const(int32(len(path))), // fd, follow links, path
		I32Const(0), I64Const(2), I64Const(0), I32Const(0), I32Const(int32(fdOut)), // no oflags, fd_read right, out fd
		[]byte{0x10, 0x00, 0x04, 0x40}, Unreachable, []byte{0x0b}, // call path_open; if errno != 0: unreachable
		Packed(base, len(resp)))
	return g
}

// Packed is a body that returns ptr<<32|n, the ABI's (pointer, length).
func Packed(ptr, n int) []byte { return I64Const(int64(abi.Pack(uint32(ptr), uint32(n)))) }

// The hostile guests the CLI and the adapters are tested with. Each has a
// valid manifest naming one map function "f", so that a run gets as far as
// the call; NoExports has nothing at all.
var (
	// LoopInInit never returns from _initialize.
	LoopInInit = Guest{Init: LoopForever}
	// LoopInCall never returns from wstream_call.
	LoopInCall = Guest{Call: LoopForever}
	// MemoryBomb grows its memory until refused, then traps.
	MemoryBomb = Guest{Call: GrowUntilRefused}
	// BadPointer returns a response 100 bytes long at 0xffffff00, far
	// outside its memory.
	BadPointer = Guest{Call: Packed(0xffffff00, 100)}
	// BadMsgpack returns bytes that are not msgpack (0xc1 is never used).
	BadMsgpack = Guest{Response: []byte{0xc1, 0xc1, 0xc1, 0xc1}}
	// Trap traps in every call (unreachable), as a crashing guest does.
	Trap = Guest{Call: Unreachable}
)

// NoExports is a valid, empty WebAssembly module: no memory, no functions.
var NoExports = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
