//go:build cgo

package main

import "github.com/wstream/wstream/runtime/wasmtime"

// Wasmtime needs cgo; without it, knownEngines explains why it is missing.
func init() { engines["wasmtime"] = wasmtime.New }
