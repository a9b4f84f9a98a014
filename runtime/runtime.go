// Package runtime defines how wstream runs guest modules, independent of the
// WebAssembly engine: Engine compiles, Module instantiates, Instance calls.
// Adapters live in sub-packages (runtime/wazero, runtime/wasmtime); only
// cmd/wstream picks one. Plugin, in this package, adds what every engine
// shares: manifest loading, name lookup, an instance pool and trap handling.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Config holds the per-plugin limits and plumbing. The zero value of each
// field means its documented default.
type Config struct {
	// MemoryLimitPages caps each instance's linear memory in 64 KiB pages.
	// Default 4096 (256 MiB).
	MemoryLimitPages uint32
	// CallTimeout bounds one wstream_call (and _initialize). Default 10s.
	CallTimeout time.Duration
	// StderrLimit caps the bytes of guest stderr kept per instance. Default 64 KiB.
	StderrLimit int
	// MaxOutput caps the bytes of one response (a wstream_call result or
	// the manifest), so that a guest cannot make the host hold more than
	// that per call whatever its memory limit. Default 64 MiB.
	MaxOutput int
	// MaxModuleSize caps the size of a module file, checked before it is
	// read or compiled: compiling costs time and memory in proportion to
	// the module, before any other limit applies. Default 128 MiB.
	MaxModuleSize int
	// CompileTimeout bounds compiling a module (validating it, and on
	// wazero metering it). Default 10 minutes: a backstop for a module
	// built to be slow to compile, generous enough for a large guest such
	// as an interpreter compiled to WebAssembly, on a slow machine or under
	// the race detector, when the compilation cache is cold.
	CompileTimeout time.Duration
	// Stderr receives captured guest stderr and log lines, prefixed with the
	// plugin name. Default: discarded.
	Stderr io.Writer
	// CacheDir holds compiled code across runs. Default: the user cache dir
	// (wstream/<engine>); "-" disables the cache.
	CacheDir string
	// Workers is the number of instances in the pool. Default GOMAXPROCS.
	Workers int
	// Allow grants a guest capabilities it lacks by default: "clock"
	// (real wall clock), "env", "fs:HOSTDIR" (read-only pre-opened dir).
	Allow []string
}

// DefaultMaxOutput is Config.MaxOutput's default.
const DefaultMaxOutput = 64 << 20

// DefaultMaxModuleSize is Config.MaxModuleSize's default.
const DefaultMaxModuleSize = 128 << 20

// CacheDirFor resolves Config.CacheDir for an engine: "-" is none (""),
// "" the user cache dir's wstream/ENGINE, anything else itself.
func CacheDirFor(dir, engine string) string {
	switch dir {
	case "-":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			slog.Debug("no user cache dir, compiling without a cache", "engine", engine, "err", err)
			return ""
		}
		return filepath.Join(base, "wstream", engine)
	}
	return dir
}

// Pages renders a count of 64 KiB pages as bytes, for messages.
func Pages(n uint64) string {
	b := n * 64 << 10
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return fmt.Sprintf("%d KiB", b>>10)
}

// Defaults returns c with zero fields replaced by their defaults.
func (c Config) Defaults() Config {
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = 4096
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.StderrLimit == 0 {
		c.StderrLimit = 64 << 10
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.MaxModuleSize == 0 {
		c.MaxModuleSize = DefaultMaxModuleSize
	}
	if c.CompileTimeout == 0 {
		c.CompileTimeout = 10 * time.Minute
	}
	if c.Stderr == nil {
		c.Stderr = io.Discard
	}
	return c
}

// Engine compiles modules. It is safe for concurrent use.
type Engine interface {
	// Name is the engine's name as --runtime spells it.
	Name() string
	// Compile validates and compiles a module. name labels errors and logs.
	Compile(ctx context.Context, name string, wasm []byte, cfg Config) (Module, error)
	Close(ctx context.Context) error
}

// Module is a compiled module. It is safe for concurrent use.
type Module interface {
	// Instantiate makes a new instance, calls _initialize when the module
	// exports it, and checks wstream_abi_version.
	Instantiate(ctx context.Context) (Instance, error)
	Close(ctx context.Context) error
}

// Instance is one instantiated guest. It is not safe for concurrent use:
// the pool gives each call its own.
type Instance interface {
	// Manifest returns the bytes of the guest's msgpack manifest (a copy).
	Manifest(ctx context.Context) ([]byte, error)
	// Call runs wstream_call(fn, input) and returns a copy of the response
	// bytes. Any error other than ctx's means the instance is broken (a
	// trap, a timeout, an out-of-range pointer) and must be closed.
	Call(ctx context.Context, fn int, input []byte) ([]byte, error)
	// Stderr returns what the guest wrote to stderr since the last call
	// to Stderr, at most Config.StderrLimit bytes.
	Stderr() string
	Close(ctx context.Context) error
}

// Errors an adapter returns, so that callers can tell causes apart with
// errors.Is whatever the engine.
var (
	ErrNotWasm     = errors.New("not a WebAssembly module")
	ErrMissingExp  = errors.New("module lacks a required wstream export")
	ErrABIVersion  = errors.New("unsupported ABI version")
	ErrTrap        = errors.New("guest trapped")
	ErrTimeout     = errors.New("guest exceeded its time limit")
	ErrMemoryLimit = errors.New("guest exceeded its memory limit")
	ErrBadPointer  = errors.New("guest returned a pointer outside its memory")
	ErrOutputLimit = errors.New("guest response exceeded its output limit")
	ErrModuleSize  = errors.New("module exceeds the module size limit")
	ErrUnavailable = errors.New("runtime not compiled into this binary")
)
