//go:build wasip1

package main

// main never runs in a WASI reactor: the host calls _initialize (init).
func main() {}
