//go:build cgo

package wasmtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wstream/wstream/runtime"
)

// wasmtimeVersion is the wasmtime-go version in go.mod (a test checks).
// It keys the cache; Wasmtime also refuses artifacts of another version or
// engine configuration, so a stale key only costs one failed load.
const wasmtimeVersion = "v39.0.1"

// cacheMagic starts every cache file; a SHA-256 of the rest follows it.
// Wasmtime trusts the native code it deserializes, so a file that was cut
// short or damaged must be caught before it gets there.
const cacheMagic = "wstream wasmtime cache 1\n"

var errBadCache = errors.New("not a wstream cache file, or damaged")

// cacheTag is everything besides the wasm bytes that the compiled code
// depends on: versions, target and the engine settings New uses.
var cacheTag = "wasmtime-go " + wasmtimeVersion + " " + goruntime.GOOS + "/" + goruntime.GOARCH + " epoch-interruption\x00"

// load returns the compiled module for wasm, from the cache directory when
// it holds a good copy, else by compiling it (and storing the result). A
// cache that cannot be used is never an error: it only costs a compile.
func (e *engine) load(wasm []byte, dir string) (*wasmtime.Module, error) {
	dir = runtime.CacheDirFor(dir, "wasmtime")
	if dir == "" {
		return wasmtime.NewModule(e.wt, wasm)
	}
	key := sha256.Sum256(append([]byte(cacheTag), wasm...))
	path := filepath.Join(dir, hex.EncodeToString(key[:])+".cwasm")
	if m, err := e.loadCached(path); err == nil {
		return m, nil
	} else if !os.IsNotExist(err) {
		slog.Debug("wasmtime: cached module unusable, compiling", "path", path, "err", err)
	}
	m, err := wasmtime.NewModule(e.wt, wasm)
	if err != nil {
		return nil, err
	}
	if err := store(m, dir, path); err != nil {
		slog.Debug("wasmtime: cannot cache the compiled module", "dir", dir, "err", err)
	}
	return m, nil
}

func (e *engine) loadCached(path string) (*wasmtime.Module, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(b, []byte(cacheMagic)) || len(b) < len(cacheMagic)+sha256.Size {
		return nil, errBadCache
	}
	b = b[len(cacheMagic):]
	want, body := b[:sha256.Size], b[sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], want) {
		return nil, errBadCache
	}
	return wasmtime.NewModuleDeserialize(e.wt, body)
}

// store writes m's serialized code to path through a temporary file, so
// that a concurrent reader never sees half a file.
func store(m *wasmtime.Module, dir, path string) error {
	code, err := m.Serialize()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*.cwasm")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	sum := sha256.Sum256(code)
	_, err = f.WriteString(cacheMagic)
	if err == nil {
		_, err = f.Write(sum[:])
	}
	if err == nil {
		_, err = f.Write(code)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
