package wasmtest

import (
	"github.com/wstream/wstream/runtime/internal/wasmbin"
)

// Value types.
const (
	I32  = 0x7f
	I64  = 0x7e
	V128 = 0x7b
)

// Func is one function of a module.
type Func struct {
	Export          string // export name; "" for none
	Params, Results []byte
	Locals          []byte // one local of each type listed, after the params
	Body            []byte // instructions, without the final end
	Start           bool   // the module's start function, run while instantiating
}

// Import is one import: a function with Params and Results by default, or
// a memory of MemPages pages, or an immutable global of type Global.
type Import struct {
	Module, Name    string
	Params, Results []byte
	MemPages        uint32
	Global          byte
}

// Module is a module with at most one memory and one data segment.
type Module struct {
	Imports  []Import
	Funcs    []Func
	MemPages uint32 // 0: no memory of its own
	MemName  string // export name of the memory (its own or imported); "" for none
	Data     []byte // placed at DataAt
}

// DataAt is where Module.Data is placed in memory.
const DataAt = 1024

func functype(params, results []byte) []byte {
	b := append(wasmbin.AppendU32([]byte{0x60}, uint32(len(params))), params...)
	return append(wasmbin.AppendU32(b, uint32(len(results))), results...)
}

// Bytes encodes the module.
func (m Module) Bytes() []byte {
	out := []byte(wasmbin.Header)
	var types, imps, fidx, exps, codes [][]byte
	nFuncImports, hasMem := 0, m.MemPages > 0
	for _, im := range m.Imports {
		imp := wasmbin.AppendName(wasmbin.AppendName(nil, im.Module), im.Name)
		switch {
		case im.MemPages > 0:
			imp = wasmbin.AppendU32(append(imp, 0x02, 0x00), im.MemPages)
			hasMem = true
		case im.Global != 0:
			imp = append(imp, 0x03, im.Global, 0x00)
		default:
			types = append(types, functype(im.Params, im.Results))
			imp = wasmbin.AppendU32(append(imp, 0x00), uint32(len(types)-1))
			nFuncImports++
		}
		imps = append(imps, imp)
	}
	start := -1
	for i, f := range m.Funcs {
		types = append(types, functype(f.Params, f.Results))
		fidx = append(fidx, wasmbin.AppendU32(nil, uint32(len(types)-1)))
		if f.Export != "" {
			exps = append(exps, wasmbin.AppendU32(append(wasmbin.AppendName(nil, f.Export), 0x00), uint32(nFuncImports+i)))
		}
		if f.Start {
			start = nFuncImports + i
		}
		body := wasmbin.AppendU32(nil, uint32(len(f.Locals)))
		for _, l := range f.Locals {
			body = append(body, 1, l)
		}
		body = append(append(body, f.Body...), 0x0b)
		codes = append(codes, append(wasmbin.AppendU32(nil, uint32(len(body))), body...))
	}
	if hasMem && m.MemName != "" {
		exps = append(exps, wasmbin.AppendU32(append(wasmbin.AppendName(nil, m.MemName), 0x02), 0))
	}
	out = wasmbin.AppendSection(out, wasmbin.SecType, wasmbin.AppendVec(nil, types...))
	if len(imps) > 0 {
		out = wasmbin.AppendSection(out, wasmbin.SecImport, wasmbin.AppendVec(nil, imps...))
	}
	out = wasmbin.AppendSection(out, wasmbin.SecFunction, wasmbin.AppendVec(nil, fidx...))
	if m.MemPages > 0 {
		out = wasmbin.AppendSection(out, wasmbin.SecMemory, wasmbin.AppendVec(nil, wasmbin.AppendU32([]byte{0x00}, m.MemPages)))
	}
	out = wasmbin.AppendSection(out, wasmbin.SecExport, wasmbin.AppendVec(nil, exps...))
	if start >= 0 {
		out = wasmbin.AppendSection(out, wasmbin.SecStart, wasmbin.AppendU32(nil, uint32(start)))
	}
	out = wasmbin.AppendSection(out, wasmbin.SecCode, wasmbin.AppendVec(nil, codes...))
	if len(m.Data) > 0 {
		seg := append(wasmbin.AppendS64([]byte{0x00, 0x41}, DataAt), 0x0b)
		seg = append(wasmbin.AppendU32(seg, uint32(len(m.Data))), m.Data...)
		out = wasmbin.AppendSection(out, wasmbin.SecData, wasmbin.AppendVec(nil, seg))
	}
	return out
}

// Instructions, for function bodies. Those with immediates are functions;
// the blocks take their body and add the end.

func I32Const(v int32) []byte   { return wasmbin.AppendS64([]byte{0x41}, int64(v)) }
func I64Const(v int64) []byte   { return wasmbin.AppendS64([]byte{0x42}, v) }
func LocalGet(i uint32) []byte  { return wasmbin.AppendU32([]byte{0x20}, i) }
func LocalSet(i uint32) []byte  { return wasmbin.AppendU32([]byte{0x21}, i) }
func GlobalGet(i uint32) []byte { return wasmbin.AppendU32([]byte{0x23}, i) }
func GlobalSet(i uint32) []byte { return wasmbin.AppendU32([]byte{0x24}, i) }
func Call(fn uint32) []byte     { return wasmbin.AppendU32([]byte{0x10}, fn) }
func Br(depth uint32) []byte    { return wasmbin.AppendU32([]byte{0x0c}, depth) }
func BrIf(depth uint32) []byte  { return wasmbin.AppendU32([]byte{0x0d}, depth) }

// Loop, Block and If wrap body in a block with no result.
func Loop(body ...[]byte) []byte  { return block(0x03, body) }
func Block(body ...[]byte) []byte { return block(0x02, body) }
func If(body ...[]byte) []byte    { return block(0x04, body) }

func block(op byte, body [][]byte) []byte {
	return append(Cat(append([][]byte{{op, 0x40}}, body...)...), 0x0b)
}

// Memory access with a zero offset and natural alignment.
func I32Load() []byte   { return []byte{0x28, 0x02, 0x00} }
func I64Load() []byte   { return []byte{0x29, 0x03, 0x00} }
func I64Store() []byte  { return []byte{0x37, 0x03, 0x00} }
func I32Store8() []byte { return []byte{0x3a, 0x00, 0x00} }

// Instructions without immediates.
var (
	Unreachable = []byte{0x00}
	Drop        = []byte{0x1a}
	Return      = []byte{0x0f}
	I32Eqz      = []byte{0x45}
	I32Eq       = []byte{0x46}
	I32Ne       = []byte{0x47}
	I32Add      = []byte{0x6a}
	I32Sub      = []byte{0x6b}
	I64ExtendU  = []byte{0xad} // i64.extend_i32_u
	MemoryGrow  = []byte{0x40, 0x00}
	MemoryCopy  = []byte{0xfc, 0x0a, 0x00, 0x00}
	MemoryFill  = []byte{0xfc, 0x0b, 0x00}
)

// Cat concatenates instruction sequences.
func Cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
