// Package format maps the bytes of a message or a line to a record and a
// record back to bytes, the same way for every connector: text as a
// string, JSON parsed into the record's value, CSV (for line sources) as a
// map per row.
package format

import (
	"fmt"

	"github.com/wstream/wstream/abi"
)

// Format is how a message's bytes become a record.
type Format string

const (
	// Text keeps the bytes as one string record (a line, a message).
	Text Format = "text"
	// JSON parses the bytes as one JSON value.
	JSON Format = "json"
	// CSV reads RFC 4180 rows; only line sources take it (csv.go).
	CSV Format = "csv"
)

// Parse reads a ?format= value; "lines" is another name for text.
func Parse(s string) (Format, error) {
	switch s {
	case "", "text", "lines":
		return Text, nil
	case "json":
		return JSON, nil
	}
	return "", fmt.Errorf("format=%s: use text or json", s)
}

// ParseLines reads the ?format= of a line source: lines (the default;
// text is another name), json (one JSON value per line) or csv.
func ParseLines(s string) (Format, error) {
	if s == "csv" {
		return CSV, nil
	}
	f, err := Parse(s)
	if err != nil {
		return "", fmt.Errorf("format=%s: use lines, json or csv", s)
	}
	return f, nil
}

// Append appends the record that b holds in format f. A nil b (a Kafka
// tombstone) is nil.
func Append(dst, b []byte, f Format) ([]byte, error) {
	switch {
	case b == nil:
		return abi.AppendNil(dst), nil
	case f == JSON:
		return abi.FromJSON(dst, b)
	}
	return abi.AppendStringBytes(dst, b), nil
}

// Bytes is a record as message bytes: a string as its text, nil as no
// bytes, anything else as JSON.
func Bytes(v abi.Raw) ([]byte, error) {
	switch abi.TypeOf(v) {
	case abi.TypeNil:
		return nil, nil
	case abi.TypeString, abi.TypeBinary:
		s, _, err := abi.ReadStringBytes(v)
		return append([]byte{}, s...), err
	}
	return abi.AppendJSON(nil, v)
}
