package host

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Option configures OpenSource and OpenSink. An option that does not apply
// to the URI's scheme is ignored, so a caller can pass one set to both.
type Option func(*options)

type options struct {
	log     io.Writer
	maxLine int
	poll    time.Duration
	stdin   io.Reader
	stdout  io.Writer
}

const (
	defaultMaxLine = 1 << 20
	// maxBatchLine caps a batches: line, which holds a whole batch, so it
	// is far larger than a text line's cap.
	maxBatchLine = 256 << 20
	defaultPoll  = 100 * time.Millisecond
)

// WithLog sets where sources write operational messages (a socket's
// disconnects and reconnects). Default os.Stderr.
func WithLog(w io.Writer) Option { return func(o *options) { o.log = w } }

// WithMaxLine caps the length of one input line in bytes, so a source
// without newlines cannot exhaust memory. Default 1 MiB. A batches: line,
// which holds a whole batch, may be up to 256 MiB (or n, if larger).
func WithMaxLine(n int) Option { return func(o *options) { o.maxLine = n } }

// WithPollInterval sets how often a dir: source lists its folder. Default
// 100ms.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithStdin replaces os.Stdin for the stdin source (tests, embedding).
func WithStdin(r io.Reader) Option { return func(o *options) { o.stdin = r } }

// WithStdout replaces os.Stdout for the stdout sink (tests, embedding).
func WithStdout(w io.Writer) Option { return func(o *options) { o.stdout = w } }

// buildOptions applies opts over the defaults and validates them once.
func buildOptions(opts []Option) (options, error) {
	o := options{
		log:     os.Stderr,
		maxLine: defaultMaxLine,
		poll:    defaultPoll,
		stdin:   os.Stdin,
		stdout:  os.Stdout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = io.Discard
	}
	switch {
	case o.maxLine < 1:
		return o, fmt.Errorf("max line length %d: must be 1 byte or more", o.maxLine)
	case o.poll <= 0:
		return o, fmt.Errorf("poll interval %v: must be positive", o.poll)
	case o.stdin == nil || o.stdout == nil:
		return o, fmt.Errorf("stdin and stdout must not be nil")
	}
	return o, nil
}
