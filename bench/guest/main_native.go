//go:build !wasip1

package main

import (
	"fmt"
	"os"
)

// main lets `go build ./...` work on the host; the guest only means
// something as WebAssembly.
func main() {
	fmt.Fprintln(os.Stderr, "bench/guest is a wstream plugin: `wstream bench` builds it for GOOS=wasip1")
	os.Exit(2)
}
