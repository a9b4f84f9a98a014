package wasmtest

import (
	"encoding/binary"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// Filled is a guest whose every call returns head, then n bytes of fill,
// then tail: a response of any size, built in guest memory by memory.fill
// so that the module stays small.
func Filled(head []byte, fill byte, n int, tail []byte) Guest {
	g := Guest{Response: head}
	at := g.ResponseAt()
	end := at + len(head) + n
	g.MemPages = uint32((end+len(tail))/(64<<10) + 2)
	body := Cat(I32Const(int32(at+len(head))), I32Const(int32(fill)), I32Const(int32(n)), MemoryFill)
	for i, c := range tail {
		body = Cat(body, I32Const(int32(end+i)), I32Const(int32(c)), I32Store8())
	}
	g.Call = Cat(body, Packed(at, len(head)+n+len(tail)))
	return g
}

// u32 is a big-endian count, as msgpack's 32-bit headers hold.
func u32(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// BulkLoop runs op (MemoryFill or MemoryCopy) over its whole memory of
// pages pages in a loop that never ends: each iteration is one instruction
// of the loop body but megabytes of work.
func BulkLoop(op []byte, pages uint32) Guest {
	size := int32(pages) * 64 << 10
	args := Cat(I32Const(0), I32Const(0), I32Const(size)) // fill: dst, value, n
	if op[1] == MemoryCopy[1] {
		args = Cat(I32Const(0), I32Const(size/2), I32Const(size/2)) // copy: dst, src, n
	}
	return Guest{MemPages: pages, Call: Cat(Loop(args, op, Br(0)), Unreachable)}
}

// Recursion calls a function that calls itself twice per level, 40
// levels deep: 2^40 calls and no loop at all.
var Recursion = func() Guest {
	const f = 4 // after the four ABI exports
	half := Cat(LocalGet(0), I32Const(1), I32Sub, Call(f))
	g := Guest{Extra: []Func{{Params: []byte{I32}, Body: Cat(LocalGet(0), If(half, half))}}}
	g.Call = Cat(I32Const(40), Call(f), Packed(g.ResponseAt(), 4))
	return g
}()

// LogFlood logs a 4 KiB message in a loop until its time limit.
var LogFlood = func() Guest {
	g := Guest{Response: make([]byte, 4<<10)}
	at := g.ResponseAt()
	g.Imports = []Import{{Module: abi.ImportModule, Name: abi.ImportLog, Params: []byte{I32, I32, I32}}}
	g.Call = Cat(Loop(I32Const(abi.LogWarn), I32Const(int32(at)), I32Const(4<<10), Call(0), Br(0)), Unreachable)
	return g
}()

// Hostile is one module of the hostile corpus and how a call of its map
// function "f" on one record, or its load, must end.
type Hostile struct {
	Name   string
	Wasm   []byte
	AtLoad bool     // refused while loading (validating, instantiating)
	Want   error    // what the error wraps; nil when only the message is checked
	Says   string   // what its message says
	Allow  []string // capabilities the run grants
}

// Limits the corpus is run with: a call of 1s, 64 MiB of memory.
const (
	CorpusTimeout     = time.Second
	CorpusMemoryPages = 1024
)

// CorpusConfig is the configuration the corpus runs under.
func CorpusConfig(h Hostile) runtime.Config {
	return runtime.Config{CallTimeout: CorpusTimeout, MemoryLimitPages: CorpusMemoryPages, Workers: 1, CacheDir: "-", Allow: h.Allow}
}

// Corpus is a guest for each hostile act the sandbox must contain: each
// ends its run within its limit, with bounded memory and output.
func Corpus() []Hostile {
	const bomb = 32 << 20 // bytes: half the memory limit
	return []Hostile{
		{Name: "loop-in-start", Wasm: Guest{Start: LoopForever}.Bytes(), AtLoad: true, Want: runtime.ErrTimeout, Says: "the start function did not return in time"},
		{Name: "loop-in-initialize", Wasm: LoopInInit.Bytes(), AtLoad: true, Want: runtime.ErrTimeout, Says: "_initialize did not return in time"},
		{Name: "loop-in-call", Wasm: LoopInCall.Bytes(), Want: runtime.ErrTimeout, Says: "wstream_call did not return in time"},
		{Name: "recursion", Wasm: Recursion.Bytes(), Want: runtime.ErrTimeout, Says: "wstream_call did not return in time"},
		{Name: "memory-fill-loop", Wasm: BulkLoop(MemoryFill, CorpusMemoryPages).Bytes(), Want: runtime.ErrTimeout, Says: "wstream_call did not return in time"},
		{Name: "memory-copy-loop", Wasm: BulkLoop(MemoryCopy, CorpusMemoryPages).Bytes(), Want: runtime.ErrTimeout, Says: "wstream_call did not return in time"},
		{Name: "sleep-an-hour", Wasm: Sleeper(time.Hour).Bytes(), Allow: []string{"clock"}, Says: `function "f"`},
		{Name: "log-flood", Wasm: LogFlood.Bytes(), Want: runtime.ErrTimeout, Says: "wstream_call did not return in time"},
		{Name: "invalid-global-set", Wasm: Guest{Call: Cat(I32Const(0), GlobalSet(0), Packed(DataAt, 4))}.Bytes(), AtLoad: true, Want: runtime.ErrNotWasm, Says: "not a WebAssembly module"},
		{Name: "memory-bomb", Wasm: MemoryBomb.Bytes(), Want: runtime.ErrMemoryLimit, Says: "could not grow its memory"},
		{Name: "bad-pointer", Wasm: BadPointer.Bytes(), Want: runtime.ErrBadPointer, Says: "0xffffff00"},
		{Name: "bad-msgpack", Wasm: BadMsgpack.Bytes(), Want: abi.ErrBadResponse, Says: "c1 c1 c1 c1"},
		{Name: "result-count-bomb", Wasm: Filled(append([]byte{0x93, 0x00, 0xdd}, u32(bomb)...), 0xc0, bomb, []byte{0x90}).Bytes(),
			Want: abi.ErrBadResponse, Says: "33554432 results for 1 inputs"},
		{Name: "batch-message-bomb", Wasm: Filled(append([]byte{0x93, 0x03, 0xdb}, u32(bomb)...), 'm', bomb, []byte{0x90}).Bytes(),
			Want: abi.ErrFailed, Says: "(33550336 more bytes)"},
		{Name: "record-message-bomb", Wasm: Filled(append([]byte{0x93, 0x00, 0x91, 0xc0, 0x91, 0x92, 0x00, 0xdb}, u32(bomb)...), 'm', bomb, nil).Bytes(),
			Says: "(33550336 more bytes)"},
		{Name: "describe-bomb", Wasm: Filled(append([]byte{0x93, 0x03, 0x91, 0xdb}, u32(bomb)...), 'x', bomb, []byte{0x90}).Bytes(),
			Want: abi.ErrFailed, Says: `["xxxxxxxxxx`},
		{Name: "forbidden-import", Wasm: Guest{Imports: []Import{{Module: "env", Name: "system", Params: []byte{I32}}}}.Bytes(), AtLoad: true, Says: "imports env.system, which wstream does not provide"},
	}
}
