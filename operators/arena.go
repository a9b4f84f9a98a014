package operators

import "github.com/wstream/wstream/abi"

// arena holds the bytes that state keeps past a batch (keys, states,
// buffered rows), copied into large shared chunks. Kept as they came, those
// bytes would pin the whole batch or response buffer they were cut from for
// as long as one of them lives, and a million separately allocated values
// would cost the garbage collector a million objects. The owner of the
// references compacts: when wasteful says that most bytes handed out are no
// longer used, it copies what it still holds into a fresh arena.
type arena struct {
	chunk []byte
	used  int // bytes handed out since the arena was made
	live  int // of which still referenced, as the owner reports
}

const (
	arenaChunk = 256 << 10
	// arenaSlack is how much garbage is tolerated before compaction pays.
	arenaSlack = 4 << 20
)

// copy returns a copy of b that lives in the arena.
func (a *arena) copy(b []byte) abi.Raw {
	dst := a.alloc(len(b))
	copy(dst, b)
	return dst
}

// pair returns the record [k, v], written in the arena.
func (a *arena) pair(k, v abi.Raw) abi.Raw {
	dst := a.alloc(1 + len(k) + len(v))
	dst[0] = 0x92
	copy(dst[1+copy(dst[1:], k):], v)
	return dst
}

// alloc returns n bytes of the arena, to be filled by the caller.
func (a *arena) alloc(n int) []byte {
	a.used += n
	a.live += n
	if n > arenaChunk/4 { // a large value gets its own allocation
		return make([]byte, n)
	}
	if len(a.chunk)+n > cap(a.chunk) {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	start := len(a.chunk)
	a.chunk = a.chunk[:start+n]
	return a.chunk[start : start+n : start+n]
}

// release reports that n bytes handed out are no longer referenced.
func (a *arena) release(n int) { a.live -= n }

// wasteful reports whether copying the live bytes into a fresh arena
// would free more than it costs: garbage exceeds both the live bytes and a
// fixed slack, so compaction is amortized over as many bytes of writes.
func (a *arena) wasteful() bool {
	garbage := a.used - a.live
	return garbage > a.live && garbage > arenaSlack
}
