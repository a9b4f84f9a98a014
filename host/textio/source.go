package textio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/format"
)

func init() {
	host.Register(host.Connector{Scheme: "stdin", SourceForm: "stdin  lines from standard input (the default source)",
		Params: textParams,
		Source: func(uri string, env host.Env) (host.Source, error) {
			base, opt, err := parseText(uri, env)
			if err != nil {
				return nil, err
			}
			if base != "stdin" {
				return nil, fmt.Errorf("unknown source %q: write stdin, or stdin?format=json", uri)
			}
			return &stdinSource{uri: uri, r: env.Stdin, opt: opt}, nil
		}})
	host.Register(host.Connector{Scheme: "socket", SourceForm: "socket://HOST:PORT  lines from a TCP server, reconnecting (socketTextStream)",
		Params: textParams,
		Source: openSocket})
	host.Register(host.Connector{Scheme: "file", SourceForm: "file:PATH  a bounded file, read once",
		Params: textParams,
		Source: func(uri string, env host.Env) (host.Source, error) {
			base, opt, err := parseText(uri, env)
			if err != nil {
				return nil, err
			}
			p, err := uriPath(base, "file:")
			if err != nil {
				return nil, err
			}
			return &fileSource{uri: uri, path: p, opt: opt}, nil
		}})
	host.Register(host.Connector{Scheme: "dir",
		SourceForm: "dir:PATH  each new file's lines, once (textFileStream)",
		SinkForm:   "dir:PREFIX  one file PREFIX-<time_ms> per batch (saveAsTextFiles)",
		Params:     sourceOnly(textParams),
		Source: func(uri string, env host.Env) (host.Source, error) {
			base, opt, err := parseText(uri, env)
			if err != nil {
				return nil, err
			}
			p, err := uriPath(base, "dir:")
			if err != nil {
				return nil, err
			}
			return &dirSource{uri: uri, dir: p, opt: opt, poll: env.Poll, log: env.Log}, nil
		},
		Sink: openDirSink})
	host.Register(host.Connector{Scheme: "batches", SourceForm: "batches:PATH  JSON lines, line k is batch k (queueStream); null = no data",
		Source: func(uri string, env host.Env) (host.Source, error) {
			p, err := uriPath(uri, "batches:")
			if err != nil {
				return nil, err
			}
			return &batchesSource{uri: uri, path: p, max: max(env.MaxLine, maxBatchLine)}, nil
		}})
}

// maxBatchLine caps a batches: line, which holds a whole batch, so it is
// far larger than a text line's cap.
const maxBatchLine = 256 << 20

// uriPath returns the path after scheme. "file:///tmp/x" is accepted as
// well as "file:/tmp/x", since people write both.
func uriPath(uri, scheme string) (string, error) {
	p := strings.TrimPrefix(uri, scheme)
	p = strings.TrimPrefix(p, "//")
	if p == "" {
		return "", fmt.Errorf("%s: missing path (write %sPATH)", uri, scheme)
	}
	return p, nil
}

// readErr names the source in a read error, unless the error already does
// (an oversized line, input that makes no record).
func readErr(uri string, err error) error {
	var bad badInput
	if errors.Is(err, errLineTooLong) || errors.As(err, &bad) {
		return err
	}
	return fmt.Errorf("%s: read: %w", uri, err)
}

// ---- stdin ----

// stdinSource reads os.Stdin in a goroutine of its own, because a read from
// a terminal or pipe cannot be interrupted: Next stays cancellable, and the
// goroutine, if blocked at exit, dies with the process. It reads at most one
// line ahead of Next.
type stdinSource struct {
	uri  string
	r    io.Reader
	opt  textOptions
	res  chan lineResult
	done chan struct{}
	once sync.Once
	err  error // sticky end: io.EOF or a read error
}

type lineResult struct {
	u   host.Unit
	err error
}

func (s *stdinSource) URI() string { return s.uri }

