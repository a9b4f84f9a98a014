// Package wazero runs wstream guests on wazero, the pure-Go WebAssembly
// runtime: the default engine, available without cgo.
//
// Each compiled plugin owns a wazero.Runtime, because the host functions
// (wstream_v1.log, WASI's stdio and capabilities) are per plugin in wazero;
// the compiled code itself is shared through one compilation cache per cache
// directory, on disk so that a restart does not compile again.
package wazero

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// pageSize is the WebAssembly page size in bytes.
const pageSize = 64 << 10

// New returns the wazero engine. Close releases its compilation caches and
// every module still open. ctx is unused for now; it keeps the constructor
// the same shape as the other adapters'.
func New(_ context.Context) runtime.Engine {
	return &engine{caches: map[string]wazero.CompilationCache{}, modules: map[*module]struct{}{}}
}

type engine struct {
	life    sync.RWMutex                       // held for reading by Compile, for writing to close the caches
	mu      sync.Mutex                         // guards the fields below
	caches  map[string]wazero.CompilationCache // by directory; "" is in-memory only
	modules map[*module]struct{}
	closed  bool
}

func (e *engine) Name() string { return "wazero" }

// cache returns the compilation cache for a directory (runtime.CacheDirFor),
// creating it once. A directory that cannot be used is not an error: the
// plugin still runs, it only compiles again next time.
func (e *engine) cache(dir string) wazero.CompilationCache {
	if c, ok := e.caches[dir]; ok {
		return c
	}
	var c wazero.CompilationCache
	if dir != "" {
		var err error
		if c, err = wazero.NewCompilationCacheWithDir(dir); err != nil {
			slog.Debug("wazero: compilation cache unusable, compiling in memory only", "dir", dir, "err", err)
			if c != nil {
				c.Close(context.Background())
			}
			return e.cache("")
		}
	} else {
		c = wazero.NewCompilationCache()
	}
	e.caches[dir] = c
	return c
}

func (e *engine) Compile(ctx context.Context, name string, wasm []byte, cfg runtime.Config) (runtime.Module, error) {
	cfg = cfg.Defaults()
	modCfg, clock, root, err := moduleConfig(cfg.Allow)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok && root != nil {
			root.Close()
		}
	}()
	e.life.RLock() // the cache must outlive the compile
	defer e.life.RUnlock()
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errors.New("wazero engine is closed")
	}
	dir := runtime.CacheDirFor(cfg.CacheDir, "wazero")
	cache := e.cache(dir)
	e.mu.Unlock()
	if err := validate(ctx, wasm, dir); err != nil {
		return nil, err
	}

	// NewRuntimeConfig is the compiler wherever wazero supports it and the
	// interpreter elsewhere (NewRuntimeConfigCompiler would panic there).
	// The memory limit is not set here but enforced per instance by
	// limitedMemory, which is what lets a failed memory.grow be reported
	// as ErrMemoryLimit rather than as an anonymous trap.
	//
	// A runaway guest must neither outlive its time limit nor freeze the
	// host at the next GC: meter (meter.go) makes the guest come back to Go
	// every meterBudget loop iterations or calls. A module it cannot rewrite
	// runs with wazero's own, slower check at every loop header instead.
	newModule := func(wasm []byte, metered bool) (*module, error) {
		rc := wazero.NewRuntimeConfig().
			WithCloseOnContextDone(!metered).
			WithCompilationCache(cache)
		r := wazero.NewRuntimeWithConfig(ctx, rc)
		m := &module{name: name, cfg: cfg, rt: r, modCfg: modCfg, clock: clock, root: root, metered: metered}
		if err := m.init(ctx, wasm); err != nil {
			r.Close(ctx)
			return nil, err
		}
		return m, nil
	}
	var m *module
	if metered, merr := meter(wasm); merr != nil {
		slog.Debug("wazero: module not metered, using WithCloseOnContextDone", "plugin", name, "err", merr)
	} else if m, err = newModule(metered, true); err != nil {
		// Whatever is wrong, say it about the module as it was given.
		slog.Debug("wazero: metered module refused, trying it as it is", "plugin", name, "err", err)
		m = nil
	}
	if m == nil {
		if m, err = newModule(wasm, false); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed { // while compiling, by a caller that stopped waiting
		m.Close(ctx)
		return nil, errors.New("wazero engine is closed")
	}
	e.modules[m] = struct{}{}
	m.engine = e
	ok = true
	return m, nil
}

