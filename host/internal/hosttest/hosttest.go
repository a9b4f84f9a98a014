// Package hosttest holds what the tests of host and of its connectors
// share: a test sink, pass-through processor, Gated and channel sources, a
// fake wall clock and record helpers.
package hosttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/logs"
)

// WriteFile writes a test input file and returns its path.
func WriteFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		t.Fatal(err)
	}
	return p
}

// Texts renders records as JSON, one string per record.
func Texts(t *testing.T, recs []abi.Raw) []string {
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

// Str is a msgpack string record.
func Str(s string) abi.Raw { return abi.AppendString(nil, s) }

// Strs decodes string records.
func Strs(t *testing.T, recs []abi.Raw) []string {
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

// Ctx is a context that ends the test rather than hang it.
func Ctx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// SyncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// FakeClock is a Clock the test moves by hand. Each After call is signalled
// on Slept, so a test can Wait until the scheduler sleeps before it
// moves time (no sleeps, no races).
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	Slept   chan time.Duration
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func NewFakeClock(ms int64) *FakeClock {
	return &FakeClock{now: time.UnixMilli(ms), Slept: make(chan time.Duration, 1000)}
}

func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *FakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	}
	c.Slept <- d
	return ch
}

// Set moves the clock to ms and fires the waiters due by then.
func (c *FakeClock) Set(ms int64) {
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

// Logger is a text logger on w, debug lines included.
func Logger(w io.Writer) *slog.Logger { return slog.New(logs.NewText(w, slog.LevelDebug)) }

// ModuleRoot is the repository's root folder, for building the tools
// and plugins a test runs.
func ModuleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

// Pass passes its inputs through, concatenated in source-name order.
type Pass struct {
	// Hook, if set, runs inside Process (to block it or move the clock).
	Hook func(ctx context.Context, t int64) error
}

func (p Pass) Process(ctx context.Context, t int64, inputs map[string][]abi.Raw) (host.Batch, bool, error) {
	if p.Hook != nil {
		if err := p.Hook(ctx, t); err != nil {
			return host.Batch{}, false, err
		}
	}
	names := make([]string, 0, len(inputs))
	for n := range inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := host.Batch{Time: t}
	for _, n := range names {
		out.Records = append(out.Records, inputs[n]...)
	}
	return out, true, nil
}

// TestSink records batches and hands each to the test as it arrives.
type TestSink struct {
	mu      sync.Mutex
	batches []string
	got     chan string
	opened  bool
	closed  bool
}

func NewTestSink() *TestSink { return &TestSink{got: make(chan string, 1000)} }

func (s *TestSink) URI() string { return "test-sink" }

// Open does nothing; Opened reports whether Run called it.
func (s *TestSink) Open(context.Context, int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened = true
	return nil
}

// Opened reports whether the sink was opened.
func (s *TestSink) Opened() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

func (s *TestSink) Write(b host.Batch) error {
	var recs []string
	for _, r := range b.Records {
		j, err := abi.AppendJSON(nil, r)
		if err != nil {
			return err
		}
		recs = append(recs, string(j))
	}
	line := fmt.Sprintf("%d %s", b.Time, strings.Join(recs, ","))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("write after close")
	}
	s.batches = append(s.batches, line)
	s.got <- line
	return nil
}

func (s *TestSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *TestSink) Result() ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.batches...), s.closed
}

// Got delivers each batch as it arrives, as "TIME JSON,JSON...".
func (s *TestSink) Got() <-chan string { return s.got }

// Expect reads the next batch the sink got.
func (s *TestSink) Expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-s.got:
		if got != want {
			t.Fatalf("batch %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no batch; want %q", want)
	}
}

// GatedSource lets the test decide when each Next may proceed, and tells it
// when the receiver is back for more, i.e. the previous unit is buffered.
type GatedSource struct {
	host.Source
	gate     chan struct{}
	calls    chan struct{}
	returned chan struct{}
}

func Gated(s host.Source) *GatedSource {
	return &GatedSource{Source: s, gate: make(chan struct{}), calls: make(chan struct{}), returned: make(chan struct{}, 100)}
}

func (g *GatedSource) Next(ctx context.Context) (host.Unit, error) {
	select {
	case g.calls <- struct{}{}:
	case <-ctx.Done():
		return host.Unit{}, ctx.Err()
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return host.Unit{}, ctx.Err()
	}
	u, err := g.Source.Next(ctx)
	g.returned <- struct{}{}
	return u, err
}

// Ready waits for the receiver's first Next.
func (g *GatedSource) Ready() { <-g.calls }

// Allow lets n units through and waits until the receiver has buffered
// them and asked for the next.
func (g *GatedSource) Allow(n int) {
	for range n {
		g.gate <- struct{}{}
		<-g.returned
		<-g.calls
	}
}

// Release lets the next Next through (the one that returns io.EOF).
func (g *GatedSource) Release() {
	g.gate <- struct{}{}
	<-g.returned
}

// ChanSource is an unbounded source fed by the test.
type ChanSource struct {
	Ch  chan string
	Err error
}

func (s *ChanSource) URI() string                              { return "chan" }
func (s *ChanSource) Open(ctx context.Context, p []byte) error { return nil }
func (s *ChanSource) Close() error                             { return nil }
func (s *ChanSource) Next(ctx context.Context) (host.Unit, error) {
	if s.Err != nil {
		return host.Unit{}, s.Err
	}
	select {
	case <-ctx.Done():
		return host.Unit{}, ctx.Err()
	case line := <-s.Ch:
		return host.Unit{Records: []abi.Raw{Str(line)}}, nil
	}
}

func MustSource(t *testing.T, uri string, opts ...host.Option) host.Source {
	t.Helper()
	s, err := host.OpenSource(uri, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func RunAsync(ctx context.Context, cfg host.RunConfig) chan error {
	done := make(chan error, 1)
	go func() { done <- host.Run(ctx, cfg) }()
	return done
}

func Wait(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}
