package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wstream/wstream/operators/job/monitor"
)

// On a terminal, a bounded run shows how far its source has read, redrawn
// in place and cleared before the summary; on anything else it shows
// nothing. script(1) gives the run a real pseudo-terminal.
func TestProgressLineOnATerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("the progress test needs script(1) from util-linux (Debian's bsdutils)")
	}
	dir := t.TempDir()
	var lines strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&lines, "line %d of the input\n", i)
	}
	input := writeFile(t, dir, "in.txt", lines.String())
	// maxRate stretches the run over about three seconds, so that the line
	// is drawn a few times whatever the machine's speed.
	args := []string{"run", "--plugin", wordcountPlugin(t), "--source", "file:" + input, "--batch", "100ms",
		"--max-rate", "1000", "--sink", "jsonl:" + filepath.Join(dir, "out.jsonl")}
	cmdline := buildBinary(t)
	for _, a := range args {
		cmdline += " '" + a + "'"
	}
	out, err := exec.Command(script, "-qfec", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := string(out)
	if !strings.Contains(got, "\r\x1b[Kinput: ") || !strings.Contains(got, "of 66.3 KiB (") || !strings.Contains(got, "records") {
		t.Fatalf("no progress line on the terminal:\n%q", got)
	}
	// The line is cleared before the summary, which starts a clean line.
	end := got[strings.LastIndex(got, "input: "):]
	if !strings.Contains(end, "\r\x1b[Kwstream: run finished in ") {
		t.Errorf("the progress line is not cleared before the summary:\n%q", end)
	}

	// Not a terminal: no progress, no escape sequences.
	code, _, stderr := wstreamCLI(t, "", args...)
	if code != 0 || strings.Contains(stderr, "\x1b") || strings.Contains(stderr, "input: ") || !strings.Contains(stderr, "run finished in") {
		t.Errorf("exit %d, stderr without a terminal:\n%q", code, stderr)
	}
}

// The progress line's text: done of total, records, rate and time left.
func TestProgressText(t *testing.T) {
	ps := []monitor.SourceProgress{
		{Name: "a", Done: 3 << 20, Total: 12 << 20, Records: 1234},
		{Name: "b", Done: 2048, Records: 7},
	}
	got := progressText(ps, map[string]float64{"a": 1 << 20})
	want := "a: 3.0 MiB of 12.0 MiB (25%), 1234 records, 1.0 MiB/s, ETA 9s · b: 2.0 KiB read, 7 records"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}
