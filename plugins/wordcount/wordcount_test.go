package main

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func TestSplitWords(t *testing.T) {
	for in, want := range map[string][]any{
		"a b":   {"a", "b"},
		"a  b":  {"a", "", "b"},
		" a b ": {"", "a", "b", ""},
		"":      {""},
	} {
		out, n, err := splitWords(nil, abi.AppendString(nil, in))
		if err != nil {
			t.Fatalf("splitWords(%q): %v", in, err)
		}
		got, err := abi.Decode(append(abi.AppendArrayHeader(nil, n), out...))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitWords(%q) = %#v, %v; want %#v", in, got, err, want)
		}
	}
	if _, _, err := splitWords(nil, abi.AppendInt(nil, 1)); err == nil || !strings.Contains(err.Error(), "got int64") {
		t.Errorf("splitWords(1): err = %v", err)
	}
}

func TestPairWithOne(t *testing.T) {
	for _, in := range []string{`"a"`, `null`, `true`, `300`, `2.5`, `{"b": 1, "a": 2}`, `[1, "x"]`} {
		x, err := abi.FromJSON(nil, []byte(in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := pairWithOne(nil, x)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := abi.Decode(x)
		want, _ := abi.Append(nil, wstream.Pair(v, int64(1)))
		if !bytes.Equal(got, want) {
			t.Errorf("pairWithOne(%s) = %s, want %s", in, abi.Describe(got), abi.Describe(want))
		}
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
