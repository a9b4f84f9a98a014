package host

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Connector is what one URI scheme opens: a source, a sink, or both.
// Connector packages register theirs from init (as database/sql drivers
// do), so that the scheduler never depends on a transport and a new one is
// one package.
type Connector struct {
	// Scheme is the part of a URI before the first ':' ("file", "kafka"),
	// or the whole URI for one without a colon ("stdin", "stdout").
	Scheme string
	// Source opens a source of this scheme (nil: not a source). It checks
	// the URI but does not connect or open files: Source.Open does, so that
	// a caller can resume it from a checkpointed position.
	Source func(uri string, env Env) (Source, error)
	// Sink opens a sink of this scheme (nil: not a sink).
	Sink func(uri string, env Env) (Sink, error)
	// SourceForm and SinkForm are the URI as the help shows it, with what
	// it does: "file:PATH  a bounded file, read once".
	SourceForm, SinkForm string
	// Params are the URI's ?name=value parameters, for help and lint.
	Params []Param
	// Transactional sinks commit each batch's output together with its
	// input's positions (BatchCommitter), which exactlyOnce: true needs.
	Transactional bool
}

// Param is one URI parameter of a connector.
type Param struct {
	Name, Help string
}

var registry = struct {
	sync.RWMutex
	byScheme map[string]Connector
}{byScheme: map[string]Connector{}}

// Register adds a connector. A scheme registers once; a second
// registration is a programming error.
func Register(c Connector) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byScheme[c.Scheme]; dup {
		panic("host: connector " + c.Scheme + " registered twice")
	}
	registry.byScheme[c.Scheme] = c
}

// Connectors returns the registered connectors, sorted by scheme.
func Connectors() []Connector {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Connector, 0, len(registry.byScheme))
	for _, c := range registry.byScheme {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scheme < out[j].Scheme })
	return out
}

// Scheme returns the scheme of a URI as connectors register it: what
// comes before the first ':', or before the parameters of a URI without
// one ("stdin?format=json").
func Scheme(uri string) string {
	if i := strings.IndexAny(uri, ":?"); i >= 0 {
		return uri[:i]
	}
	return uri
}

// Lookup returns the connector for a URI's scheme.
func Lookup(uri string) (Connector, bool) {
	registry.RLock()
	defer registry.RUnlock()
	c, ok := registry.byScheme[Scheme(uri)]
	return c, ok
}

// Forms lists the registered source (or sink) URI forms, for messages.
func Forms(sinks bool) []string {
	var out []string
	for _, c := range Connectors() {
		form := c.SourceForm
		if sinks {
			form = c.SinkForm
		}
		if form != "" {
			out = append(out, strings.Fields(form)[0])
		}
	}
	return out
}

// OpenSource returns the source a URI names. It checks the URI but does
// not connect or open files: Source.Open does.
func OpenSource(uri string, opts ...Option) (Source, error) {
	env, err := newEnv(opts)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", uri, err)
	}
	c, ok := Lookup(uri)
	if !ok || c.Source == nil {
		return nil, fmt.Errorf("unknown source %q: use %s", uri, strings.Join(Forms(false), ", "))
	}
	return c.Source(uri, env)
}

// OpenSink returns the sink a URI names. Every error a sink returns names
// it.
func OpenSink(uri string, opts ...Option) (Sink, error) {
	env, err := newEnv(opts)
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", uri, err)
	}
	c, ok := Lookup(uri)
	if !ok || c.Sink == nil {
		return nil, fmt.Errorf("unknown sink %q: use %s", uri, strings.Join(Forms(true), ", "))
	}
	return c.Sink(uri, env)
}

// Env is what a connector is opened with: the process's streams and the
// options of OpenSource and OpenSink, validated.
type Env struct {
	// Log receives operational messages (a socket's reconnects).
	Log *slog.Logger
	// MaxLine caps one input line in bytes, so that a source without
	// newlines cannot exhaust memory; a source's ?maxLine= overrides it.
	MaxLine int
	// Poll is how often a folder source lists its folder.
	Poll   time.Duration
	Stdin  io.Reader
	Stdout io.Writer
	// ExactlyOnce asks a transactional sink to commit each batch's output
	// with its input's positions (the pipeline's exactlyOnce: true).
	ExactlyOnce bool
	// Stateful says the pipeline keeps state across batches in this
	// process, so a source shared by a group of processes can warn that the
	// state does not move with its partitions.
	Stateful bool
	// DeadLetter says the pipeline has a deadLetter: sink, which a source
	// with onError=deadletter needs.
	DeadLetter bool
}

// Option configures OpenSource and OpenSink. An option that does not apply
// to the URI's scheme is ignored, so a caller can pass one set to both.
type Option interface{ apply(*Env) }

type optionFunc func(*Env)

func (f optionFunc) apply(e *Env) { f(e) }

// Defaults of the options.
const (
	DefaultMaxLine = 1 << 20
	DefaultPoll    = 100 * time.Millisecond
)

// WithLog sets the logger of operational messages. Default slog.Default().
func WithLog(l *slog.Logger) Option { return optionFunc(func(e *Env) { e.Log = l }) }

// WithMaxLine caps the length of one input line in bytes. Default 1 MiB.
func WithMaxLine(n int) Option { return optionFunc(func(e *Env) { e.MaxLine = n }) }

// WithPollInterval sets how often a dir: source lists its folder. Default
// 100ms.
func WithPollInterval(d time.Duration) Option { return optionFunc(func(e *Env) { e.Poll = d }) }

// WithExactlyOnce sets Env.ExactlyOnce.
func WithExactlyOnce(on bool) Option { return optionFunc(func(e *Env) { e.ExactlyOnce = on }) }

// WithStateful sets Env.Stateful.
func WithStateful(on bool) Option { return optionFunc(func(e *Env) { e.Stateful = on }) }

// WithDeadLetter sets Env.DeadLetter.
func WithDeadLetter(on bool) Option { return optionFunc(func(e *Env) { e.DeadLetter = on }) }

// WithStdin replaces os.Stdin for the stdin source (tests, embedding).
func WithStdin(r io.Reader) Option { return optionFunc(func(e *Env) { e.Stdin = r }) }

// WithStdout replaces os.Stdout for the stdout sink (tests, embedding).
func WithStdout(w io.Writer) Option { return optionFunc(func(e *Env) { e.Stdout = w }) }

// newEnv applies opts over the defaults and validates them once.
func newEnv(opts []Option) (Env, error) {
	e := Env{
		Log:     slog.Default(),
		MaxLine: DefaultMaxLine,
		Poll:    DefaultPoll,
		Stdin:   os.Stdin,
		Stdout:  os.Stdout,
	}
	for _, opt := range opts {
		opt.apply(&e)
	}
	if e.Log == nil {
		e.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case e.MaxLine < 1:
		return e, fmt.Errorf("max line length %d: must be 1 byte or more", e.MaxLine)
	case e.Poll <= 0:
		return e, fmt.Errorf("poll interval %v: must be positive", e.Poll)
	case e.Stdin == nil || e.Stdout == nil:
		return e, fmt.Errorf("stdin and stdout must not be nil")
	}
	return e, nil
}
