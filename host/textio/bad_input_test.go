package textio

// The bad-input catalogue (host/BAD_INPUT.md): each case the host owns,
// with its documented outcome. Plugin cases (not WebAssembly, an ABI
// mismatch, a missing function, hostile guests) are tested through the CLI
// in cmd/wstream.

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/pipeline"

	"github.com/wstream/wstream/abi"
)

// countProc passes records through and counts them, as checkpointed state.
type countProc struct {
	hosttest.Pass
	n int64
}

func (c *countProc) Process(ctx context.Context, t int64, in map[string][]abi.Raw) (host.Batch, bool, error) {
	for _, recs := range in {
		c.n += int64(len(recs))
	}
	return c.Pass.Process(ctx, t, in)
}
func (c *countProc) Shape() string              { return "count" }
func (c *countProc) Snapshot(dst []byte) []byte { return abi.AppendInt(dst, c.n) }
func (c *countProc) Restore(b []byte) (err error) {
	c.n, _, err = abi.ReadInt(b)
	return err
}

func manualRun(t *testing.T, src, sink string, opts ...host.Option) (string, error) {
	t.Helper()
	s := hosttest.MustSource(t, src, opts...)
	out, err := host.OpenSink(sink)
	if err != nil {
		t.Fatal(err)
	}
	err = host.Run(hosttest.Ctx(t), host.RunConfig{Sources: map[string]host.Source{"input": s}, Sink: out, Processor: hosttest.Pass{}, Interval: time.Second, Clock: pipeline.ClockManual})
	return strings.TrimPrefix(sink, "jsonl:"), err
}

// Invalid UTF-8 in a text line is kept byte for byte: the record is a str
// of the line's bytes; the text sinks (stdout, dir:) write the bytes back;
// jsonl: writes each invalid byte as \u00XX, so the line stays JSON.
func TestBadInputInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.txt", "ok\na\xffb\xc3\n")
	src := hosttest.MustSource(t, "file:"+in)
	if err := src.Open(hosttest.Ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	src.Next(hosttest.Ctx(t))
	u, err := src.Next(hosttest.Ctx(t))
	src.Close()
	if b, _, _ := abi.ReadStringBytes(u.Records[0]); err != nil || string(b) != "a\xffb\xc3" || abi.TypeOf(u.Records[0]) != abi.TypeString {
		t.Fatalf("record %x, %v; want a str of the line's bytes", u.Records[0], err)
	}
	out, err := manualRun(t, "file:"+in, "jsonl:"+filepath.Join(dir, "out.jsonl"))
	if got, _ := os.ReadFile(out); err != nil || !strings.Contains(string(got), `"a\u00ffb\u00c3"`) {
		t.Fatalf("jsonl: %s, %v", got, err)
	}
	if _, err := manualRun(t, "file:"+in, "dir:"+filepath.Join(dir, "part")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "part-2000")); string(got) != "a\xffb\xc3\n" {
		t.Fatalf("dir: %q", got)
	}
}

