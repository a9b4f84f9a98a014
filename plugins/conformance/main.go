//go:build wasip1

package main

// main is required in package main but never runs in a WASI reactor: the
// host calls _initialize (which runs init) and then the SDK's exports.
func main() {}
