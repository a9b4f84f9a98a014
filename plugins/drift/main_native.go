//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

// main lets `go build ./...` work on the host; the plugin only means
// something as WebAssembly.
func main() {
	fmt.Fprintln(os.Stderr, "drift is a wstream plugin: build it with `make plugins` and load plugins/drift/drift.wasm")
	os.Exit(2)
}
