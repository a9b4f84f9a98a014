package format

import (
	"errors"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
)

// decode runs the lines of one stream through l and renders each record
// as JSON, each error as "error: ...", in order.
func decode(t *testing.T, l *Lines, text string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(text, "\n") {
		rec, res, err := l.Line(nil, []byte(line))
		switch {
		case err != nil:
			out = append(out, "error: "+err.Error())
		case res == Record:
			js, err := abi.AppendJSON(nil, rec)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(js))
		}
	}
	if err := l.End(); err != nil {
		out = append(out, "error: "+err.Error())
	}
	return out
}

func TestLinesCSV(t *testing.T) {
	for _, c := range []struct {
		name   string
		header bool
		in     string
		want   []string
	}{
		{"header makes maps, in header order", true,
			"sensor,ts,temp\ns1,1000,20.5\ns2,2000,19",
			[]string{`{"sensor":"s1","ts":1000,"temp":20.5}`, `{"sensor":"s2","ts":2000,"temp":19}`}},
		{"without a header rows are arrays", false,
			"a,1\nb,2,3",
			[]string{`["a",1]`, `["b",2,3]`}},
		// RFC 4180 section 2, rules 5 to 7.
		{"quoted fields are strings, with commas and doubled quotes", false,
			`"aaa","b,bb","c""cc"` + "\n" + `"1",2`,
			[]string{`["aaa","b,bb","c\"cc"]`, `["1",2]`}},
		{"a quoted field may hold a line break", true,
			"id,note\n1,\"two\nlines\"\n2,one",
			[]string{`{"id":1,"note":"two\nlines"}`, `{"id":2,"note":"one"}`}},
		{"empty unquoted is null, empty quoted is an empty string", false,
			`,"",x`,
			[]string{`[null,"","x"]`}},
		{"only JSON's numbers are numbers", false,
			"007,+1,.5,1.,1e3,-0,1.5E-2,9223372036854775808,0x10, 1",
			[]string{`["007","+1",".5","1.",1000.0,0,0.015,9.223372036854776e+18,"0x10"," 1"]`}},
		{"blank lines are no rows", true,
			"a\n\n1\n   \n2",
			[]string{`{"a":1}`, `{"a":2}`}},
		{"empty header names are _cN", true,
			"a,,c\n1,2,3",
			[]string{`{"a":1,"_c1":2,"c":3}`}},
		{"a row with another field count is an error, and the next row is read", true,
			"a,b\n1\n1,2,3\n4,5",
			[]string{"error: the row has 1 fields and the header 2", "error: the row has 3 fields and the header 2", `{"a":4,"b":5}`}},
		{"a bare quote is an error", false,
			"a\"b,c\nok",
			[]string{`error: field 1: a quote inside an unquoted field (at byte 2); quote the whole field and write the quote as ""`, `["ok"]`}},
		{"text after a closing quote is an error", false,
			"\"a\"b,c\nok",
			[]string{`error: field 1: text after the closing quote (at byte 4); a quote inside a quoted field is written ""`, `["ok"]`}},
		{"a quoted field open at the end is an error", false,
			"ok\n\"never closed",
			[]string{`["ok"]`, "error: a quoted field is not closed before the end of the input"}},
		{"a trailing comma is an empty last field", false,
			"a,",
			[]string{`["a",null]`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := decode(t, &Lines{Format: CSV, Header: c.header}, c.in)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

func TestLinesCSVBadHeader(t *testing.T) {
	l := &Lines{Format: CSV, Header: true}
	_, _, err := l.Line(nil, []byte("a,b,a"))
	if !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), `the column "a" appears twice`) {
		t.Fatalf("got %v", err)
	}
	l = &Lines{Format: CSV, Header: true}
	if _, _, err = l.Line(nil, []byte(`a,"b`+"\"x")); !errors.Is(err, ErrHeader) {
		t.Fatalf("got %v", err)
	}
}

func TestLinesResetReadsAHeaderAgain(t *testing.T) {
	l := &Lines{Format: CSV, Header: true}
	first := decode(t, l, "a\n1")
	l.Reset()
	second := decode(t, l, "b\n2")
	if strings.Join(first, ",") != `{"a":1}` || strings.Join(second, ",") != `{"b":2}` {
		t.Fatalf("got %v then %v", first, second)
	}
}

func TestLinesJSONAndText(t *testing.T) {
	got := decode(t, &Lines{Format: JSON}, `{"a": [1, 2.5]}`+"\n\n  \n[1,\n\"x\"")
	want := []string{`{"a":[1,2.5]}`, "error: not JSON: invalid JSON at byte 3: unexpected end of input", `"x"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	got = decode(t, &Lines{Format: Text}, "a\n\nb")
	if strings.Join(got, ",") != `"a","","b"` {
		t.Fatalf("text: got %v", got)
	}
}

func TestParseLines(t *testing.T) {
	for in, want := range map[string]Format{"": Text, "lines": Text, "text": Text, "json": JSON, "csv": CSV} {
		if f, err := ParseLines(in); err != nil || f != want {
			t.Errorf("%q: got %v %v", in, f, err)
		}
	}
	if _, err := ParseLines("xml"); err == nil || err.Error() != "format=xml: use lines, json or csv" {
		t.Errorf("xml: %v", err)
	}
	if _, err := Parse("csv"); err == nil {
		t.Error("Parse (message formats) took csv")
	}
}
