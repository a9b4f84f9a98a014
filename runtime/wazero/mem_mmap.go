//go:build linux || darwin || freebsd

package wazero

import "syscall"

// reserve maps n bytes of zeroed, private address space (nil when the
// system refuses). Pages cost memory only once touched.
func reserve(n uint64) []byte {
	if n == 0 || n > 1<<32 || uint64(int(n)) != n {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON|mapNoReserve)
	if err != nil {
		return nil
	}
	return b
}

func release(b []byte) { syscall.Munmap(b) }
