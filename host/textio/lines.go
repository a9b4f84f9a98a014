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
	line int64  // lines returned so far
	off  int64  // bytes consumed so far, terminators included
	buf  []byte
	// partial is set when a read error (a deadline) interrupted a line: the
	// bytes already read stay in buf and the next call continues the line.
	partial bool
}

func newLineReader(r io.Reader, name string, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), name: name, max: max}
}

// errLineTooLong is wrapped by the oversized-line error.
var errLineTooLong = errors.New("line too long")

// next returns the next line without its terminator; the slice is valid
// until the next call. At the end it returns io.EOF; other read errors are
// returned as they are, and a later call resumes the interrupted line.
func (lr *lineReader) next() ([]byte, error) {
	if !lr.partial {
		lr.buf = lr.buf[:0]
	}
	lr.partial = false
	for {
		frag, err := lr.r.ReadSlice('\n')
		lr.off += int64(len(frag))
		switch {
		case err == nil:
			var line []byte
			if len(lr.buf) == 0 {
				line = frag // the common case: no copy
			} else {
				lr.buf = append(lr.buf, frag...)
				line = lr.buf
			}
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			lr.line++
			if len(line) > lr.max {
				return nil, lr.tooLong()
			}
			return line, nil
		case err == bufio.ErrBufferFull:
			lr.buf = append(lr.buf, frag...)
			// A trailing '\r' may still be stripped, hence max+1.
			if len(lr.buf) > lr.max+1 {
				lr.line++
				return nil, lr.tooLong()
			}
		case err == io.EOF && len(lr.buf)+len(frag) > 0:
			line := append(lr.buf, frag...)
			lr.buf = line
			if n := len(line); line[n-1] == '\r' {
				line = line[:n-1]
			}
			lr.line++
			if len(line) > lr.max {
				return nil, lr.tooLong()
			}
			return line, nil
		default:
			if err != io.EOF {
				lr.buf = append(lr.buf, frag...)
				lr.partial = true
			}
			return nil, err
		}
	}
}

func (lr *lineReader) tooLong() error {
	return fmt.Errorf("%s line %d: %w (the cap is %d bytes)", lr.name, lr.line, errLineTooLong, lr.max)
}

// arena packs many small records into shared chunks, so a line costs no
// allocation of its own. Each record is capped at its own length, so an
// append by a consumer reallocates instead of overwriting a neighbour.
type arena struct{ buf []byte }

const arenaChunk = 64 << 10

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
