package textio

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
)

func init() {
	host.Register(host.Connector{Scheme: "stdout", SinkForm: "stdout  pprint: a header and the first 10 records of each batch (the default sink)",
		Sink: func(uri string, env host.Env) (host.Sink, error) { return &stdoutSink{w: env.Stdout}, nil }})
	host.Register(host.Connector{Scheme: "jsonl", SinkForm: "jsonl:PATH  one JSON line per batch: {\"time\": ms, \"records\": [...]}",
		Sink: openJSONLSink})
}

func openJSONLSink(uri string, env host.Env) (host.Sink, error) {
	p, err := uriPath(uri, "jsonl:")
	if err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	return &jsonlSink{uri: uri, path: p}, nil
}

func openDirSink(uri string, env host.Env) (host.Sink, error) {
	p, err := uriPath(uri, "dir:")
	if err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	dir, base := filepath.Split(p)
	if dir == "" {
		dir = "."
	}
	return &dirSink{uri: uri, prefix: p, dir: dir, base: base}, nil
}

// ---- stdout ----

// stdoutSink prints like Spark's DStream.print(): a header with the batch
// time between dashed lines, the first 10 records (toString), "..." when
// there were more, and an empty line, for every batch, empty ones too. A
// batch is built in memory and written with one call, so batches do not
// interleave with other output.
type stdoutSink struct {
	w   io.Writer
	buf []byte
}

const (
	pprintRule = "-------------------------------------------\n"
	pprintMax  = 10
)

func (s *stdoutSink) URI() string { return "stdout" }

func (s *stdoutSink) Open(context.Context, int64) error { return nil }

func (s *stdoutSink) Write(b host.Batch) error {
	p := append(s.buf[:0], pprintRule...)
	p = append(p, "Time: "...)
	p = strconv.AppendInt(p, b.Time, 10)
	p = append(p, " ms\n"...)
	p = append(p, pprintRule...)
	for i, r := range b.Records {
		if i == pprintMax {
			p = append(p, "...\n"...)
			break
		}
		p = abi.AppendText(p, r)
		p = append(p, '\n')
	}
	p = append(p, '\n')
	s.buf = p
	if _, err := s.w.Write(p); err != nil {
		return fmt.Errorf("sink stdout: %w", err)
	}
	return nil
}

// Close leaves the writer open: it belongs to the process (or the test).
func (s *stdoutSink) Close() error { return nil }

// ---- jsonl: ----

// jsonlSink writes one JSON line per batch. Each line is one write call,
// so Progress counts what the file really holds.
type jsonlSink struct {
	uri, path string
	f         *os.File
	n         int64
	buf       []byte
}

func (s *jsonlSink) URI() string { return s.uri }

func (s *jsonlSink) Progress() int64 { return s.n }

// Open opens the file and cuts it back to resume bytes, the length a
// checkpoint committed, or to nothing on a fresh start.
func (s *jsonlSink) Open(_ context.Context, resume int64) error {
	if s.f != nil {
		return fmt.Errorf("sink %s: already open", s.uri)
	}
	if dir := filepath.Dir(s.path); dir != "." {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return fmt.Errorf("sink %s: %w", s.uri, err)
		}
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	n := max(resume, 0)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	if !st.Mode().IsRegular() { // a device or pipe: nothing to cut back
		if n != 0 {
			f.Close()
			return fmt.Errorf("sink %s: cannot resume a non-regular file at %d bytes", s.uri, n)
		}
		s.f = f
		return nil
	}
	if st.Size() < n {
		f.Close()
		return fmt.Errorf("sink %s: the file has %d bytes but the checkpoint committed %d; it was changed outside wstream (restore it, or start with a new checkpoint directory)", s.uri, st.Size(), n)
	}
	if err := f.Truncate(n); err != nil {
		f.Close()
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	if _, err := f.Seek(n, 0); err != nil {
		f.Close()
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	s.f, s.n = f, n
	return nil
}

func (s *jsonlSink) Write(b host.Batch) error {
	if s.f == nil {
		return fmt.Errorf("sink %s: not open", s.uri)
	}
	p, err := b.AppendJSON(s.buf[:0])
	if err != nil {
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	p = append(p, '\n')
	s.buf = p
	n, err := s.f.Write(p)
	s.n += int64(n)
	if err != nil {
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	return nil
}

func (s *jsonlSink) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	return nil
}

// ---- dir: ----

// dirSink is saveAsTextFiles: one file per batch, PREFIX-<time_ms>, one
// record per line (toString). Each file is written under a temporary name
// starting with '.' (which a dir: source ignores) and renamed into place,
// so a reader never sees half a file. It does not fsync: the rename is
// atomic for readers, not across a power cut (checkpoints decide that).
type dirSink struct {
	uri, prefix string
	dir, base   string
	buf         []byte
}

func (s *dirSink) URI() string { return s.uri }

// Open creates the folder of the files.
func (s *dirSink) Open(context.Context, int64) error {
	if err := os.MkdirAll(s.dir, 0o777); err != nil {
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	return nil
}

func (s *dirSink) Write(b host.Batch) error {
	p := s.buf[:0]
	for _, r := range b.Records {
		p = abi.AppendText(p, r)
		p = append(p, '\n')
	}
	s.buf = p
	t := strconv.FormatInt(b.Time, 10)
	final := s.prefix + "-" + t
	tmp := filepath.Join(s.dir, "."+s.base+"-"+t+".tmp")
	if err := writeWhole(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sink %s: %w", s.uri, err)
	}
	return nil
}

func writeWhole(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *dirSink) Close() error { return nil }
