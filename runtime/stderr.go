package runtime

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// WriteStderr writes s to w (a Config.Stderr) under the same lock Plugin
// holds when it flushes guest stderr. Adapters use it for host-function log
// lines, so that lines from every plugin never interleave, nor race on a
// writer that is not goroutine-safe (a bytes.Buffer in tests). Guest text
// in s is made inert first (Inert).
func WriteStderr(w io.Writer, s string) {
	s = Inert(s)
	stderrMu.Lock()
	defer stderrMu.Unlock()
	io.WriteString(w, s)
}

// Inert makes text a guest wrote safe to show on a terminal: control
// characters other than newline and tab (an escape sequence could clear the
// screen, move the cursor over earlier lines or worse) and invalid UTF-8
// become visible \xNN escapes.
func Inert(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r < 0xa0 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\n' && r != '\t', r == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r >= 0x80 && r < 0xa0: // C1 controls, two bytes in UTF-8
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// MaxLogLine caps one wstream_v1.log message, so that a guest cannot make
// the host copy or print megabytes per call.
const MaxLogLine = 4 << 10

var logLevels = [...]string{"debug", "info", "warn", "error"}

// LogLine formats the guest log call log(level, ptr, n) of plugin, reading
// the message through read, which must refuse ranges outside guest memory:
// a bad pointer becomes a note in the log, never a host panic. Both
// adapters' wstream_v1.log functions are this plus their memory access.
func LogLine(plugin string, level, ptr, n uint32, read func(ptr, n uint32) ([]byte, bool)) string {
	name := fmt.Sprintf("level %d", level)
	if int(level) < len(logLevels) {
		name = logLevels[level]
	}
	var msg string
	size, cut := n, false
	if size > MaxLogLine {
		size, cut = MaxLogLine, true
	}
	if b, ok := read(ptr, size); ok {
		msg = strings.ToValidUTF8(string(b), "\ufffd")                       // a cut may split a rune
		msg = strings.ReplaceAll(strings.TrimRight(msg, "\n"), "\n", "\n  ") // keep one entry recognisable
		if cut {
			msg += fmt.Sprintf("… (%d more bytes)", n-size)
		}
	} else {
		msg = fmt.Sprintf("(log message out of bounds: ptr=%#x len=%d)", ptr, n)
	}
	return fmt.Sprintf("[%s] %s: %s\n", plugin, name, msg)
}

// Capped keeps the first bytes written to it, up to a limit, and counts
// the rest: guest stdout and stderr go there, so that a chatty guest cannot
// grow the host. It is safe for concurrent use.
type Capped struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	limit   int
	dropped int
}

// NewCapped keeps up to limit bytes.
func NewCapped(limit int) *Capped { return &Capped{limit: limit} }

func (c *Capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	keep := min(len(p), c.limit-c.buf.Len())
	if keep > 0 {
		c.buf.Write(p[:keep])
	}
	c.dropped += len(p) - max(keep, 0)
	return len(p), nil
}

// Drain returns what was kept, marking truncation (Truncated), and
// empties c.
func (c *Capped) Drain() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Truncated(c.buf.String(), c.dropped)
	c.buf.Reset()
	c.dropped = 0
	return s
}

// Truncated is captured guest output kept under its cap, with a note of how
// many bytes past the cap were dropped, so that a cut is never silent.
func Truncated(kept string, dropped int) string {
	if dropped == 0 {
		return kept
	}
	if kept != "" && !strings.HasSuffix(kept, "\n") {
		kept += "\n"
	}
	return kept + fmt.Sprintf("[stderr truncated: %d more bytes dropped]\n", dropped)
}

// LogBudget caps the bytes of wstream_v1.log lines one guest call may
// write, as the capped stderr caps its output: each message is capped at
// MaxLogLine, but a guest logging in a loop would otherwise write as fast
// as the host can print. An adapter keeps one per instance, resets it at
// each call into the guest and writes Dropped's note when the call ends.
type LogBudget struct {
	limit, used    int
	lines, dropped int
}

// Reset starts a call with limit bytes to spend.
func (b *LogBudget) Reset(limit int) { *b = LogBudget{limit: limit} }

// Take reports whether a line of n bytes may be written, counting it.
func (b *LogBudget) Take(n int) bool {
	if b.used+n > b.limit {
		b.lines++
		b.dropped += n
		return false
	}
	b.used += n
	return true
}

// Dropped is the note for what Take refused since Reset, or "".
func (b *LogBudget) Dropped(plugin string) string {
	if b.lines == 0 {
		return ""
	}
	return fmt.Sprintf("[%s] warn: %d more log lines (%d bytes) of this call dropped, over the limit of %d bytes per call\n",
		plugin, b.lines, b.dropped, b.limit)
}
