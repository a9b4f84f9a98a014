//go:build wasip1

// Command guest is the runtime adapters' test guest: a well-behaved map
// function plus one export per hostile behaviour the host must survive.
// It speaks the ABI through the abi package directly (no SDK), so that the
// adapter's tests do not depend on the guest SDK.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o guest.wasm
package main

import (
	"os"
	"unsafe"

	"github.com/wstream/wstream/abi"
)

func main() {}

// The functions, in id order.
var functions = []abi.Function{
	{Name: "double", Kind: abi.KindMap},  // int x -> 2x; a record error for non-ints
	{Name: "log", Kind: abi.KindMap},     // str x -> x, logging x through wstream_v1.log
	{Name: "stderr", Kind: abi.KindMap},  // str x -> x, writing x to stderr
	{Name: "loop", Kind: abi.KindMap},    // never returns
	{Name: "bomb", Kind: abi.KindMap},    // allocates far past any sane memory limit
	{Name: "badptr", Kind: abi.KindMap},  // returns a pointer outside memory
	{Name: "garbage", Kind: abi.KindMap}, // returns bytes that are not msgpack
	{Name: "badlog", Kind: abi.KindMap},  // logs from a pointer outside memory
	{Name: "panic", Kind: abi.KindMap},   // a Go panic: the runtime exits 2
}

var (
	manifest = abi.AppendManifest(nil, &abi.Manifest{
		ABI: abi.Version, Name: "guest", Version: "0", Language: "go", Functions: functions,
	})
	input   []byte
	output  []byte
	sink    [][]byte
	itemBuf []abi.Raw
)

//go:wasmimport wstream_v1 log
func hostLog(level, ptr, length uint32)

func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

func packed(b []byte) uint64 { return abi.Pack(addr(b), uint32(len(b))) }

//go:wasmexport wstream_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport wstream_alloc
func alloc(size int32) uint32 {
	input = make([]byte, size)
	return addr(input)
}

//go:wasmexport wstream_manifest
func wstreamManifest() uint64 { return packed(manifest) }

//go:wasmexport wstream_call
func call(fn, ptr, length uint32) uint64 {
	in := input[ptr-addr(input):][:length]
	if int(fn) >= len(functions) {
		output = abi.AppendErrorResponse(output[:0], abi.CodeUnknownFunction, "no such function")
		return packed(output)
	}
	switch functions[fn].Name {
	case "loop":
		for {
		}
	case "bomb":
		for {
			sink = append(sink, make([]byte, 64<<20))
		}
	case "badptr":
		return abi.Pack(0xFFFFFF00, 100)
	case "garbage":
		output = append(output[:0], 0xc1, 0xc1)
		return packed(output)
	case "panic":
		panic("the guest panicked on purpose")
	}
	items, _, err := abi.SplitArray(itemBuf[:0], in)
	itemBuf = items
	if err != nil {
		output = abi.AppendErrorResponse(output[:0], abi.CodeBadInput, err.Error())
		return packed(output)
	}
	output = abi.AppendResponseHeader(output[:0], len(items))
	var errs []abi.RecordError
	name := functions[fn].Name
	for i, it := range items {
		switch name {
		case "double":
			v, _, err := abi.ReadInt(it)
			if err != nil {
				errs = append(errs, abi.RecordError{Index: i, Message: err.Error()})
				output = abi.AppendNil(output)
				continue
			}
			output = abi.AppendInt(output, 2*v)
		case "log":
			s, _, _ := abi.ReadStringBytes(it)
			hostLog(abi.LogInfo, addr(s), uint32(len(s)))
			output = append(output, it...)
		case "badlog":
			hostLog(abi.LogWarn, 0xFFFFFFF0, 100)
			output = append(output, it...)
		case "stderr":
			s, _, _ := abi.ReadStringBytes(it)
			os.Stderr.Write(s)
			output = append(output, it...)
		}
	}
	output = abi.AppendRecordErrors(output, errs)
	return packed(output)
}
