package main

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]any{
		"a b":   {"a", "b"},
		"a  b":  {"a", "", "b"},
		" a b ": {"", "a", "b", ""},
		"":      {""},
	} {
		got, err := splitWords(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitWords(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
	if _, err := splitWords(int64(1)); err == nil {
		t.Error("splitWords(1): no error")
	}
}

func TestPipelineNamesTheFunctions(t *testing.T) {
	for _, fn := range []string{"fn: split-words", "fn: pair-with-one", "fn: sum"} {
		if !strings.Contains(pipeline, fn) {
			t.Errorf("default pipeline lacks %q", fn)
		}
	}
}

// The README's first command feeds sample.txt through the default pipeline;
// the sample must stay plain words and single spaces, so that the counts
// are what a reader expects.
func TestSample(t *testing.T) {
	f, err := os.Open("sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for s := bufio.NewScanner(f); s.Scan(); lines++ {
		line := s.Text()
		if line == "" || strings.Contains(line, "  ") || strings.TrimSpace(line) != line {
			t.Errorf("line %d %q: want words separated by single spaces", lines+1, line)
		}
		if strings.Trim(line, "abcdefghijklmnopqrstuvwxyz ") != "" {
			t.Errorf("line %d %q: want lower-case ASCII words", lines+1, line)
		}
	}
	if lines < 24 {
		t.Errorf("%d lines, want a few dozen", lines)
	}
}
