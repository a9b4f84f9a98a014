//go:build cgo

package wasmtime

// #include <stddef.h>
// #include <stdint.h>
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// wstreamGuestWrite receives one WASI write to stdout or stderr.
//
//export wstreamGuestWrite
func wstreamGuestWrite(h C.uintptr_t, p *C.uchar, n C.size_t) C.ptrdiff_t {
	if n == 0 {
		return 0
	}
	out, ok := cgo.Handle(h).Value().(*capped)
	if !ok {
		return C.ptrdiff_t(n)
	}
	out.Write(unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n)))
	return C.ptrdiff_t(n)
}

// wstreamGuestRelease frees a stream's handle when Wasmtime drops it.
//
//export wstreamGuestRelease
func wstreamGuestRelease(h C.uintptr_t) {
	cgo.Handle(h).Delete()
	liveOutputs.Add(-1)
}
