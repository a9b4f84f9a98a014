package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// burstFile writes lines of 10 bytes (two words each).
func burstFile(t *testing.T, lines int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "burst.txt")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := []byte("word last\n")
	for i := 0; i < lines; i++ {
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// runBurst runs word count on a file: source with 10ms batches, stops it
// with SIGTERM once three batches are out, and returns its peak RSS in
// MiB and its stderr. A file is available all at once, so a reader that
// did not wait for the batches would hold all of it within those batches.
func runBurst(t *testing.T, bin, input string, args ...string) (float64, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", "--plugin", wordcountPlugin(t), "--source", "file:" + input, "--batch", "10ms"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for n := 0; n < 3 && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "Time: ") {
			n++
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	go io.Copy(io.Discard, stdout)
	if code, _ := waitExit(t, cmd, 2*time.Minute); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return float64(ru.Maxrss) / 1024, stderr.String() // Linux: KiB
}

// TestBurstKeepsMemoryBounded: a file is there all at once, far more than
// the pipeline processes, so a reader that did not wait for the batches
// would hold all of it. Reads wait instead (a batch takes at most what the
// receive buffer holds: host.DefaultBuffer lines, host.DefaultBufferBytes),
// so the peak RSS of a run over 100 MB is that of a run over 10 MB, both
// stopped after three full batches. With --backpressure the late batches
// also slow the reader down, and a log line says so.
func TestBurstKeepsMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB burst: skipped in -short mode")
	}
	bin := buildBinary(t)
	small, big := burstFile(t, 1_000_000), burstFile(t, 10_000_000)
	base, _ := runBurst(t, bin, small)
	peak, _ := runBurst(t, bin, big)
	bpPeak, stderr := runBurst(t, bin, big, "--backpressure")
	t.Logf("peak RSS: %.0f MiB on 10 MB of input; %.0f MiB on 100 MB; %.0f MiB on 100 MB with --backpressure", base, peak, bpPeak)
	t.Logf("--backpressure stderr: %s", strings.TrimSpace(stderr))
	for _, p := range []float64{peak, bpPeak} {
		if p > base+64 {
			t.Errorf("peak RSS %.0f MiB with 100 MB of input, %.0f MiB with 10 MB: memory grows with the input", p, base)
		}
	}
	if !strings.Contains(stderr, "backpressure: batch ") || !strings.Contains(stderr, "is slowed to") {
		t.Errorf("no backpressure log line, although batches of 131k words cannot keep up with a 10ms interval:\n%s", stderr)
	}
}
