package textio

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/format"
)

// textParams are the URI parameters of every line source (stdin, socket,
// file, dir): the format of its lines, and what it does with a line that
// makes no record.
var textParams = []host.Param{
	{Name: "format", Help: "lines (default: each line a string), json (one JSON value per line) or csv (RFC 4180)"},
	{Name: "header", Help: "csv: true (default) reads the first row as field names and makes map records; false makes arrays"},
	host.MaxLineParam,
	host.OnErrorParam,
}

// sourceOnly marks parameters as a source's, for a connector that is also
// a sink (dir:), as other connectors' help does.
func sourceOnly(params []host.Param) []host.Param {
	out := make([]host.Param, len(params))
	for i, p := range params {
		out[i] = host.Param{Name: p.Name, Help: "source: " + p.Help}
	}
	return out
}

// textOptions are a line source's parsed parameters.
type textOptions struct {
	format  format.Format
	header  bool
	max     int
	onError host.OnError
}

// parseText splits a line source's URI into its base and its options.
func parseText(uri string, env host.Env) (string, textOptions, error) {
	base, q, err := host.ParseQuery(uri, textParams)
	if err != nil {
		return "", textOptions{}, err
	}
	o := textOptions{format: format.Text, header: true}
	if o.format, err = format.ParseLines(q.Get("format")); err != nil {
		return "", o, q.Bad("format", "lines, json or csv")
	}
	if q.Has("header") {
		if o.header, err = q.Bool("header"); err != nil {
			return "", o, err
		}
		if o.format != format.CSV {
			return "", o, fmt.Errorf("%s: header= applies to format=csv only", uri)
		}
	}
	if o.max, err = q.Size(host.MaxLineParam.Name, env.MaxLine); err != nil {
		return "", o, err
	}
	if o.onError, err = q.OnError(env); err != nil {
		return "", o, err
	}
	return base, o, nil
}

// textReader turns the lines of one stream (a file, a connection) into
// units in the source's format, one record or one reject each, applying the
// source's onError policy to lines that make no record.
type textReader struct {
	lr  *lineReader
	dec format.Lines
	opt textOptions
	a   arena
	// row holds the lines of a CSV row that spans lines, for a reject;
	// first is the number of its first line.
	row   []byte
	first int64
}

func newTextReader(r io.Reader, name string, opt textOptions) *textReader {
	lr := newLineReader(r, name, opt.max)
	lr.skipLong = opt.onError != host.OnErrorFail
	return &textReader{lr: lr, dec: format.Lines{Format: opt.format, Header: opt.header}, opt: opt}
}

// reset starts a new stream on the reader (a socket's new connection): a
// CSV header is read again; line numbers go on.
func (t *textReader) reset(r io.Reader) {
	line := t.lr.line
	t.lr = newLineReader(r, t.lr.name, t.opt.max)
	t.lr.line, t.lr.skipLong = line, t.opt.onError != host.OnErrorFail
	t.dec.Reset()
	t.row = t.row[:0]
}

// next returns the next unit, reading lines with read (the line reader's
// next, or a socket's cancellable version of it). It returns io.EOF at
// the end of the stream, and other read errors as read gave them.
func (t *textReader) next(read func() ([]byte, error)) (host.Unit, error) {
	for {
		line, err := read()
		if err == io.EOF {
			if perr := t.dec.End(); perr != nil {
				return t.reject(t.row, int64(len(t.row)), perr.Error())
			}
			return host.Unit{}, io.EOF
		}
		var long *tooLongError
		if errors.As(err, &long) {
			if t.dec.Pending() > 0 {
				t.dec.Drop()
			}
			if long.Size == 0 {
				return host.Unit{}, err // fail: the reader stopped at the cap
			}
			t.first = t.lr.line
			return t.reject(long.Prefix, long.Size, long.Reason())
		}
		if err != nil {
			return host.Unit{}, err
		}
		if t.dec.Pending() == 0 {
			t.first, t.row = t.lr.line, t.row[:0]
		}
		start := t.a.reserve(len(line) + 16)
		out, res, derr := t.dec.Line(t.a.buf, line)
		switch {
		case derr != nil && errors.Is(derr, format.ErrHeader):
			return host.Unit{}, badInput{fmt.Errorf("%s line %d: %v; every row depends on the header, so the source stops whatever its onError", t.lr.name, t.lr.line, derr)}
		case derr != nil:
			input := line
			if len(t.row) > 0 {
				input = append(append(t.row, '\n'), line...)
			}
			return t.reject(input, int64(len(input)), derr.Error())
		case res == format.Record:
			t.a.buf = out
			return host.Unit{Records: []abi.Raw{out[start:len(out):len(out)]}}, nil
		case res == format.More:
			if len(t.row) > 0 {
				t.row = append(t.row, '\n')
			}
			t.row = append(t.row, line...)
			if t.dec.Pending() > t.opt.max {
				t.dec.Drop()
				return t.reject(t.row[:min(len(t.row), longPrefix)], int64(len(t.row)), fmt.Sprintf("a CSV row over the cap of %d bytes (a quoted field not closed?)", t.opt.max))
			}
		}
	}
}

// reject applies the onError policy to input that made no record: under
// fail, an error naming the line; otherwise a unit holding the reject.
func (t *textReader) reject(input []byte, size int64, reason string) (host.Unit, error) {
	where := t.lr.name + " line " + strconv.FormatInt(t.first, 10)
	if t.lr.line > t.first {
		where += "-" + strconv.FormatInt(t.lr.line, 10)
	}
	t.row = t.row[:0]
	var u host.Unit
	err := badInput{fmt.Errorf("%s: %s (set ?onError=skip or ?onError=deadletter on the source to go on without such input)", where, reason)}
	return u, t.opt.onError.Reject(&u, host.Reject{Where: where, Reason: reason, Input: append([]byte(nil), input...), Size: size}, err)
}

// badInput is input that makes no record under onError: fail (or a CSV
// header that names no fields): unlike a read error, it ends the run
// rather than a socket's connection.
type badInput struct{ error }

func (b badInput) Unwrap() error { return b.error }
