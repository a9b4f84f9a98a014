// Package wasmtime runs wstream guests on Wasmtime through wasmtime-go
// (cgo, with Wasmtime's static library linked in).
//
// The adapter only exists when cgo is enabled: every other file of the
// package carries a `cgo` build tag, so that `CGO_ENABLED=0 go build ./...`
// still gives a working, pure-Go wstream whose --runtime wasmtime says that
// the engine is not compiled in (runtime.ErrUnavailable) instead of failing
// to build.
//
// It behaves like runtime/wazero: same validation, same errors, the same
// bytes for the same module and input. The differences, all in what a guest
// can observe through WASI, are listed on New.
package wasmtime
