package textio

import (
	"os"
	"sync/atomic"
)

// readProgress is how far a bounded source has read its file, for
// host.ProgressSource: the offset after the last line handed out (not
// what the line reader has read ahead), and the file's size. A progress
// line reads it from another goroutine, so it is atomic.
type readProgress struct {
	done, total atomic.Int64
}

// ReadProgress implements host.ProgressSource.
func (p *readProgress) ReadProgress() (done, total int64) { return p.done.Load(), p.total.Load() }

// start notes f's size and where reading starts (a resumed position).
func (p *readProgress) start(f *os.File, at int64) {
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		p.total.Store(st.Size())
	}
	p.done.Store(at)
}
