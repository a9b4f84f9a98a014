package textio

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/wstream/wstream/host"

	"github.com/wstream/wstream/host/internal/hosttest"
)

// readAll reads a bounded source to io.EOF, returning each unit.
func readAll(t *testing.T, s host.Source) []host.Unit {
	t.Helper()
	var units []host.Unit
	for {
		u, err := s.Next(hosttest.Ctx(t))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", s.URI(), err)
		}
		units = append(units, u)
	}
	// EOF is sticky.
	if _, err := s.Next(hosttest.Ctx(t)); err != io.EOF {
		t.Fatalf("%s: second end: %v, want io.EOF", s.URI(), err)
	}
	return units
}

func openSource(t *testing.T, uri string, pos []byte, opts ...host.Option) host.Source {
	t.Helper()
	s, err := host.OpenSource(uri, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(hosttest.Ctx(t), pos); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func unitLines(t *testing.T, units []host.Unit) []string {
	t.Helper()
	var out []string
	for _, u := range units {
		if len(u.Records) != 1 || u.Whole {
			t.Fatalf("line unit %+v: want one record, not whole", u)
		}
		out = append(out, hosttest.Strs(t, u.Records)...)
	}
	return out
}

// Java readLine semantics for "\n" and "\r\n"; a lone "\r" stays; a last
// line without a newline is a line; blank lines are empty records; invalid
// UTF-8 passes through.
const linesInput = "a\r\nb\n\nx\ry\n\xff\xfe\nlast"

var linesWant = []string{"a", "b", "", "x\ry", "\xff\xfe", "last"}

func TestFileSourceLines(t *testing.T) {
	p := hosttest.WriteFile(t, t.TempDir(), "in.txt", linesInput)
	units := readAll(t, openSource(t, "file:"+p, nil))
	if got := unitLines(t, units); !reflect.DeepEqual(got, linesWant) {
		t.Fatalf("lines %q, want %q", got, linesWant)
	}
	if got := string(units[0].Pos); got != `{"offset":3,"line":1}` {
		t.Errorf("first pos %s", got)
	}
	if got := string(units[len(units)-1].Pos); got != `{"offset":17,"line":6}` {
		t.Errorf("last pos %s", got)
	}
}

func TestStdinSource(t *testing.T) {
	s := openSource(t, "stdin", nil, host.WithStdin(strings.NewReader(linesInput)))
	units := readAll(t, s)
	if got := unitLines(t, units); !reflect.DeepEqual(got, linesWant) {
		t.Fatalf("lines %q, want %q", got, linesWant)
	}
	for _, u := range units {
		if u.Pos != nil {
			t.Fatalf("stdin unit has a position %q", u.Pos)
		}
	}
	if err := s.Open(hosttest.Ctx(t), nil); err == nil {
		t.Error("second Open succeeded")
	}
}

// A read blocked on stdin (here a pipe nobody writes) still ends with ctx.
func TestStdinSourceCancel(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	s := openSource(t, "stdin", nil, host.WithStdin(r))
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	done := make(chan error)
	go func() {
		_, err := s.Next(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
}

func TestFileSourceResume(t *testing.T) {
	p := hosttest.WriteFile(t, t.TempDir(), "in.txt", "one\r\ntwo\nthree\nfour-is-long\n")
	s := openSource(t, "file:"+p, nil, host.WithMaxLine(6))
	var pos []byte
	for range 2 {
		u, err := s.Next(hosttest.Ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pos = u.Pos
	}
	s.Close()

	r := openSource(t, "file:"+p, pos, host.WithMaxLine(6))
	u, err := r.Next(hosttest.Ctx(t))
	if err != nil || hosttest.Strs(t, u.Records)[0] != "three" {
		t.Fatalf("after resume: %v %v", u, err)
	}
	// Line numbers keep counting after a resume.
	_, err = r.Next(hosttest.Ctx(t))
	want := "file:" + p + " line 4: line too long (the cap is 6 bytes; raise it with ?maxLine=SIZE"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("oversized line: %v\nwant %s", err, want)
	}

	bad := openSourceErr(t, "file:"+p, []byte(`{"offset":1000,"line":9}`))
	if bad == nil || !strings.Contains(bad.Error(), "cannot resume at byte 1000") {
		t.Fatalf("resume past the end: %v", bad)
	}
}

func openSourceErr(t *testing.T, uri string, pos []byte) error {
	s, err := host.OpenSource(uri)
	if err != nil {
		return err
	}
	err = s.Open(hosttest.Ctx(t), pos)
	if err == nil {
		s.Close()
	}
	return err
}

// Long lines cross the 64 KiB read buffer; the cap counts content only.
func TestLineCap(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	p := hosttest.WriteFile(t, t.TempDir(), "in.txt", long+"\r\n"+long+"y\n")
	s := openSource(t, "file:"+p, nil, host.WithMaxLine(100_000))
	u, err := s.Next(hosttest.Ctx(t))
	if err != nil || hosttest.Strs(t, u.Records)[0] != long {
		t.Fatalf("line at the cap: %v", err)
	}
	_, err = s.Next(hosttest.Ctx(t))
	if err == nil || !strings.Contains(err.Error(), "line 2: line too long (the cap is 100000 bytes; ") {
		t.Fatalf("line over the cap: %v", err)
	}

	// The default cap is 1 MiB, for stdin too.
	s = openSource(t, "stdin", nil, host.WithStdin(strings.NewReader(strings.Repeat("z", 1<<20+1))))
	if _, err := s.Next(hosttest.Ctx(t)); err == nil || !strings.HasPrefix(err.Error(), "stdin line 1: line too long (the cap is 1048576 bytes; ") {
		t.Fatalf("stdin over the default cap: %v", err)
	}
}

func TestBatchesSource(t *testing.T) {
	p := hosttest.WriteFile(t, t.TempDir(), "in.jsonl", "[1, \"a\", [\"k\", 2.5]]\nnull\r\n[]\n  [{\"x\": null}]  \n")
	units := readAll(t, openSource(t, "batches:"+p, nil))
	want := [][]string{{"1", `"a"`, `["k",2.5]`}, {}, {}, {`{"x":null}`}}
	if len(units) != len(want) {
		t.Fatalf("%d units, want %d", len(units), len(want))
	}
	for i, u := range units {
		if !u.Whole {
			t.Errorf("unit %d not whole", i)
		}
		if got := hosttest.Texts(t, u.Records); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("unit %d: %q, want %q", i, got, want[i])
		}
		if got, want := string(u.Pos), string(rune('1'+i)); got != want {
			t.Errorf("unit %d pos %q, want %q", i, got, want)
		}
	}

	units = readAll(t, openSource(t, "batches:"+p, []byte("3")))
	if len(units) != 1 || hosttest.Texts(t, units[0].Records)[0] != `{"x":null}` {
		t.Fatalf("resume after line 3: %+v", units)
	}
	if err := openSourceErr(t, "batches:"+p, []byte("9")); err == nil ||
		!strings.Contains(err.Error(), "cannot resume after line 9: the file has only 4 lines") {
		t.Fatalf("resume past the end: %v", err)
	}
}

func TestBatchesSourceErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ input, want string }{
		{"[1]\nnull\n[1, }\n", `line 3: invalid JSON at byte 4: unexpected '}'; each line must be a JSON array or null`},
		{"{\"a\": 1}\n", `line 1: got a JSON object; each line must be a JSON array or null`},
		{"7\n", `line 1: got a JSON number; each line must be a JSON array or null`},
		{"[1]\n\n[2]\n", `line 2: the line is empty; write null for an interval with no data (each line must be a JSON array or null)`},
	} {
		p := hosttest.WriteFile(t, dir, "in.jsonl", c.input)
		s := openSource(t, "batches:"+p, nil)
		var err error
		for err == nil {
			_, err = s.Next(hosttest.Ctx(t))
		}
		if want := "batches:" + p + " " + c.want; err.Error() != want {
			t.Errorf("input %q:\n got %v\nwant %s", c.input, err, want)
		}
	}
}

func TestOpenSourceErrors(t *testing.T) {
	for uri, want := range map[string]string{
		"ftp://x":       `unknown source "ftp://x": use batches:PATH, dir:PATH, file:PATH, socket://HOST:PORT, stdin`,
		"socket://7777": "source socket://7777: want socket://HOST:PORT, for example socket://127.0.0.1:7777",
		"file:":         "file:: missing path (write file:PATH)",
	} {
		if _, err := host.OpenSource(uri); err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", uri, err, want)
		}
	}
	if _, err := host.OpenSource("stdin", host.WithMaxLine(0)); err == nil {
		t.Error("a 0-byte line cap was accepted")
	}
	err := openSourceErr(t, "file:/nonexistent/x.txt", nil)
	if err == nil || err.Error() != "file:/nonexistent/x.txt: open /nonexistent/x.txt: no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
	// file:// URLs are accepted.
	p := hosttest.WriteFile(t, t.TempDir(), "in.txt", "hi\n")
	if got := unitLines(t, readAll(t, openSource(t, "file://"+p, nil))); !reflect.DeepEqual(got, []string{"hi"}) {
		t.Errorf("file://: %q", got)
	}
}

// file: and batches: sources say how far they have read, for a progress
// line: all of the file once drained.
func TestBoundedSourcesReportProgress(t *testing.T) {
	dir := t.TempDir()
	for _, uri := range []string{
		"file:" + hosttest.WriteFile(t, dir, "a.txt", "one\ntwo\nthree\n"),
		"batches:" + hosttest.WriteFile(t, dir, "b.jsonl", "[1]\nnull\n[2, 3]\n"),
	} {
		src := hosttest.MustSource(t, uri)
		ps, ok := src.(host.ProgressSource)
		if !ok {
			t.Fatalf("%s is not a host.ProgressSource", uri)
		}
		if err := src.Open(hosttest.Ctx(t), nil); err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := src.Next(hosttest.Ctx(t)); err != nil {
				break
			}
		}
		size := int64(len("one\ntwo\nthree\n"))
		if strings.HasPrefix(uri, "batches:") {
			size = int64(len("[1]\nnull\n[2, 3]\n"))
		}
		if done, total := ps.ReadProgress(); total != size || done != total {
			t.Errorf("%s: progress %d of %d, want %d of %d", uri, done, total, size, size)
		}
		src.Close()
	}
}
