package jsonl

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteMinutes(t *testing.T) {
	ts := []int{5, 61, 62, 200}
	var b bytes.Buffer
	if err := WriteMinutes(&b, ts, func(s int) int { return s / 60 }, 1, 4); err != nil {
		t.Fatal(err)
	}
	if want := "[61,62]\n[]\n[200]\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestLinesRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.jsonl")
	type row struct{ A int }
	if err := Create(p, func(w io.Writer) error { return WriteLines(w, []row{{1}, {2}}) }); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLines[row](p)
	if err != nil || len(got) != 2 || got[1].A != 2 {
		t.Errorf("%v, %v", got, err)
	}
	if _, err := ReadLines[int](p); err == nil || !strings.Contains(err.Error(), "x.jsonl:1") {
		t.Errorf("a row read as an int: %v", err)
	}
}