func (s *stdinSource) Open(ctx context.Context, pos []byte) error {
	if pos != nil {
		return errors.New("stdin cannot resume from a position (it cannot be replayed)")
	}
	if s.res != nil {
		return errors.New("stdin: already open")
	}
	s.res = make(chan lineResult)
	s.done = make(chan struct{})
	go s.read()
	return nil
}

func (s *stdinSource) read() {
	tr := newTextReader(s.r, "stdin", s.opt)
	for {
		var r lineResult
		r.u, r.err = tr.next(tr.lr.next)
		if r.err != nil && r.err != io.EOF {
			r.err = readErr("stdin", r.err)
		}
		select {
		case s.res <- r:
		case <-s.done:
			return
		}
		if r.err != nil {
			return
		}
	}
}

func (s *stdinSource) Next(ctx context.Context) (host.Unit, error) {
	if s.err != nil {
		return host.Unit{}, s.err
	}
	if s.res == nil {
		return host.Unit{}, errors.New("stdin: Next before Open")
	}
	select {
	case <-ctx.Done():
		return host.Unit{}, ctx.Err()
	case r := <-s.res:
		if r.err != nil {
			s.err = r.err
		}
		return r.u, r.err
	}
}

func (s *stdinSource) Close() error {
	if s.done != nil {
		s.once.Do(func() { close(s.done) })
	}
	return nil
}

// ---- file: ----

// fileSource reads a file once. Reads from a regular file do not block, so
// it needs no goroutine; Next checks ctx between lines.
type fileSource struct {
	uri, path string
	opt       textOptions
	f         *os.File
	tr        *textReader
	readProgress
}

// filePos is a file: position: the byte offset after the last line read,
// and that line's number, so messages keep counting lines after a resume.
type filePos struct {
	Offset int64 `json:"offset"`
	Line   int64 `json:"line"`
}

func appendFilePos(dst []byte, off, line int64) []byte {
	dst = append(dst, `{"offset":`...)
	dst = strconv.AppendInt(dst, off, 10)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, line, 10)
	return append(dst, '}')
}

func (s *fileSource) URI() string { return s.uri }

// Check reports a file that is not there or cannot be read.
func (s *fileSource) Check() error { return checkReadable(s.uri, s.path) }

func (s *fileSource) Open(ctx context.Context, pos []byte) error {
	if s.f != nil {
		return fmt.Errorf("%s: already open", s.uri)
	}
	var p filePos
	if pos != nil {
		if err := json.Unmarshal(pos, &p); err != nil || p.Offset < 0 || p.Line < 0 {
			return fmt.Errorf("%s: bad position %q", s.uri, pos)
		}
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("%s: %w", s.uri, err)
	}
	if p.Offset > 0 {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() < p.Offset {
			f.Close()
			return fmt.Errorf("%s: cannot resume at byte %d: the file has only %d bytes (was it replaced?)", s.uri, p.Offset, st.Size())
		}
		if _, err := f.Seek(p.Offset, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("%s: resume at byte %d: %w", s.uri, p.Offset, err)
		}
	}
	s.f = f
	s.tr = newTextReader(f, s.uri, s.opt)
	s.start(f, p.Offset)
	s.tr.lr.off, s.tr.lr.line = p.Offset, p.Line
	if p.Offset > 0 {
		if err := readHeader(s.tr, s.path, s.uri); err != nil {
			f.Close()
			s.f = nil
			return err
		}
	}
	return nil
}

// readHeader gives a text reader resuming inside a file the file's CSV
// header, which it read before the position it resumes at.
func readHeader(tr *textReader, path, uri string) error {
	if tr.opt.format != format.CSV || !tr.opt.header {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", uri, err)
	}
	defer f.Close()
	h := newTextReader(f, uri, tr.opt)
	if _, err := h.next(h.lr.next); err != nil && err != io.EOF {
		return err
	}
	tr.dec = h.dec
	return nil
}

