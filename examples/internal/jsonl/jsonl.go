// Package jsonl writes and reads the examples' data files: JSON lines,
// and batches: files that hold one minute of event time a line.
package jsonl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Create writes a file with fill, and reports the first error of the two.
func Create(path string, fill func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteLines writes items as JSON lines.
func WriteLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}

// WriteMinutes writes the items of minutes [from, to) as a batches: file,
// line k holding minute from+k as a JSON array ([] for a quiet minute),
// so with `batch: 1m` and the manual clock, batch time follows event
// time. items must be in minute order; minute says which one an item is in.
func WriteMinutes[T any](w io.Writer, items []T, minute func(T) int, from, to int) error {
	i := 0
	for i < len(items) && minute(items[i]) < from {
		i++
	}
	for m := from; m < to; m++ {
		line := []T{}
		for ; i < len(items) && minute(items[i]) <= m; i++ {
			line = append(line, items[i])
		}
		b, err := json.Marshal(line)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// ReadLines reads a file of JSON lines, naming the line that is not a T.
func ReadLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}
