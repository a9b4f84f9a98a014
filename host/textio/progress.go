package textio

import (
	"io"
	"os"
	"sync/atomic"
)

// readProgress counts the bytes a bounded source has read from its file,
// for host.ProgressSource: a progress line reads it from another
// goroutine, so it is atomic. The line reader reads ahead, so done runs
// up to one buffer ahead of the lines handed out.
type readProgress struct {
	done, total atomic.Int64
}

// ReadProgress implements host.ProgressSource.
func (p *readProgress) ReadProgress() (done, total int64) { return p.done.Load(), p.total.Load() }

// track returns f, counting what is read from it; at is where reading
// starts (a resumed position).
func (p *readProgress) track(f *os.File, at int64) io.Reader {
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		p.total.Store(st.Size())
	}
	p.done.Store(at)
	return &countingReader{r: f, n: &p.done}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}
