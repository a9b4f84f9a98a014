package textio

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/pipeline"
)

// jsonRecords renders a unit list's records as JSON, one per record.
func jsonRecords(t *testing.T, units []host.Unit) []string {
	t.Helper()
	var out []string
	for _, u := range units {
		for _, r := range u.Records {
			js, err := abi.AppendJSON(nil, r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(js))
		}
	}
	return out
}

// Every line source reads ?format=json and ?format=csv the same way.
func TestTextSourceFormats(t *testing.T) {
	dir := t.TempDir()
	jsonText := "{\"sensor\": \"s1\", \"temp\": 20.5}\n\n[1, \"x\"]\n"
	csvText := "sensor,temp\r\ns1,20.5\r\n\"s,2\",19\r\n"
	wantJSON := `{"sensor":"s1","temp":20.5} [1,"x"]`
	wantCSV := `{"sensor":"s1","temp":20.5} {"sensor":"s,2","temp":19}`
	for _, c := range []struct {
		format, text, want string
	}{
		{"json", jsonText, wantJSON},
		{"csv", csvText, wantCSV},
		{"csv&header=false", csvText, `["sensor","temp"] ["s1",20.5] ["s,2",19]`},
		{"lines", "a\n\nb\n", `"a" "" "b"`},
	} {
		in := hosttest.WriteFile(t, dir, "in."+c.format, c.text)
		got := strings.Join(jsonRecords(t, readAll(t, openSource(t, "file:"+in+"?format="+c.format, nil))), " ")
		if got != c.want {
			t.Errorf("file: %s: got %s, want %s", c.format, got, c.want)
		}
		s := openSource(t, "stdin?format="+c.format, nil, host.WithStdin(strings.NewReader(c.text)))
		if got := strings.Join(jsonRecords(t, readAll(t, s)), " "); got != c.want {
			t.Errorf("stdin: %s: got %s, want %s", c.format, got, c.want)
		}
	}

	// dir: each file has its own header.
	watch := filepath.Join(dir, "watch")
	os.Mkdir(watch, 0o755)
	s := openSource(t, "dir:"+watch+"?format=csv", nil, host.WithPollInterval(time.Millisecond))
	putFile(t, watch, "a.csv", "x,y\n1,2\n")
	putFile(t, watch, "b.csv", "y,x\n3,4\n")
	var got []string
	for len(got) < 2 {
		u, err := s.Next(hosttest.Ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, jsonRecords(t, []host.Unit{u})...)
	}
	if strings.Join(got, " ") != `{"x":1,"y":2} {"y":3,"x":4}` {
		t.Errorf("dir: got %v", got)
	}

	// socket: each connection has its own header.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock := openSource(t, "socket://"+ln.Addr().String()+"?format=csv", nil)
	sock.(*socketSource).minBackoff = time.Millisecond
	for i, text := range []string{"a,b\n1,2\n", "b,a\n3,4\n"} {
		next := make(chan host.Unit, 1)
		go func() { // the second Next reconnects, so it runs before the Accept
			u, err := sock.Next(hosttest.Ctx(t))
			if err != nil {
				t.Error(err)
			}
			next <- u
		}()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(text))
		u := <-next
		want := []string{`{"a":1,"b":2}`, `{"b":3,"a":4}`}[i]
		if got := jsonRecords(t, []host.Unit{u}); len(got) != 1 || got[0] != want {
			t.Errorf("socket connection %d: got %v, want %s", i+1, got, want)
		}
		c.Close()
	}
}