// validate checks the module as given, before meter rewrites it: an
// invalid module could become valid by the rewrite (a global.set of a
// global it does not have would set the meter's countdown, and the guest
// would never tick). wazero's interpreter validates without compiling
// native code (0.1–0.3 s for a 3 MB Go guest); a module that passed is
// remembered in the cache directory, keyed by its hash, so that a restart
// does not validate it again.
func validate(ctx context.Context, wasm []byte, dir string) error {
	if len(wasm) < 4 || string(wasm[:4]) != "\x00asm" {
		return fmt.Errorf("%w (it does not start with \\0asm)", runtime.ErrNotWasm)
	}
	var mark string
	if dir != "" {
		sum := sha256.Sum256(wasm)
		mark = filepath.Join(dir, "validated", hex.EncodeToString(sum[:]))
		if _, err := os.Stat(mark); err == nil {
			return nil
		}
	}
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	if _, err := r.CompileModule(ctx, wasm); err != nil {
		return fmt.Errorf("%w: wazero cannot compile it: %v", runtime.ErrNotWasm, err)
	}
	if mark != "" && os.MkdirAll(filepath.Dir(mark), 0o700) == nil {
		os.WriteFile(mark, nil, 0o600)
	}
	return nil
}

// Close closes every module still open and the compilation caches. It
// does not wait for a compile in flight (one that runtime.Load stopped
// waiting for at its deadline, which no engine can interrupt): the caches
// close when that compile ends.
func (e *engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	mods := e.modules
	e.modules = nil
	e.mu.Unlock()
	for m := range mods {
		m.Close(ctx)
	}
	closeCaches := func() error {
		defer e.life.Unlock()
		var errs []error
		for _, c := range e.caches {
			errs = append(errs, c.Close(context.WithoutCancel(ctx)))
		}
		return errors.Join(errs...)
	}
	if !e.life.TryLock() {
		go func() {
			e.life.Lock()
			closeCaches()
		}()
		return nil
	}
	return closeCaches()
}

// module is one compiled plugin with its own wazero.Runtime.
type module struct {
	name     string
	cfg      runtime.Config
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	clock    bool     // the clock is granted: instances sleep for real
	root     *os.Root // the fs: directory, if granted
	engine   *engine
	hasInit  bool
	metered  bool // meter rewrote the module: it imports wstream_meter.tick
	once     sync.Once
}

