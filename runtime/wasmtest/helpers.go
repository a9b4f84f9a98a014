package wasmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

var goGuest struct {
	once sync.Once
	wasm []byte
	err  error
}

// GoGuest is testdata/guest built for wasip1 (once per test binary): a Go
// guest with a well-behaved map function "double" and one function per
// hostile behaviour (loop, bomb, badptr, garbage, panic, ...).
func GoGuest(tb testing.TB) []byte {
	tb.Helper()
	goGuest.once.Do(func() {
		_, file, _, _ := goruntime.Caller(0)
		goGuest.wasm, goGuest.err = BuildGo(filepath.Join(filepath.Dir(file), "testdata", "guest"))
	})
	if goGuest.err != nil {
		tb.Fatal(goGuest.err)
	}
	return goGuest.wasm
}

// BuildGo builds the Go package in dir for wasip1 as a reactor, as `make
// plugins` builds Go plugins, and returns the module.
func BuildGo(dir string) ([]byte, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(goruntime.GOROOT(), "bin", "go")
	}
	tmp, err := os.MkdirTemp("", "wstream-guest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "guest.wasm")
	cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", dir, err, msg)
	}
	return os.ReadFile(out)
}

// SyncBuffer is a goroutine-safe bytes.Buffer for Config.Stderr.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Batch encodes a JSON array as a call input and returns it with its length.
func Batch(tb testing.TB, jsonArray string) ([]byte, int) {
	tb.Helper()
	b, err := abi.FromJSON(nil, []byte(jsonArray))
	if err != nil {
		tb.Fatal(err)
	}
	n, _, err := abi.ArrayHeader(b)
	if err != nil {
		tb.Fatal(err)
	}
	return b, n
}

// CallJSON calls the plugin's function fn on a JSON array, logging the
// error (go test -v shows what users would read).
func CallJSON(tb testing.TB, p *runtime.Plugin, fn, jsonArray string) (abi.Response, error) {
	tb.Helper()
	f, err := p.Func(fn)
	if err != nil {
		tb.Fatal(err)
	}
	in, n := Batch(tb, jsonArray)
	r, err := f.Call(context.Background(), in, n)
	if err != nil {
		tb.Logf("Call: %v", err)
	}
	return r, err
}

// Results renders a response's results as JSON, nil results as null.
func Results(tb testing.TB, r abi.Response) string {
	tb.Helper()
	out := []byte{'['}
	for i, v := range r.Results {
		if i > 0 {
			out = append(out, ',')
		}
		if v == nil {
			out = append(out, "null"...)
			continue
		}
		var err error
		if out, err = abi.AppendJSON(out, v); err != nil {
			tb.Fatal(err)
		}
	}
	return string(append(out, ']'))
}
