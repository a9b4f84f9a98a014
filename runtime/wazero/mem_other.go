//go:build !(linux || darwin || freebsd)

package wazero

// reserve is unavailable here: memory grows as a Go slice.
func reserve(uint64) []byte { return nil }

func release([]byte) {}
