package textio

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/wstream/wstream/abi"
)

// lineReader splits a byte stream into lines the way Java's readLine does
// for "\n" and "\r\n" (Spark's socketTextStream and textFileStream): the
// terminator is stripped, and a last line without one is still a line. A
// lone "\r" inside a line is kept. It counts lines and bytes so sources can
// name a line in errors and record their position.
type lineReader struct {
	r    *bufio.Reader
	name string // the source URI, for messages
	max  int    // longest line accepted, terminator excluded
	// skipLong makes a line over max be read to its end and reported (with
	// its first bytes and its length), so that reading can go on after it;
	// otherwise the reader stops at the cap.
	skipLong bool
	// fixedCap marks a source whose cap no parameter changes (batches:),
	// so that the error does not advise one.
	fixedCap bool
	line     int64 // lines returned so far
	off      int64 // bytes consumed so far, terminators included
	buf      []byte
	// partial is set when a read error (a deadline) interrupted a line: the
	// bytes already read stay in buf and the next call continues the line.
	partial bool
	// over counts the bytes of a line over max while its rest is read and
	// dropped; buf then holds only its first bytes.
	over int64
	last byte // the last byte of the previous fragment, for a "\r\n" split across two
}

func newLineReader(r io.Reader, name string, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), name: name, max: max}
}

// errLineTooLong is wrapped by the oversized-line error.
var errLineTooLong = errors.New("line too long")

// longPrefix is how much of a line over the cap a reject keeps: enough to
// recognise the line; its length says how much more there was.
const longPrefix = 4 << 10

// tooLongError is a line over the cap. With skipLong the line was read to
// its end: Size is its length and Prefix its first bytes.
type tooLongError struct {
	name   string
	line   int64
	max    int
	fixed  bool
	Size   int64 // 0 when the reader stopped at the cap
	Prefix []byte
}

func (e *tooLongError) Error() string {
	return fmt.Sprintf("%s line %d: %s", e.name, e.line, e.Reason())
}

// Reason is the error without the line's name.
func (e *tooLongError) Reason() string {
	if e.Size > 0 {
		return fmt.Sprintf("line too long (%d bytes; the cap is %d bytes, ?maxLine= on the source)", e.Size, e.max)
	}
	if e.fixed {
		return fmt.Sprintf("line too long (the cap is %d bytes)", e.max)
	}
	return fmt.Sprintf("line too long (the cap is %d bytes; raise it with ?maxLine=SIZE on the source, or set ?onError=skip or ?onError=deadletter to go on without such lines)", e.max)
}

func (e *tooLongError) Unwrap() error { return errLineTooLong }

// next returns the next line without its terminator; the slice is valid
// until the next call. At the end it returns io.EOF; other read errors are
// returned as they are, and a later call resumes the interrupted line.
func (lr *lineReader) next() ([]byte, error) {
	if !lr.partial {
		lr.buf, lr.over = lr.buf[:0], 0
	}
	lr.partial = false
	for {
		frag, err := lr.r.ReadSlice('\n')
		lr.off += int64(len(frag))
		end := err == nil || err == io.EOF && (len(lr.buf)+len(frag) > 0 || lr.over > 0)
		if err != nil && err != bufio.ErrBufferFull && !end {
			if err != io.EOF {
				lr.keep(frag)
				lr.partial = true
			}
			return nil, err
		}
		if lr.over > 0 {
			prev := lr.last
			lr.keep(frag)
			if !end {
				continue
			}
			return nil, lr.tooLong(frag, prev, err == nil)
		}
		var line []byte
		if len(lr.buf) == 0 && end {
			line = frag // the common case: no copy
		} else {
			lr.buf = append(lr.buf, frag...)
			line = lr.buf
		}
		if !end { // a full read buffer: the line goes on
			// A trailing '\r' may still be stripped, hence max+1.
			if len(lr.buf) > lr.max+1 {
				if !lr.skipLong {
					lr.line++
					return nil, &tooLongError{name: lr.name, line: lr.line, max: lr.max, fixed: lr.fixedCap}
				}
				lr.over = int64(len(lr.buf))
				lr.buf = lr.buf[:min(len(lr.buf), longPrefix, lr.max)]
				lr.last = frag[len(frag)-1]
			}
			continue
		}
		if err == nil {
			line = line[:len(line)-1]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		lr.line++
		if len(line) > lr.max {
			e := &tooLongError{name: lr.name, line: lr.line, max: lr.max, fixed: lr.fixedCap}
			if lr.skipLong {
				e.Size, e.Prefix = int64(len(line)), line[:min(len(line), longPrefix, lr.max)]
			}
			return nil, e
		}
		return line, nil
	}
}

// keep adds a fragment of a line being dropped (over the cap) or
// interrupted (partial) to what the reader holds of it.
func (lr *lineReader) keep(frag []byte) {
	if lr.over == 0 {
		lr.buf = append(lr.buf, frag...)
		return
	}
	if len(frag) > 0 {
		lr.over += int64(len(frag))
		lr.last = frag[len(frag)-1]
	}
}

// tooLong ends a line over the cap that was read to its end: frag is its
// last fragment, prev the byte before it, and nl says frag ends with the
// '\n'. The length excludes the terminator, as the cap does.
func (lr *lineReader) tooLong(frag []byte, prev byte, nl bool) error {
	size := lr.over
	if nl {
		size-- // the '\n'
		if len(frag) >= 2 && frag[len(frag)-2] == '\r' || len(frag) == 1 && prev == '\r' {
			size--
		}
	}
	lr.line++
	return &tooLongError{name: lr.name, line: lr.line, max: lr.max, Size: size, Prefix: lr.buf}
}

// arena packs many small records into shared chunks, so a line costs no
// allocation of its own. Each record is capped at its own length, so an
// append by a consumer reallocates instead of overwriting a neighbour.
type arena struct{ buf []byte }

const arenaChunk = 64 << 10

// reserve makes room for at least n more bytes in the current chunk and
// returns where the next record starts. A record that outgrows the room
// moves the chunk (append copies it); records already handed out keep the
// old one.
func (a *arena) reserve(n int) int {
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, max(arenaChunk, n))
	}
	return len(a.buf)
}

// str returns s encoded as a msgpack str. Invalid UTF-8 is kept as is: the
// record is the line's bytes.
func (a *arena) str(s []byte) abi.Raw {
	need := len(s) + 5
	if cap(a.buf)-len(a.buf) < need {
		a.buf = make([]byte, 0, max(arenaChunk, need))
	}
	start := len(a.buf)
	a.buf = abi.AppendStringBytes(a.buf, s)
	return abi.Raw(a.buf[start:len(a.buf):len(a.buf)])
}