func (s *fileSource) Next(ctx context.Context) (host.Unit, error) {
	if err := ctx.Err(); err != nil {
		return host.Unit{}, err
	}
	if s.tr == nil {
		return host.Unit{}, fmt.Errorf("%s: Next before Open", s.uri)
	}
	u, err := s.tr.next(s.tr.lr.next)
	if err == io.EOF {
		return host.Unit{}, io.EOF
	}
	if err != nil {
		return host.Unit{}, readErr(s.uri, err)
	}
	s.done.Store(s.tr.lr.off)
	u.Pos = appendFilePos(nil, s.tr.lr.off, s.tr.lr.line)
	return u, nil
}

func (s *fileSource) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f, s.tr = nil, nil
	return err
}

// ---- batches: ----

// batchesSource is Spark's queueStream as a file: each line is one whole
// batch, a JSON array of records, or null for an interval with no data. Its
// position is the number of lines consumed.
type batchesSource struct {
	uri, path string
	max       int
	f         *os.File
	lr        *lineReader
	readProgress
}

const batchesHint = "each line must be a JSON array or null"

func (s *batchesSource) URI() string { return s.uri }

// Check reports a file that is not there or cannot be read.
func (s *batchesSource) Check() error { return checkReadable(s.uri, s.path) }

// checkReadable opens path for reading and closes it at once.
func checkReadable(uri, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", uri, err)
	}
	return f.Close()
}

func (s *batchesSource) Open(ctx context.Context, pos []byte) error {
	if s.f != nil {
		return fmt.Errorf("%s: already open", s.uri)
	}
	var skip int64
	if pos != nil {
		n, err := strconv.ParseInt(string(pos), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%s: bad position %q", s.uri, pos)
		}
		skip = n
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("%s: %w", s.uri, err)
	}
	lr := newLineReader(f, s.uri, s.max)
	lr.fixedCap = true
	s.start(f, 0)
	for lr.line < skip {
		if _, err := lr.next(); err != nil {
			f.Close()
			if err == io.EOF {
				return fmt.Errorf("%s: cannot resume after line %d: the file has only %d lines (was it replaced?)", s.uri, skip, lr.line)
			}
			return readErr(s.uri, err)
		}
	}
	s.f, s.lr = f, lr
	return nil
}

func (s *batchesSource) Next(ctx context.Context) (host.Unit, error) {
	if err := ctx.Err(); err != nil {
		return host.Unit{}, err
	}
	if s.lr == nil {
		return host.Unit{}, fmt.Errorf("%s: Next before Open", s.uri)
	}
	line, err := s.lr.next()
	if err == io.EOF {
		return host.Unit{}, io.EOF
	}
	if err != nil {
		return host.Unit{}, readErr(s.uri, err)
	}
	n := s.lr.line
	s.done.Store(s.lr.off)
	if len(bytes.TrimSpace(line)) == 0 {
		return host.Unit{}, fmt.Errorf("%s line %d: the line is empty; write null for an interval with no data (%s)", s.uri, n, batchesHint)
	}
	msg, err := abi.FromJSON(nil, line)
	if err != nil {
		return host.Unit{}, fmt.Errorf("%s line %d: %w; %s", s.uri, n, err, batchesHint)
	}
	u := host.Unit{Whole: true, Pos: strconv.AppendInt(nil, n, 10)}
	switch abi.TypeOf(msg) {
	case abi.TypeNil:
		return u, nil
	case abi.TypeArray:
		if u.Records, _, err = abi.SplitArray(nil, msg); err != nil {
			return host.Unit{}, fmt.Errorf("%s line %d: %w", s.uri, n, err)
		}
		return u, nil
	}
	return host.Unit{}, fmt.Errorf("%s line %d: got a JSON %s; %s", s.uri, n, jsonKind(msg), batchesHint)
}

// jsonKind names the JSON type a msgpack value came from.
func jsonKind(msg []byte) string {
	switch abi.TypeOf(msg) {
	case abi.TypeMap:
		return "object"
	case abi.TypeString:
		return "string"
	case abi.TypeInt, abi.TypeFloat:
		return "number"
	case abi.TypeBool:
		return "boolean"
	}
	return abi.TypeOf(msg).String()
}

func (s *batchesSource) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f, s.lr = nil, nil
	return err
}
