//go:build cgo

package wasmtime

/*
#include <stddef.h>
#include <stdint.h>

// From Wasmtime's wasi.h, which wasmtime-go does not wrap. The symbols are
// in the libwasmtime.a that wasmtime-go links.
typedef struct wasi_config_t wasi_config_t;
typedef ptrdiff_t (*wstream_write_fn)(void *, const unsigned char *, size_t);
extern void wasi_config_set_stdout_custom(wasi_config_t *, wstream_write_fn, void *, void (*)(void *));
extern void wasi_config_set_stderr_custom(wasi_config_t *, wstream_write_fn, void *, void (*)(void *));

// Exported from export.go.
extern ptrdiff_t wstreamGuestWrite(uintptr_t, unsigned char *, size_t);
extern void wstreamGuestRelease(uintptr_t);

static ptrdiff_t wstream_write(void *h, const unsigned char *p, size_t n) {
	return wstreamGuestWrite((uintptr_t)h, (unsigned char *)p, n);
}

static void wstream_release(void *h) { wstreamGuestRelease((uintptr_t)h); }

static void wstream_capture(wasi_config_t *c, uintptr_t out, uintptr_t err) {
	wasi_config_set_stdout_custom(c, wstream_write, (void *)out, wstream_release);
	wasi_config_set_stderr_custom(c, wstream_write, (void *)err, wstream_release);
}
*/
import "C"

import (
	"errors"
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// wasmtime-go only offers files as WASI stdout and stderr; a file grows on
// disk for as long as a guest writes, and is only read after the call. The
// C API's custom streams call back for each write instead, so the capped
// buffer sees output as it is written and drops what is over the cap. The
// config's C pointer is the only field of wasmtime.WasiConfig; these
// constants stop the build if an upgrade changes that.
const (
	_ = uintptr(unsafe.Sizeof(wasmtime.WasiConfig{}) - unsafe.Sizeof(unsafe.Pointer(nil)))
	_ = uintptr(unsafe.Sizeof(unsafe.Pointer(nil)) - unsafe.Sizeof(wasmtime.WasiConfig{}))
)

// liveOutputs counts the stream handles Wasmtime has not released yet, so
// that a test can tell they are not leaked.
var liveOutputs atomic.Int64

// captureOutput sends the guest's stdout and stderr to out. Each stream
// holds a cgo.Handle that Wasmtime releases when it drops the config.
func captureOutput(wc *wasmtime.WasiConfig, out *capped) error {
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(wc))
	if ptr == nil {
		return errors.New("wasmtime: WASI config is closed")
	}
	liveOutputs.Add(2)
	C.wstream_capture((*C.wasi_config_t)(ptr), C.uintptr_t(cgo.NewHandle(out)), C.uintptr_t(cgo.NewHandle(out)))
	runtime.KeepAlive(wc)
	return nil
}
