package format

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/wstream/wstream/abi"
)

// Lines decodes the lines of one text stream (a file, a connection, stdin)
// into records in a line format. It keeps what spans lines: a CSV header,
// and a CSV row whose quoted field holds a line break.
type Lines struct {
	Format Format
	// Header makes the first CSV row of each stream name the fields, so
	// rows become maps; without it rows are arrays.
	Header bool

	names   []abi.Raw // encoded header names, once the header was read
	pending []byte    // a CSV row whose quoted field goes on in the next line
}

// Result says what a line gave.
type Result int

const (
	// Record: a record was appended.
	Record Result = iota
	// None: the line makes no record: a blank line in json or csv, or the
	// CSV header.
	None
	// More: a CSV row goes on in the next line (a quoted field holds a line
	// break); call Line with it.
	More
)

// ErrHeader marks a CSV header that cannot name the fields. It concerns
// every row of the stream, so a source ends the run on it whatever its
// onError policy.
var ErrHeader = errors.New("bad CSV header")

// Reset starts a new stream: with a header, the next CSV row is one.
func (l *Lines) Reset() { l.names, l.pending = nil, l.pending[:0] }

// Pending is the size of a CSV row read so far that goes on in the next
// line, so that a source can cap a row as it caps a line.
func (l *Lines) Pending() int { return len(l.pending) }

// Drop forgets a CSV row in progress (one that a source gave up on).
func (l *Lines) Drop() { l.pending = l.pending[:0] }

// Line decodes one line, without its terminator, appending the record it
// makes to dst. An error concerns this line (or the CSV row it ends) only;
// the next call starts afresh, except after ErrHeader.
func (l *Lines) Line(dst, line []byte) ([]byte, Result, error) {
	switch l.Format {
	case JSON:
		if len(bytes.TrimSpace(line)) == 0 {
			return dst, None, nil
		}
		out, err := abi.FromJSON(dst, line)
		if err != nil {
			return dst, None, fmt.Errorf("not JSON: %v", err)
		}
		return out, Record, nil
	case CSV:
		return l.csvLine(dst, line)
	}
	return abi.AppendStringBytes(dst, line), Record, nil
}

// End is called at the end of a stream: a CSV row still open there is an
// error (a quoted field never closed).
func (l *Lines) End() error {
	if len(l.pending) == 0 {
		return nil
	}
	l.pending = l.pending[:0]
	return errors.New("a quoted field is not closed before the end of the input")
}

func (l *Lines) csvLine(dst, line []byte) ([]byte, Result, error) {
	row := line
	if len(l.pending) > 0 {
		l.pending = append(append(l.pending, '\n'), line...)
		row = l.pending
	} else if len(bytes.TrimSpace(line)) == 0 {
		return dst, None, nil // blank lines separate nothing in CSV
	}
	fields, complete, err := splitCSV(row)
	if err != nil {
		l.pending = l.pending[:0]
		if l.Header && l.names == nil {
			return dst, None, fmt.Errorf("%w: %v", ErrHeader, err)
		}
		return dst, None, err
	}
	if !complete {
		if len(l.pending) == 0 {
			l.pending = append(l.pending, line...)
		}
		return dst, More, nil
	}
	defer func() { l.pending = l.pending[:0] }()
	if l.Header && l.names == nil {
		return dst, None, l.header(fields)
	}
	if !l.Header {
		dst = abi.AppendArrayHeader(dst, len(fields))
		for _, f := range fields {
			dst = f.append(dst)
		}
		return dst, Record, nil
	}
	if len(fields) != len(l.names) {
		return dst, None, fmt.Errorf("the row has %d fields and the header %d", len(fields), len(l.names))
	}
	dst = abi.AppendMapHeader(dst, len(fields))
	for i, f := range fields {
		dst = f.append(append(dst, l.names[i]...))
	}
	return dst, Record, nil
}

// header takes the names of the fields. An empty name is _cN (N from 0),
// as Spark names them; a name given twice is an error, since a map record
// could hold only one of the two values.
func (l *Lines) header(fields []csvField) error {
	seen := map[string]bool{}
	names := make([]abi.Raw, len(fields))
	for i, f := range fields {
		name := string(f.text)
		if name == "" {
			name = "_c" + strconv.Itoa(i)
		}
		if seen[name] {
			return fmt.Errorf("%w: the column %q appears twice (rename one, or read the rows as arrays with ?header=false)", ErrHeader, name)
		}
		seen[name] = true
		names[i] = abi.AppendString(nil, name)
	}
	l.names = names
	return nil
}

// csvField is one field of a row: its text, unescaped, and whether it was
// quoted.
type csvField struct {
	text   []byte
	quoted bool
}

// append encodes the field's value. A quoted field is a string. An
// unquoted one is null when empty (Spark reads an empty field as null), a
// number when it is one as JSON writes numbers, and a string otherwise.
func (f csvField) append(dst []byte) []byte {
	if f.quoted {
		return abi.AppendStringBytes(dst, f.text)
	}
	if len(f.text) == 0 {
		return abi.AppendNil(dst)
	}
	if isInt, ok := jsonNumber(f.text); ok {
		if isInt {
			if v, err := strconv.ParseInt(string(f.text), 10, 64); err == nil {
				return abi.AppendInt(dst, v)
			}
		}
		if v, err := strconv.ParseFloat(string(f.text), 64); err == nil {
			return abi.AppendFloat(dst, v)
		}
	}
	return abi.AppendStringBytes(dst, f.text)
}

// splitCSV splits one RFC 4180 row into fields. complete is false when a
// quoted field is still open at the end (its row goes on in the next line).
// A quote inside an unquoted field, or text after a closing quote, is an
// error, as RFC 4180 has it.
func splitCSV(row []byte) (fields []csvField, complete bool, err error) {
	i := 0
	for {
		if i < len(row) && row[i] == '"' {
			var text []byte
			j := i + 1
			for {
				k := bytes.IndexByte(row[j:], '"')
				if k < 0 {
					return nil, false, nil
				}
				text = append(text, row[j:j+k]...)
				j += k + 1
				if j < len(row) && row[j] == '"' { // "" is one quote
					text = append(text, '"')
					j++
					continue
				}
				break
			}
			fields = append(fields, csvField{text: text, quoted: true})
			if j == len(row) {
				return fields, true, nil
			}
			if row[j] != ',' {
				return nil, false, fmt.Errorf("field %d: text after the closing quote (at byte %d); a quote inside a quoted field is written \"\"", len(fields), j+1)
			}
			i = j + 1
			continue
		}
		end := bytes.IndexByte(row[i:], ',')
		if end < 0 {
			end = len(row)
		} else {
			end += i
		}
		if q := bytes.IndexByte(row[i:end], '"'); q >= 0 {
			return nil, false, fmt.Errorf("field %d: a quote inside an unquoted field (at byte %d); quote the whole field and write the quote as \"\"", len(fields)+1, i+q+1)
		}
		fields = append(fields, csvField{text: row[i:end]})
		if end == len(row) {
			return fields, true, nil
		}
		i = end + 1
	}
}

// jsonNumber reports whether b is a number in JSON's grammar, and whether
// it is an integer (no fraction, no exponent). "007", "+1", ".5" and "1."
// are not JSON numbers, so such fields stay strings.
func jsonNumber(b []byte) (isInt, ok bool) {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false, false
	}
	isInt = true
	if i < len(b) && b[i] == '.' {
		isInt = false
		i++
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		isInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i == len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return isInt, i == len(b)
}
