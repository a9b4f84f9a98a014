// Package guestsdk carries the source of the guest SDKs inside the wstream
// binary, so that `wstream new` can copy an SDK into a new plugin's folder
// on a machine that has the binary and no checkout of this repository.
package guestsdk

import "embed"

// Files holds what a plugin needs to build against each SDK, under the
// SDK's folder name: go/ (the package, without its tests), c/, rust/, and
// assemblyscript/ (the SDK package in assembly/, and the package.json and
// package-lock.json that pin its compiler). The Go SDK also needs the abi
// package, which embeds its own source (abi.Source). A file added to an
// SDK must be listed here; sdk_test.go fails until it is.
//
//go:embed go/dispatch.go go/exports_wasip1.go go/log_other.go go/raw.go go/values.go go/wstream.go
//go:embed c/wstream.c c/wstream.h
//go:embed rust/wstream.rs
//go:embed assemblyscript/assembly assemblyscript/package.json assemblyscript/package-lock.json
var Files embed.FS