// A line over the cap (1 MiB for text, 256 MiB for a batches: line) ends
// the run with an error naming the source, the line and the cap, after the
// lines before it were processed. Nothing is read into memory past the cap.
func TestBadInputOversizedLine(t *testing.T) {
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.txt", "ok\n"+strings.Repeat("x", 1<<20+1)+"\nnever\n")
	out, err := manualRun(t, "file:"+in, "jsonl:"+filepath.Join(dir, "out.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "file:"+in+" line 2: line too long (the cap is 1048576 bytes; raise it with ?maxLine=SIZE on the source") {
		t.Fatalf("err = %v", err)
	}
	if got, _ := os.ReadFile(out); string(got) != "{\"time\":1000,\"records\":[\"ok\"]}\n" {
		t.Fatalf("output before the long line: %q", got)
	}
	// The cap is configurable; a line of exactly the cap is fine.
	if _, err := manualRun(t, "file:"+in, "jsonl:"+filepath.Join(dir, "out2.jsonl"), host.WithMaxLine(1<<20+1)); err != nil {
		t.Fatal(err)
	}
}

// Malformed JSON in a batches: line ends the run naming the line and the
// byte; JSON inside a text line is the guest's to parse, so it is a
// per-record error under the stage's onError policy (operators).
func TestBadInputMalformedJSON(t *testing.T) {
	dir := t.TempDir()
	for line, want := range map[string]string{
		`[1, `:     "line 2: invalid JSON",
		`{"a": 1}`: "line 2: got a JSON object; each line must be a JSON array or null",
		"":         "line 2: the line is empty; write null",
		`[1] [2]`:  "line 2: invalid JSON",
	} {
		in := hosttest.WriteFile(t, dir, "in.jsonl", "[0]\n"+line+"\n")
		out, err := manualRun(t, "batches:"+in, "jsonl:"+filepath.Join(dir, "out.jsonl"))
		if err == nil || !strings.Contains(err.Error(), "batches:"+in+" "+want) {
			t.Errorf("%q: err = %v, want %q", line, err, want)
		}
		if got, _ := os.ReadFile(out); string(got) != "{\"time\":1000,\"records\":[0]}\n" {
			t.Errorf("%q: output before the bad line: %q", line, got)
		}
	}
	// Invalid UTF-8 inside a JSON string is not malformed JSON here: the
	// bytes pass through, as in a text line.
	in := hosttest.WriteFile(t, dir, "in.jsonl", "[\"a\xffb\"]\n")
	out, err := manualRun(t, "batches:"+in, "jsonl:"+filepath.Join(dir, "out.jsonl"))
	if got, _ := os.ReadFile(out); err != nil || string(got) != "{\"time\":1000,\"records\":[\"a\\u00ffb\"]}\n" {
		t.Errorf("invalid UTF-8 in a JSON string: %q, %v", got, err)
	}
}

// A disk that fills up while a checkpoint is written ends the run with an
// error that says so; the previous checkpoint is intact, and a restart
// resumes from it.
func TestBadInputDiskFullMidCheckpoint(t *testing.T) {
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.jsonl", "[1]\n[2, 3]\n[4]\n")
	fs := &fullAfterFS{writes: 1} // the second commit hits a full disk
	var log hosttest.SyncBuffer
	run := func() (*countProc, error) {
		store, err := host.OpenCheckpoints(filepath.Join(dir, "ckpt"), fs)
		if err != nil {
			t.Fatal(err)
		}
		proc := &countProc{}
		err = host.Run(hosttest.Ctx(t), host.RunConfig{Sources: map[string]host.Source{"input": hosttest.MustSource(t, "batches:"+in)}, Sink: hosttest.NewTestSink(),
			Processor: proc, Interval: time.Second, Clock: pipeline.ClockManual, Checkpoint: store, Log: hosttest.Logger(&log)})
		return proc, err
	}
	_, err := run()
	if err == nil || !strings.Contains(err.Error(), "batch 2000 ms") || !strings.Contains(err.Error(), "no space left on device") ||
		!strings.Contains(err.Error(), "previous checkpoint is intact") {
		t.Fatalf("err = %v", err)
	}
	fs.writes = -1
	proc, err := run()
	if err != nil || proc.n != 4 || !strings.Contains(log.String(), "resuming from checkpoint") || !strings.Contains(log.String(), "batch 1000 ms, 1 batches done") {
		t.Fatalf("restart: %v, state %d, log %q; want 4 records counted once, resumed after batch 1", err, proc.n, log.String())
	}
}

// A socket source whose server goes away reconnects, with a log line each
// way, and the run goes on: what the server sends after it is back is
// processed. Lines in flight when it went away are lost (a socket cannot
// replay; README's delivery table).
func TestBadInputSourceDisconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var log hosttest.SyncBuffer
	uri := "socket://" + ln.Addr().String()
	src := hosttest.MustSource(t, uri, host.WithLog(hosttest.Logger(&log)))
	src.(*socketSource).minBackoff = time.Millisecond
	sink := hosttest.NewTestSink()
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	defer cancel()
	done := hosttest.RunAsync(ctx, host.RunConfig{Sources: map[string]host.Source{"in": src}, Sink: sink, Processor: hosttest.Pass{}, Interval: 10 * time.Millisecond})
	seen := func(want string) {
		t.Helper()
		for {
			select {
			case b := <-sink.Got():
				if strings.Contains(b, want) {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no batch with %s; log: %s", want, log.String())
			}
		}
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("before\n"))
	seen(`"before"`)
	c.Close() // the server goes away
	c, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("after\n"))
	seen(`"after"`)
	c.Close()
	cancel()
	if err := hosttest.Wait(t, done); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{uri + ": disconnected (the server closed the connection); reconnecting", uri + ": reconnected (attempt 1)"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log %q lacks %q", log.String(), want)
		}
	}
}

// fullAfterFS is a disk that fills up after some checkpoint writes: the
// next write gets half its bytes down, then ENOSPC.
type fullAfterFS struct {
	host.OSFS
	writes int // left before the disk is full; < 0: never full
}

func (f *fullAfterFS) WriteFileSync(path string, data []byte) error {
	if f.writes == 0 {
		os.WriteFile(path, data[:len(data)/2], 0o644)
		return syscall.ENOSPC
	}
	f.writes--
	return f.OSFS.WriteFileSync(path, data)
}
