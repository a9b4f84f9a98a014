package host

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
)

// writeFile writes a test input file and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

// texts renders records as JSON, one string per record.
func texts(t *testing.T, recs []abi.Raw) []string {
	t.Helper()
	out := []string{}
	for _, r := range recs {
		j, err := abi.AppendJSON(nil, r)
		if err != nil {
			t.Fatalf("record %x: %v", r, err)
		}
		out = append(out, string(j))
	}
	return out
}

// str is a msgpack string record.
func str(s string) abi.Raw { return abi.AppendString(nil, s) }

// strs decodes string records.
func strs(t *testing.T, recs []abi.Raw) []string {
	t.Helper()
	out := []string{}
	for _, r := range recs {
		s, _, err := abi.ReadString(r)
		if err != nil {
			t.Fatalf("record %x: %v", r, err)
		}
		out = append(out, s)
	}
	return out
}

// testCtx is a context that ends the test rather than hang it.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is a Clock the test moves by hand. Each After call is signalled
// on afterCalled, so a test can wait until the scheduler sleeps before it
// moves time (no sleeps, no races).
type fakeClock struct {
	mu          sync.Mutex
	now         time.Time
	waiters     []fakeWaiter
	afterCalled chan time.Duration
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(ms int64) *fakeClock {
	return &fakeClock{now: time.UnixMilli(ms), afterCalled: make(chan time.Duration, 1000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	}
	c.afterCalled <- d
	return ch
}

// set moves the clock to ms and fires the waiters due by then.
func (c *fakeClock) set(ms int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = time.UnixMilli(ms)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
}