// init instantiates the host modules, compiles wasm and checks it against
// the ABI, so that a bad module fails at load with a message saying why.
func (m *module) init(ctx context.Context, wasm []byte) error {
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, m.rt); err != nil {
		return fmt.Errorf("wazero: instantiating WASI: %w", err)
	}
	if err := m.instantiateHost(ctx); err != nil {
		return fmt.Errorf("wazero: instantiating %s: %w", abi.ImportModule, err)
	}
	if len(wasm) < 4 || string(wasm[:4]) != "\x00asm" {
		return fmt.Errorf("%w (it does not start with \\0asm)", runtime.ErrNotWasm)
	}
	cm, err := m.rt.CompileModule(ctx, wasm)
	if err != nil {
		return fmt.Errorf("%w: wazero cannot compile it: %v", runtime.ErrNotWasm, err)
	}
	m.compiled = cm
	if err := m.check(wasm); err != nil {
		return err
	}
	_, m.hasInit = cm.ExportedFunctions()[abi.ExportInitialize]
	return nil
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// exports are the functions every guest must export, with their signatures.
var exports = []struct {
	name            string
	params, results []api.ValueType
}{
	{abi.ExportVersion, nil, []api.ValueType{i32}},
	{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
	{abi.ExportManifest, nil, []api.ValueType{i64}},
	{abi.ExportCall, []api.ValueType{i32, i32, i32}, []api.ValueType{i64}},
}

const sdkHint = "build it with a wstream guest SDK, or see ABI.md §2"

// check validates exports and imports against ABI v1.
func (m *module) check(wasm []byte) error {
	cm := m.compiled
	mem, ok := cm.ExportedMemories()["memory"]
	if !ok {
		return fmt.Errorf("%w: no exported memory named \"memory\"; %s", runtime.ErrMissingExp, sdkHint)
	}
	if mem.Min() > m.cfg.MemoryLimitPages {
		return fmt.Errorf("%w: the module starts with %d pages (%s) of memory, over the limit of %d pages (%s); raise the plugin's memory limit",
			runtime.ErrMemoryLimit, mem.Min(), runtime.Pages(uint64(mem.Min())), m.cfg.MemoryLimitPages, runtime.Pages(uint64(m.cfg.MemoryLimitPages)))
	}
	fns := cm.ExportedFunctions()
	for _, want := range exports {
		def, ok := fns[want.name]
		if !ok {
			return fmt.Errorf("%w: %s is not exported; %s", runtime.ErrMissingExp, want.name, sdkHint)
		}
		if !sameSig(def, want.params, want.results) {
			return fmt.Errorf("%w: %s has signature %s, want %s; %s", runtime.ErrMissingExp, want.name,
				sig(def.ParamTypes(), def.ResultTypes()), sig(want.params, want.results), sdkHint)
		}
	}
	if def, ok := fns[abi.ExportInitialize]; ok && !sameSig(def, nil, nil) {
		return fmt.Errorf("%w: %s has signature %s, want () -> (); %s", runtime.ErrMissingExp, abi.ExportInitialize,
			sig(def.ParamTypes(), def.ResultTypes()), sdkHint)
	}
	if _, ok := fns["_start"]; ok {
		if _, ok := fns[abi.ExportInitialize]; !ok {
			return fmt.Errorf("%w: the module is a WASI command (it exports _start and no _initialize); build it as a reactor (Go: -buildmode=c-shared) with a wstream guest SDK",
				runtime.ErrMissingExp)
		}
	}
	for _, mem := range cm.ImportedMemories() {
		mod, name, _ := mem.Import()
		return fmt.Errorf("the module imports memory %s.%s; a guest must define and export its own memory; %s", mod, name, sdkHint)
	}
	for _, imp := range otherImports(wasm) {
		mod, name := imp[0], imp[1]
		if mod != wasi_snapshot_preview1.ModuleName && mod != abi.ImportModule {
			return fmt.Errorf("the module imports %s.%s, which wstream does not provide: a guest may import only %s.%s and %s; %s",
				mod, name, abi.ImportModule, abi.ImportLog, wasi_snapshot_preview1.ModuleName, sdkHint)
		}
		return fmt.Errorf("the module imports %s.%s, which does not exist (ABI v%d provides %s.%s and WASI preview 1)",
			mod, name, abi.Version, abi.ImportModule, abi.ImportLog)
	}
	for _, def := range cm.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch {
		case mod == wasi_snapshot_preview1.ModuleName, mod == abi.ImportModule:
		case mod == meterModule && m.metered && name == meterTick:
			continue // added by meter
		default:
			return fmt.Errorf("the module imports %s.%s, which wstream does not provide: a guest may import only %s.%s and %s; %s",
				mod, name, abi.ImportModule, abi.ImportLog, wasi_snapshot_preview1.ModuleName, sdkHint)
		}
		host := m.rt.Module(mod).ExportedFunctionDefinitions()[name]
		if host == nil {
			return fmt.Errorf("the module imports %s.%s, which does not exist (ABI v%d provides %s.%s and WASI preview 1)",
				mod, name, abi.Version, abi.ImportModule, abi.ImportLog)
		}
		if !sameSig(def, host.ParamTypes(), host.ResultTypes()) {
			return fmt.Errorf("the module imports %s.%s with signature %s, but it is %s", mod, name,
				sig(def.ParamTypes(), def.ResultTypes()), sig(host.ParamTypes(), host.ResultTypes()))
		}
	}
	return nil
}

func sameSig(def api.FunctionDefinition, params, results []api.ValueType) bool {
	return string(def.ParamTypes()) == string(params) && string(def.ResultTypes()) == string(results)
}

func sig(params, results []api.ValueType) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			switch t {
			case 0x7b: // api.ValueTypeName does not name v128
				s[i] = "v128"
			default:
				s[i] = api.ValueTypeName(t)
			}
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(params) + " -> " + names(results)
}

// Close closes the runtime, which closes every instance of the module.
func (m *module) Close(ctx context.Context) error {
	var err error
	m.once.Do(func() {
		err = m.rt.Close(context.WithoutCancel(ctx))
		if m.root != nil {
			m.root.Close()
		}
		if e := m.engine; e != nil {
			e.mu.Lock()
			delete(e.modules, m)
			e.mu.Unlock()
		}
	})
	return err
}
