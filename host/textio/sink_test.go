package textio

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"

	"github.com/wstream/wstream/abi"
)

func pair(k string, v int64) abi.Raw {
	return abi.AppendPair(nil, hosttest.Str(k), abi.AppendInt(nil, v))
}

func openSink(t *testing.T, uri string, opts ...host.Option) host.Sink {
	t.Helper()
	s, err := host.OpenSink(uri, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(hosttest.Ctx(t), -1); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStdoutSink(t *testing.T) {
	var out bytes.Buffer
	s := openSink(t, "stdout", host.WithStdout(&out))
	var recs []abi.Raw
	for i := range 12 {
		recs = append(recs, pair(string(rune('a'+i)), int64(i)))
	}
	if err := s.Write(host.Batch{Time: 1700000001000, Records: recs}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(host.Batch{Time: 1700000002000}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(host.Batch{Time: 1700000003000, Records: recs[:2]}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := `-------------------------------------------
Time: 1700000001000 ms
-------------------------------------------
(a,0)
(b,1)
(c,2)
(d,3)
(e,4)
(f,5)
(g,6)
(h,7)
(i,8)
(j,9)
...

-------------------------------------------
Time: 1700000002000 ms
-------------------------------------------

-------------------------------------------
Time: 1700000003000 ms
-------------------------------------------
(a,0)
(b,1)

`
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// A write error names the sink (here, a closed pipe).
func TestStdoutSinkError(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	s := openSink(t, "stdout", host.WithStdout(w))
	if err := s.Write(host.Batch{Time: 1}); err == nil || !strings.HasPrefix(err.Error(), "sink stdout: ") {
		t.Fatalf("got %v", err)
	}
}

func TestJSONLSink(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(p, []byte("old content is truncated\n"), 0o666)
	s := openSink(t, "jsonl:"+p)
	wm := int64(1699999990000)
	batches := []host.Batch{
		{Time: 1000, Records: []abi.Raw{pair("a", 1), hosttest.Str("x\"y"), abi.AppendFloat(nil, 1.5)}},
		{Time: 2000},
		{Time: 3000, Watermark: &wm, NoData: true},
		{Time: 4000, Records: []abi.Raw{abi.AppendNil(nil)}, Watermark: &wm},
	}
	ps := s.(host.ProgressSink)
	var sizes []int64
	for _, b := range batches {
		if err := s.Write(b); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, ps.Progress())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"time":1000,"records":[["a",1],"x\"y",1.5]}
{"time":2000,"records":[]}
{"time":3000,"records":[],"watermark":1699999990000,"noData":true}
{"time":4000,"records":[null],"watermark":1699999990000}
`
	got, _ := os.ReadFile(p)
	if string(got) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if sizes[len(sizes)-1] != int64(len(want)) || sizes[0] != int64(strings.Index(want, "\n")+1) {
		t.Fatalf("progress %v, file %d bytes", sizes, len(want))
	}
	if err := s.Write(batches[0]); err == nil {
		t.Fatal("write after close succeeded")
	}
}

// Disk full is an error naming the sink, never swallowed.
func TestJSONLSinkDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	s := openSink(t, "jsonl:/dev/full")
	defer s.Close()
	err := s.Write(host.Batch{Time: 1000})
	if want := "sink jsonl:/dev/full: write /dev/full: no space left on device"; err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

func TestDirSink(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "sub", "words") // the folder is created
	s := openSink(t, "dir:"+prefix)
	if err := s.Write(host.Batch{Time: 1000, Records: []abi.Raw{pair("a", 1), hosttest.Str("b"), abi.AppendFloat(nil, 2)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(host.Batch{Time: 2000}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"words-1000": "(a,1)\nb\n2.0\n", "words-2000": ""} {
		got, err := os.ReadFile(filepath.Join(dir, "sub", name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 2 {
		t.Errorf("temporary files left: %v", entries)
	}

	// A failed write names the sink and leaves no temporary file.
	os.MkdirAll(prefix+"-3000/blocker", 0o777)
	err := s.Write(host.Batch{Time: 3000, Records: []abi.Raw{hosttest.Str("x")}})
	if err == nil || !strings.HasPrefix(err.Error(), "sink dir:"+prefix+": rename ") {
		t.Fatalf("got %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "sub")); len(entries) != 3 {
		t.Errorf("after a failure: %v", entries)
	}
}

func TestOpenSinkErrors(t *testing.T) {
	for uri, want := range map[string]string{
		"nowhere": `unknown sink "nowhere": use dir:PREFIX, jsonl:PATH, stdout`,
		"jsonl:":  "sink jsonl:: missing path (write jsonl:PATH)",
	} {
		if _, err := host.OpenSink(uri); err == nil || err.Error() != want {
			t.Errorf("%s: %v\nwant %s", uri, err, want)
		}
	}
	s, err := host.OpenSink("jsonl:/dev/null/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(hosttest.Ctx(t), -1); err == nil || err.Error() != "sink jsonl:/dev/null/x: mkdir /dev/null: not a directory" {
		t.Errorf("open: %v", err)
	}
}

// Naming a sink touches nothing on disk: the file or folder appears at
// Open, which a run calls only once nothing can refuse it any more; a
// sink closed without Open leaves an existing file as it was.
func TestSinksTouchNothingBeforeOpen(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "kept.jsonl")
	os.WriteFile(kept, []byte("committed output\n"), 0o666)
	for _, uri := range []string{"jsonl:" + filepath.Join(dir, "new.jsonl"), "jsonl:" + kept, "dir:" + filepath.Join(dir, "sub", "p")} {
		s, err := host.OpenSink(uri)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if got, _ := os.ReadFile(kept); len(entries) != 1 || string(got) != "committed output\n" {
		t.Errorf("after naming and closing three sinks: %v, kept.jsonl %q", entries, got)
	}
}

// Open cuts a jsonl file back to the length a checkpoint committed, and
// refuses one shorter than that.
func TestJSONLSinkResume(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(p, []byte("line one\nline two, not committed\n"), 0o666)
	s, _ := host.OpenSink("jsonl:" + p)
	if err := s.Open(hosttest.Ctx(t), 9); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(host.Batch{Time: 2000}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got, _ := os.ReadFile(p); string(got) != "line one\n{\"time\":2000,\"records\":[]}\n" {
		t.Errorf("resumed at 9: %q", got)
	}
	s, _ = host.OpenSink("jsonl:" + p)
	if err := s.Open(hosttest.Ctx(t), 1000); err == nil || !strings.Contains(err.Error(), "the checkpoint committed 1000") {
		t.Errorf("resume past the end: %v", err)
	}
}
