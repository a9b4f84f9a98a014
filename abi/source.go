package abi

import "embed"

// Source is this package's own source and its specification, for
// `wstream new`, which copies them into a Go plugin's module beside the
// guest SDK so that the plugin builds without a checkout of wstream. A
// program that does not use Source does not link it: guest plugins, which
// import this package, are unchanged by it.
//
//go:embed abi.go call.go json.go msgpack.go text.go value.go ABI.md
var Source embed.FS
