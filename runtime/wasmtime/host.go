//go:build cgo

package wasmtime

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wstream/wstream/runtime"
)

// logHost is wstream_v1.log. It must not panic: wasmtime-go would carry the
// panic through the guest into the host's call.
func (m *module) logHost(caller *wasmtime.Caller, args []wasmtime.Val) (_ []wasmtime.Val, _ *wasmtime.Trap) {
	defer func() { _ = recover() }()
	var mem []byte
	if ext := caller.GetExport("memory"); ext != nil {
		if mm := ext.Memory(); mm != nil {
			mem = mm.UnsafeData(caller)
		}
	}
	in, _ := caller.Data().(*instance)
	m.log(in, mem, uint32(args[0].I32()), uint32(args[1].I32()), uint32(args[2].I32()))
	return nil, nil
}

// log writes one guest log line (runtime.LogLine checks every pointer)
// within the budget of the instance's call.
func (m *module) log(in *instance, mem []byte, level, ptr, n uint32) {
	line := runtime.Inert(runtime.LogLine(m.name, level, ptr, n, func(p, k uint32) ([]byte, bool) { return readMem(mem, p, k) }))
	if in != nil && !in.logs.Take(len(line)) {
		return
	}
	runtime.WriteStderr(m.cfg.Stderr, line)
}

// readMem returns mem[ptr:ptr+n] if it is inside mem. The slice aliases
// guest memory: copy before the guest runs again.
func readMem(mem []byte, ptr, n uint32) ([]byte, bool) {
	if uint64(ptr)+uint64(n) > uint64(len(mem)) {
		return nil, false
	}
	return mem[ptr : ptr+n], true
}

// capabilities is Config.Allow, parsed and checked once per module.
type capabilities struct {
	clock bool
	env   bool
	fsDir string
}

// parseAllow accepts what the wazero adapter accepts, with its messages.
func parseAllow(allow []string) (capabilities, error) {
	var c capabilities
	for _, a := range allow {
		switch {
		case a == "clock":
			c.clock = true
		case a == "env":
			c.env = true
		case strings.HasPrefix(a, "fs:"):
			dir := strings.TrimPrefix(a, "fs:")
			if c.fsDir != "" {
				return c, fmt.Errorf("capability %q: only one fs: directory can be granted", a)
			}
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				return c, fmt.Errorf("capability %q: %s is not a directory", a, dir)
			}
			c.fsDir = dir
		default:
			return c, fmt.Errorf("unknown capability %q (want clock, env or fs:DIR)", a)
		}
	}
	return c, nil
}

// wasiConfig is one instance's WASI sandbox: no args, env, files or stdin
// unless granted, stdout and stderr into out.
func (m *module) wasiConfig(out *capped) (*wasmtime.WasiConfig, error) {
	wc := wasmtime.NewWasiConfig()
	if m.caps.env {
		wc.InheritEnv()
	}
	if m.caps.fsDir != "" {
		if err := wc.PreopenDir(m.caps.fsDir, "/", wasmtime.DIR_READ, wasmtime.FILE_READ); err != nil {
			wc.Close()
			return nil, fmt.Errorf("capability fs:%s: %w", m.caps.fsDir, err)
		}
	}
	if err := captureOutput(wc, out); err != nil {
		wc.Close()
		return nil, err
	}
	return wc, nil
}

// oomMarks are what guests print when an allocation fails: the Go runtime
// ("fatal error: out of memory") and Rust's allocator ("memory allocation
// of N bytes failed"). Wasmtime does not tell the host that a memory.grow
// was refused, so these are one of the two signs instance.fail uses.
var oomMarks = [][]byte{[]byte("out of memory"), []byte("memory allocation of ")}

// capped is the guest's stdout and stderr (runtime.Capped), watching
// everything written, kept or not, for oomMarks.
type capped struct {
	*runtime.Capped
	mu   sync.Mutex // guards tail and oom
	tail []byte     // the last bytes written, to find a mark split across writes
	oom  bool
}

func newCapped(limit int) *capped { return &capped{Capped: runtime.NewCapped(limit)} }

func (c *capped) Write(p []byte) (int, error) {
	c.Capped.Write(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.oom {
		const window = 32
		c.tail = append(c.tail, p[:min(len(p), window)]...)
		for _, mark := range oomMarks {
			if bytes.Contains(c.tail, mark) || bytes.Contains(p, mark) {
				c.oom = true
			}
		}
		if len(p) >= window {
			c.tail = append(c.tail[:0], p[len(p)-window:]...)
		} else if len(c.tail) > window {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-window:]...)
		}
	}
	return len(p), nil
}

// sawOOM reports whether an oomMark was written since the last resetOOM.
func (c *capped) sawOOM() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.oom
}

func (c *capped) resetOOM() {
	c.mu.Lock()
	c.oom = false
	c.tail = c.tail[:0]
	c.mu.Unlock()
}
