//go:build wasip1

package wstream

import (
	"unsafe"

	"github.com/wstream/wstream/abi"
)

// The ABI v1 exports (abi/ABI.md §2). The buffers are package globals so
// that the Go GC, which does not move objects, keeps them alive while the
// host holds pointers into them; they are reused across calls.
var (
	inBuf       []byte // the last wstream_alloc buffer
	outBuf      []byte // the last wstream_call response
	manifestBuf []byte
)

func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

//go:wasmexport wstream_abi_version
func wasmABIVersion() int32 { return abi.Version }

// wasmAlloc hands the host a buffer for the next call input. The old buffer is
// reused while it is big enough; growing doubles it so that slowly growing
// batches do not allocate on every call.
//
//go:wasmexport wstream_alloc
func wasmAlloc(size int32) int32 {
	if size < 0 {
		return 0
	}
	if int(size) > cap(inBuf) || inBuf == nil {
		inBuf = make([]byte, max(int(size), 2*cap(inBuf), 64))
	}
	return int32(addr(inBuf))
}

//go:wasmexport wstream_manifest
func wasmManifest() uint64 {
	manifestBuf = abi.AppendManifest(manifestBuf[:0], plugin.manifest())
	return abi.Pack(addr(manifestBuf), uint32(len(manifestBuf)))
}

//go:wasmexport wstream_call
func wasmCall(fn, ptr, n int32) uint64 {
	if in, ok := input(uint32(ptr), uint32(n)); ok {
		outBuf = plugin.handle(outBuf[:0], int(fn), in)
	} else {
		outBuf = abi.AppendErrorResponse(outBuf[:0], abi.CodeBadInput, "input is not inside the wstream_alloc buffer")
	}
	return abi.Pack(addr(outBuf), uint32(len(outBuf)))
}

// input returns the n bytes at ptr, which must lie inside the alloc buffer:
// slicing that buffer instead of trusting a raw pointer keeps a confused
// host from making the guest read outside memory it owns.
func input(ptr, n uint32) ([]byte, bool) {
	base := addr(inBuf)
	if ptr < base || uint64(ptr-base)+uint64(n) > uint64(len(inBuf)) {
		return nil, n == 0
	}
	off := ptr - base
	return inBuf[off : off+n], true
}

//go:wasmimport wstream_v1 log
func hostLog(level int32, ptr unsafe.Pointer, n int32)

// Log writes a line to the host's log: level 0 debug, 1 info, 2 warn,
// 3 error (abi.LogDebug…). Natively it writes to stderr.
func Log(level int, msg string) {
	hostLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), int32(len(msg)))
}
