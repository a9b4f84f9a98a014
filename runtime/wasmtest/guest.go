// Package wasmtest builds small WebAssembly guests for tests and runs the
// adapter suite that every runtime engine must pass (RunSuite).
//
// The guests are hostile ones that no SDK would produce (a loop in
// _initialize, a pointer outside memory, a response that is not msgpack),
// written straight to the binary format so that tests need no wat2wasm.
// It is a normal package, not a _test file, so that the runtime adapters'
// tests and the CLI's tests use the same modules; nothing outside tests
// imports it.
package wasmtest

import (
	"encoding/binary"
	"time"

	"github.com/wstream/wstream/abi"
)

// Instruction sequences for function bodies.
var (
	// LoopForever never returns: loop br 0 end unreachable.
	LoopForever = Cat(Loop(Br(0)), Unreachable)
	// GrowUntilRefused grows memory 16 pages at a time until memory.grow
	// returns -1, then traps: what a C or Rust guest does when malloc fails.
	GrowUntilRefused = Cat(Loop(I32Const(16), MemoryGrow, I32Const(-1), I32Ne, BrIf(0)), Unreachable)
)

// Guest is a minimal ABI v1 guest whose parts a test replaces. By default
// it has one map function "f" and wstream_call returns Response, placed in
// memory after the manifest.
type Guest struct {
	Name      string         // manifest name; default "hostile"
	Functions []abi.Function // default: map "f"
	Version   int32          // wstream_abi_version's result; default abi.Version
	Init      []byte         // _initialize body; nil for no _initialize
	Start     []byte         // the start function's body; nil for none
	Alloc     []byte         // wstream_alloc body; nil returns a buffer after the data
	Call      []byte         // wstream_call body; nil returns Response
	Response  []byte         // default [0, [], []]
	Manifest  []byte         // wstream_manifest body; nil returns the manifest
	Drop      string         // an export to leave out ("memory" for the memory)
	Retype    string         // an export to give the signature () -> ()
	MemPages  uint32         // initial memory; default 2
	ImportMem bool           // import the memory (env.mem) instead of defining it
	Imports   []Import
	Extra     []Func // more functions, after the ABI's
	Pipeline  string // the manifest's default pipeline
}

// Bytes encodes the guest.
func (g Guest) Bytes() []byte {
	g = g.defaults()
	man := g.manifest()
	data := append(append([]byte{}, man...), g.Response...)
	m := Module{Imports: g.Imports, MemPages: g.MemPages, MemName: "memory", Data: data}
	if g.ImportMem {
		m.Imports = append([]Import{{Module: "env", Name: "mem", MemPages: g.MemPages}}, m.Imports...)
		m.MemPages = 0
	}
	add := func(f Func) {
		switch {
		case f.Export == "":
		case f.Export == g.Drop:
			return
		case f.Export == g.Retype:
			f.Params, f.Results, f.Body = nil, nil, nil
		}
		m.Funcs = append(m.Funcs, f)
	}
	add(Func{Export: abi.ExportVersion, Results: []byte{I32}, Body: I32Const(g.Version)})
	body := g.Alloc
	if body == nil {
		// The input buffer sits after the data, so the host's writes never
		// clobber the response.
		body = I32Const(int32((DataAt + len(data) + 7) &^ 7))
	}
	add(Func{Export: abi.ExportAlloc, Params: []byte{I32}, Results: []byte{I32}, Body: body})
	body = g.Manifest
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
	if g.Start != nil {
		add(Func{Start: true, Body: g.Start})
	}
	for _, f := range g.Extra {
		add(f)
	}
	if g.Drop == "memory" {
		m.MemName = ""
	}
	return m.Bytes()
}

func (g Guest) defaults() Guest {
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
	return g
}

func (g Guest) manifest() []byte {
	return abi.AppendManifest(nil, &abi.Manifest{ABI: abi.Version, Name: g.Name, Version: "1", Language: "wasm", Functions: g.Functions, Pipeline: g.Pipeline})
}

// ResponseAt is where Response lies in memory, for bodies that return or
// log parts of it.
func (g Guest) ResponseAt() int { return DataAt + len(g.defaults().manifest()) }

// LoggingTrap is Trap, but each call first logs msg at level warn through
// wstream_v1.log, so a test can count the calls (a retry included).
func LoggingTrap(msg string) Guest {
	g := Guest{Response: []byte(msg)}
	at := g.ResponseAt()
	g.Imports = []Import{{Module: abi.ImportModule, Name: abi.ImportLog, Params: []byte{I32, I32, I32}}}
	g.Call = Cat(I32Const(abi.LogWarn), I32Const(int32(at)), I32Const(int32(len(msg))), Call(0), Unreachable)
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
	g.Call = Cat(I32Const(int32(in)), I32Const(int32(in+48)), I32Const(1), I32Const(int32(in+80)),
		Call(0), Drop, // poll_oneoff; its errno dropped
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
	g.Call = Cat(I32Const(3), I32Const(1), I32Const(int32(base+len(resp))), I32Const(int32(len(path))), // fd, follow links, path
		I32Const(0), I64Const(2), I64Const(0), I32Const(0), I32Const(int32(fdOut)), // no oflags, fd_read right, out fd
		Call(0), If(Unreachable), // path_open; trap on a non-zero errno
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
