package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime/wasmtest"
)

// waitExit waits for cmd, killing it after limit.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v later", limit)
	}
	return cmd.ProcessState.ExitCode(), time.Since(start)
}

// TestSIGTERMFinishesAndResumes: SIGTERM in the middle of a stateful run
// finishes the batch in flight, flushes, checkpoints and exits 0; a
// restart then ends with output byte for byte that of an uninterrupted run.
func TestSIGTERMFinishesAndResumes(t *testing.T) {
	bin := buildBinary(t)
	plugin := conformancePlugin(t)
	dir := t.TempDir()
	var in bytes.Buffer
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&in, "[\"%c %c\"]\n", 'a'+i%5, 'a'+i%7)
	}
	input := filepath.Join(dir, "in.jsonl")
	os.WriteFile(input, in.Bytes(), 0o644)
	pipeline := func(name string) (string, string) {
		out := filepath.Join(dir, name+".jsonl")
		return write(t, name+".yaml", fmt.Sprintf(`plugin: %s
clock: manual
checkpoint: %s
source: batches:%s
stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: updateStateByKey, fn: sum-into-state}
sink: jsonl:%s
`, plugin, filepath.Join(dir, name+"-ckpt"), input, out)), out
	}
	ref, refOut := pipeline("ref")
	if b, err := exec.Command(bin, "run", "--pipeline", ref).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(refOut)

	p, out := pipeline("stopped")
	cmd := exec.Command(bin, "run", "--pipeline", p)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Signal once the run is under way: its first batches are written.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(out); bytes.Count(b, []byte("\n")) >= 20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no output after 60s: %s", stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	code, took := waitExit(t, cmd, 60*time.Second)
	if code != 0 {
		t.Fatalf("exit %d after SIGTERM: %s", code, stderr.String())
	}
	noStackTrace(t, stderr.String())
	partial, _ := os.ReadFile(out)
	lines := bytes.Count(partial, []byte("\n"))
	t.Logf("SIGTERM: exit 0 %v later, after %d of 1500 batches", took.Round(time.Millisecond), lines)
	if lines >= 1500 {
		t.Fatal("the run finished before the signal: nothing was tested")
	}
	if !bytes.HasPrefix(want, partial) {
		t.Fatal("the output up to the signal differs from the uninterrupted run's")
	}

	restart := exec.Command(bin, "run", "--pipeline", p)
	if b, err := restart.CombinedOutput(); err != nil || !strings.Contains(string(b), "resuming from checkpoint") {
		t.Fatalf("restart: %v\n%s", err, b)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Fatalf("after SIGTERM and a restart the output differs from an uninterrupted run (%d bytes, want %d)", len(got), len(want))
	}
}

// hangingGuest returns [nil] for a batch of one record and, for a larger
// batch, logs "looping" and never returns: a batch in flight that a first
// signal would wait for.
func hangingGuest() []byte {
	resp := []byte{0x93, 0x00, 0x91, 0xc0, 0x90} // [0, [nil], []]
	g := wasmtest.Guest{Response: append(resp, "looping"...), Imports: []wasmtest.Import{
		{Module: abi.ImportModule, Name: abi.ImportLog, Params: []byte{wasmtest.I32, wasmtest.I32, wasmtest.I32}}}}
	at := g.ResponseAt()
	g.Call = bytes.Join([][]byte{
		{0x20, 0x02}, wasmtest.I32Const(2), {0x4b, 0x04, 0x40}, // if len > 2 (more than one record)
		wasmtest.I32Const(abi.LogWarn), wasmtest.I32Const(int32(at + len(resp))), wasmtest.I32Const(7), {0x10, 0x00}, // log "looping"
		wasmtest.LoopForever[:5], {0x0b}, // loop forever; end if
		wasmtest.Packed(at, len(resp)),
	}, nil)
	return g.Bytes()
}

// TestSecondSignalExitsAtOnce: while the batch in flight hangs in a guest,
// a first signal waits for it (its time limit is a minute); a second exits
// at once, non-zero. The checkpoint is still consistent: a restart resumes
// from it, and the output is cut back to what it committed.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "hang.wasm")
	os.WriteFile(plugin, hangingGuest(), 0o644)
	out := filepath.Join(dir, "out.jsonl")
	p := write(t, "p.yaml", "plugin: "+plugin+"\nclock: manual\ncheckpoint: "+filepath.Join(dir, "ckpt")+
		"\nsource: batches:"+write(t, "in.jsonl", "[1]\n[2]\n[3]\n[4, 5]\n[6]\n")+
		"\nstages: [{op: map, fn: f}]\nsink: jsonl:"+out+"\n")
	cmd := exec.Command(bin, "run", "--pipeline", p, "--call-timeout", "60s")
	pipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	sc := bufio.NewScanner(io.TeeReader(pipe, &stderr))
	for sc.Scan() && !strings.Contains(sc.Text(), "[hang.wasm] warn: looping") {
	}
	// Signals sent together arrive as one: the second goes once the first
	// is acknowledged.
	cmd.Process.Signal(syscall.SIGTERM)
	for sc.Scan() && !strings.Contains(sc.Text(), "stopping after the batch in flight") {
	}
	second := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, io.TeeReader(pipe, &stderr))
	code, _ := waitExit(t, cmd, 30*time.Second)
	t.Logf("second signal: exit %d %v later", code, time.Since(second).Round(time.Millisecond))
	if code != 130 || !strings.Contains(stderr.String(), "second signal, exiting now") {
		t.Fatalf("exit %d, stderr %q; want 130 and a note", code, stderr.String())
	}
	noStackTrace(t, stderr.String())

	restart := exec.Command(bin, "run", "--pipeline", p, "--call-timeout", "200ms")
	b, err := restart.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "resuming from checkpoint") || !strings.Contains(string(b), "3 batches done") ||
		!strings.Contains(string(b), "batch 4000 ms") || !strings.Contains(string(b), "time limit of 200ms") {
		t.Fatalf("restart: %v\n%s", err, b)
	}
	noStackTrace(t, string(b))
	if got, _ := os.ReadFile(out); string(got) != "{\"time\":1000,\"records\":[null]}\n{\"time\":2000,\"records\":[null]}\n{\"time\":3000,\"records\":[null]}\n" {
		t.Fatalf("output after the restart:\n%s", got)
	}
}

// TestTwoSignalsTogetherAreOneStop: coreutils timeout sends SIGTERM to
// the run and then to its whole process group, so two arrive together;
// they are one graceful stop (exit 0), not a stop and an abort.
func TestTwoSignalsTogetherAreOneStop(t *testing.T) {
	bin := buildBinary(t)
	plugin := wordcountPlugin(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd := exec.Command("timeout", "--preserve-status", "-s", "TERM", "1", bin, "run",
		"--plugin", plugin, "--batch", "100ms")
	cmd.Stdin = pr
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	pw.Write([]byte("a b a\n")) // the input stays open: only the signals end the run
	code, _ := waitExit(t, cmd, 60*time.Second)
	if code != 0 || !strings.Contains(stderr.String(), "stopping after the batch in flight") || strings.Contains(stderr.String(), "exiting now") {
		t.Fatalf("exit %d, stderr %q; want 0 and one graceful stop", code, stderr.String())
	}
}
