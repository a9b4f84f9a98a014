package runtime

import "io"

// WriteStderr writes s to w (a Config.Stderr) under the same lock Plugin
// holds when it flushes guest stderr. Adapters use it for host-function log
// lines, so that lines from every plugin never interleave, nor race on a
// writer that is not goroutine-safe (a bytes.Buffer in tests).
func WriteStderr(w io.Writer, s string) {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	io.WriteString(w, s)
}