// A file: source resuming inside a CSV file reads the file's header again.
func TestTextSourceCSVResume(t *testing.T) {
	p := hosttest.WriteFile(t, t.TempDir(), "in.csv", "k,v\na,1\nb,2\nc,3\n")
	s := openSource(t, "file:"+p+"?format=csv", nil)
	u, err := s.Next(hosttest.Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := openSource(t, "file:"+p+"?format=csv", u.Pos)
	if got := strings.Join(jsonRecords(t, readAll(t, r)), " "); got != `{"k":"b","v":2} {"k":"c","v":3}` {
		t.Fatalf("after resume: %s", got)
	}
}

// runText runs a source through host.Run with the manual clock, a jsonl:
// sink and a deadLetter: sink, and returns both files and the log.
func runText(t *testing.T, uri string, opts ...host.Option) (out, dead, log string, err error) {
	t.Helper()
	dir := t.TempDir()
	var logBuf hosttest.SyncBuffer
	opts = append(opts, host.WithLog(hosttest.Logger(&logBuf)), host.WithDeadLetter(true))
	src, err := host.OpenSource(uri, opts...)
	if err != nil {
		return "", "", "", err
	}
	sink, _ := host.OpenSink("jsonl:" + filepath.Join(dir, "out.jsonl"))
	dl, _ := host.OpenSink("jsonl:" + filepath.Join(dir, "dead.jsonl"))
	err = host.Run(hosttest.Ctx(t), host.RunConfig{Sources: map[string]host.Source{"input": src}, Sink: sink,
		SideSinks: map[string]host.Sink{"deadLetter": dl}, Processor: hosttest.Pass{}, Interval: time.Second,
		Clock: pipeline.ClockManual, Log: hosttest.Logger(&logBuf)})
	o, _ := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	d, _ := os.ReadFile(filepath.Join(dir, "dead.jsonl"))
	return string(o), string(d), logBuf.String(), err
}

// Input that makes no record follows the source's onError: fail (the
// default) stops naming the line and the setting; skip drops it with a log
// line; deadletter writes it, with the source and the reason, in the batch
// that consumed it. An over-long line is read to its end and kept as its
// first bytes and its length.
func TestTextSourceOnError(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 5000)
	in := hosttest.WriteFile(t, dir, "in.jsonl", "1\n{bad\n"+long+"\n2\n")
	uri := "file:" + in + "?format=json&maxLine=4KiB"

	_, _, _, err := runText(t, uri)
	want := "file:" + in + "?format=json&maxLine=4KiB line 2: not JSON: invalid JSON at byte 1: "
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "set ?onError=skip or ?onError=deadletter on the source") {
		t.Fatalf("fail: %v\nwant it to contain %q", err, want)
	}

	out, dead, log, err := runText(t, uri+"&onError=skip")
	if err != nil {
		t.Fatal(err)
	}
	wantOut := "{\"time\":1000,\"records\":[1]}\n{\"time\":2000,\"records\":[]}\n{\"time\":3000,\"records\":[]}\n{\"time\":4000,\"records\":[2]}\n"
	if out != wantOut || dead != "" {
		t.Fatalf("skip: out %q dead %q", out, dead)
	}
	for _, w := range []string{`source "input": batch 2000 ms: skipped ` + "file:" + in, `line 3: line too long (5000 bytes; the cap is 4096 bytes`} {
		if !strings.Contains(log, w) {
			t.Errorf("skip: log %q lacks %q", log, w)
		}
	}

	out, dead, _, err = runText(t, uri+"&onError=deadletter")
	if err != nil || out != wantOut {
		t.Fatalf("deadletter: %v, out %q", err, out)
	}
	lines := strings.Split(strings.TrimSpace(dead), "\n")
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], `{"time":2000,"records":[{"time":2000,"source":"input","error":"file:`+in) ||
		!strings.HasSuffix(lines[0], `line 2: not JSON: invalid JSON at byte 1: want a string key in object","record":"{bad"}]}`) ||
		!strings.HasPrefix(lines[1], `{"time":3000,"records":[{"time":3000,"source":"input","error":"file:`+in) ||
		!strings.HasSuffix(lines[1], `"record":"`+long[:4096]+`","length":5000}]}`) {
		t.Fatalf("dead letters:\n%s", dead)
	}

	// deadletter needs the pipeline's deadLetter: sink.
	if _, err := host.OpenSource(uri + "&onError=deadletter"); err == nil || !strings.Contains(err.Error(), "onError=deadletter needs a dead-letter sink: add deadLetter: jsonl:PATH") {
		t.Fatalf("deadletter without a sink: %v", err)
	}
}

// A 24/7 socket job survives an oversized line under onError=skip: the
// line is read to its end (never held whole) and the lines after it go on.
func TestSocketSurvivesAnOversizedLine(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var log hosttest.SyncBuffer
	src := hosttest.MustSource(t, "socket://"+ln.Addr().String()+"?maxLine=1KiB&onError=skip", host.WithLog(hosttest.Logger(&log)))
	sink := hosttest.NewTestSink()
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	defer cancel()
	done := hosttest.RunAsync(ctx, host.RunConfig{Sources: map[string]host.Source{"in": src}, Sink: sink, Processor: hosttest.Pass{},
		Interval: 10 * time.Millisecond, Log: hosttest.Logger(&log)})
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		c.Write([]byte("before\n"))
		big := []byte(strings.Repeat("y", 64<<10))
		for range 64 { // 4 MiB in one line, written in pieces
			c.Write(big)
		}
		c.Write([]byte("\nafter\n"))
	}()
	var got []string
	for !strings.Contains(strings.Join(got, ""), `"after"`) {
		select {
		case b := <-sink.Got():
			got = append(got, b)
		case <-time.After(10 * time.Second):
			t.Fatalf("no \"after\"; got %v; log %s", got, log.String())
		}
	}
	cancel()
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(got, ""), `"before"`) || !strings.Contains(log.String(), "line 2: line too long (4194304 bytes; the cap is 1024 bytes") {
		t.Fatalf("got %v; log %s", got, log.String())
	}
}

func TestTextSourceParamErrors(t *testing.T) {
	for uri, want := range map[string]string{
		"file:x?format=xml":             `file:x?format=xml: format="xml": want lines, json or csv`,
		"file:x?header=false":           `file:x?header=false: header= applies to format=csv only`,
		"file:x?format=csv&header=yes":  `header="yes": want true or false`,
		"stdin?maxLine=0":               `maxLine="0": want a size such as 4MiB`,
		"socket://h:1?maxLine=4MB":      `maxLine="4MB": want a size such as 4MiB`,
		"dir:x?onError=ignore":          `onError="ignore": want fail, skip or deadletter`,
		"file:x?frobnicate=1":           `unknown parameter "frobnicate" (known: format, header, maxLine, onError)`,
		"stdinx":                        `unknown source "stdinx"`,
		"file:x?format=json&format=csv": `parameter format is given 2 times`,
	} {
		_, err := host.OpenSource(uri)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", uri, err, want)
		}
	}
	s, err := host.OpenSource("file:x?maxLine=4MiB")
	if err != nil || s.(*fileSource).opt.max != 4<<20 || s.(*fileSource).path != "x" {
		t.Fatalf("maxLine=4MiB: %v", err)
	}
}
