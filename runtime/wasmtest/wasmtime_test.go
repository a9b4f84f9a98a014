//go:build cgo

package wasmtest_test

import "github.com/wstream/wstream/runtime/wasmtime"

func init() { engines["wasmtime"] = wasmtime.New }
