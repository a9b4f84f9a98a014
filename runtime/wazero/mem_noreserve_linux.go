package wazero

import "syscall"

const mapNoReserve = syscall.MAP_NORESERVE

// adviseHuge asks for transparent huge pages where the system leaves them
// to madvise: guest code reads its memory all over, and 4 KiB pages cost
// TLB misses.
func adviseHuge(b []byte) { syscall.Madvise(b, 14 /* MADV_HUGEPAGE */) }
