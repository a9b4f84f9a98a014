//go:build cgo

package wasmtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// pageSize is the WebAssembly page size in bytes.
const pageSize = 64 << 10

// epochTick is how often the engine's epoch advances. Call time limits are
// enforced in whole ticks, so they are precise to about one tick.
const epochTick = 10 * time.Millisecond

const wasiModule = "wasi_snapshot_preview1"

var (
	errEngineClosed = errors.New("wasmtime engine is closed")
	errModuleClosed = errors.New("wasmtime: module is closed")
	errClosed       = errors.New("wasmtime: instance is closed")
)

// New returns the Wasmtime engine. Close stops its epoch ticker and frees
// the compiled modules; instances still open stay valid until closed but
// refuse calls, since nothing would enforce their time limit any more.
//
// A guest sees the same sandbox as on wazero: no files, environment, args
// or network unless Config.Allow grants them, and without the "clock"
// capability wazero's fake clocks and fixed random stream (wasi.go).
//
// A caller's context deadline shorter than Config.CallTimeout interrupts a
// call (reported as that context error); a context cancelled without a
// deadline is only noticed before a call starts, because an epoch deadline
// can only be set from the goroutine running the guest.
func New(ctx context.Context) (runtime.Engine, error) {
	cfg := wasmtime.NewConfig()
	cfg.SetEpochInterruption(true) // the only way to stop a looping guest
	e := &engine{
		wt:      wasmtime.NewEngineWithConfig(cfg),
		modules: map[*module]struct{}{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go e.tickEpochs()
	return e, nil
}

type engine struct {
	wt *wasmtime.Engine

	// live is held for reading by everything that uses wt or runs guest
	// code, and for writing by Close, which so waits for the calls in
	// flight (each bounded by its time limit, as the ticker still runs)
	// before it stops the ticker that enforces those limits.
	live   sync.RWMutex
	closed bool
	// build is held for reading by Compile, which uses wt but runs no
	// guest code, and for writing to free wt: Close does not wait for a
	// compile in flight (one that runtime.Load stopped waiting for at its
	// deadline, which Wasmtime cannot interrupt); wt is freed when it ends.
	build sync.RWMutex

	mu      sync.Mutex // guards modules
	modules map[*module]struct{}

	stop, done chan struct{}
}

func (e *engine) Name() string { return "wasmtime" }

// tickEpochs advances the epoch that every store's deadline counts in.
func (e *engine) tickEpochs() {
	defer close(e.done)
	t := time.NewTicker(epochTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			e.wt.IncrementEpoch()
		case <-e.stop:
			return
		}
	}
}

func (e *engine) Compile(ctx context.Context, name string, wasm []byte, cfg runtime.Config) (runtime.Module, error) {
	cfg = cfg.Defaults()
	caps, err := parseAllow(cfg.Allow)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, fmt.Errorf("%w (it does not start with \\0asm)", runtime.ErrNotWasm)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.live.RLock()
	if e.closed {
		e.live.RUnlock()
		return nil, errEngineClosed
	}
	e.build.RLock()
	e.live.RUnlock()
	defer e.build.RUnlock()
	compiled, err := e.load(wasm, cfg.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("%w: wasmtime cannot compile it: %v", runtime.ErrNotWasm, err)
	}
	m := &module{name: name, cfg: cfg, caps: caps, engine: e, wt: compiled}
	if err := m.link(); err != nil {
		m.free()
		return nil, err
	}
	if err := m.check(); err != nil {
		m.free()
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.modules == nil { // closed while compiling, by a caller that stopped waiting
		m.free()
		return nil, errEngineClosed
	}
	e.modules[m] = struct{}{}
	return m, nil
}

// Close waits for calls in flight, stops the epoch ticker and frees every
// module still open.
func (e *engine) Close(ctx context.Context) error {
	e.live.Lock()
	if e.closed {
		e.live.Unlock()
		return nil
	}
	e.closed = true
	e.live.Unlock()
	close(e.stop)
	<-e.done
	e.mu.Lock()
	mods := e.modules
	e.modules = nil
	e.mu.Unlock()
	for m := range mods {
		m.Close(ctx)
	}
	if !e.build.TryLock() {
		go func() {
			e.build.Lock()
			e.wt.Close()
		}()
		return nil
	}
	e.wt.Close()
	return nil
}

// module is one compiled plugin with its own linker, because the linker
// holds the plugin's wstream_v1.log (which names the plugin).
type module struct {
	name    string
	cfg     runtime.Config
	caps    capabilities
	engine  *engine
	wt      *wasmtime.Module
	linker  *wasmtime.Linker
	hasInit bool

	mu     sync.RWMutex // read-held while instantiating; Close frees what that uses
	closed atomic.Bool
}

// link makes the module's linker: WASI preview 1 and wstream_v1.
func (m *module) link() error {
	l := wasmtime.NewLinker(m.engine.wt)
	m.linker = l
	if err := l.DefineWasi(); err != nil {
		return fmt.Errorf("wasmtime: defining WASI: %w", err)
	}
	if err := m.defineWASI(l); err != nil {
		return fmt.Errorf("wasmtime: defining WASI: %w", err)
	}
	i32 := wasmtime.NewValType(wasmtime.KindI32)
	ty := wasmtime.NewFuncType([]*wasmtime.ValType{i32, i32, i32}, nil)
	if err := l.FuncNew(abi.ImportModule, abi.ImportLog, ty, m.logHost); err != nil {
		return fmt.Errorf("wasmtime: defining %s.%s: %w", abi.ImportModule, abi.ImportLog, err)
	}
	return nil
}

// exports are the functions every guest must export, with their signatures.
var exports = []struct {
	name            string
	params, results []wasmtime.ValKind
}{
	{abi.ExportVersion, nil, []wasmtime.ValKind{wasmtime.KindI32}},
	{abi.ExportAlloc, []wasmtime.ValKind{wasmtime.KindI32}, []wasmtime.ValKind{wasmtime.KindI32}},
	{abi.ExportManifest, nil, []wasmtime.ValKind{wasmtime.KindI64}},
	{abi.ExportCall, []wasmtime.ValKind{wasmtime.KindI32, wasmtime.KindI32, wasmtime.KindI32}, []wasmtime.ValKind{wasmtime.KindI64}},
}

const sdkHint = "build it with a wstream guest SDK, or see ABI.md §2"

// check validates exports and imports against ABI v1, with the messages of
// the wazero adapter, so that a bad module fails at load saying why.
func (m *module) check() error {
	fns := map[string]*wasmtime.FuncType{}
	var mem *wasmtime.MemoryType
	for _, ex := range m.wt.Exports() {
		ty := ex.Type()
		if ft := ty.FuncType(); ft != nil {
			fns[ex.Name()] = ft
		} else if mt := ty.MemoryType(); mt != nil && ex.Name() == "memory" {
			mem = mt
		}
	}
	if mem == nil {
		return fmt.Errorf("%w: no exported memory named \"memory\"; %s", runtime.ErrMissingExp, sdkHint)
	}
	if mem.Is64() {
		return fmt.Errorf("%w: the exported memory is 64-bit; ABI v%d guests are wasm32; %s", runtime.ErrMissingExp, abi.Version, sdkHint)
	}
	if min := mem.Minimum(); min > uint64(m.cfg.MemoryLimitPages) {
		return fmt.Errorf("%w: the module starts with %d pages (%s) of memory, over the limit of %d pages (%s); raise the plugin's memory limit",
			runtime.ErrMemoryLimit, min, runtime.Pages(min), m.cfg.MemoryLimitPages, runtime.Pages(uint64(m.cfg.MemoryLimitPages)))
	}
	for _, want := range exports {
		ft, ok := fns[want.name]
		if !ok {
			return fmt.Errorf("%w: %s is not exported; %s", runtime.ErrMissingExp, want.name, sdkHint)
		}
		if p, r := kinds(ft.Params()), kinds(ft.Results()); !sameKinds(p, want.params) || !sameKinds(r, want.results) {
			return fmt.Errorf("%w: %s has signature %s, want %s; %s", runtime.ErrMissingExp, want.name,
				sig(p, r), sig(want.params, want.results), sdkHint)
		}
	}
	if ft, ok := fns[abi.ExportInitialize]; ok {
		if p, r := kinds(ft.Params()), kinds(ft.Results()); len(p) != 0 || len(r) != 0 {
			return fmt.Errorf("%w: %s has signature %s, want () -> (); %s", runtime.ErrMissingExp, abi.ExportInitialize, sig(p, r), sdkHint)
		}
		m.hasInit = true
	} else if _, ok := fns["_start"]; ok {
		return fmt.Errorf("%w: the module is a WASI command (it exports _start and no _initialize); build it as a reactor (Go: -buildmode=c-shared) with a wstream guest SDK",
			runtime.ErrMissingExp)
	}
	return m.checkImports()
}

// checkImports allows only WASI preview 1 and wstream_v1, with the
// signatures the linker defines.
func (m *module) checkImports() error {
	imports := m.wt.Imports()
	for _, im := range imports {
		if im.Type().MemoryType() != nil {
			return fmt.Errorf("the module imports memory %s.%s; a guest must define and export its own memory; %s", im.Module(), importName(im), sdkHint)
		}
	}
	if len(imports) == 0 {
		return nil
	}
	store := wasmtime.NewStore(m.engine.wt) // only to look the linker's definitions up
	defer store.Close()
	for _, im := range imports {
		mod, name := im.Module(), importName(im)
		switch mod {
		case wasiModule, abi.ImportModule:
		default:
			return fmt.Errorf("the module imports %s.%s, which wstream does not provide: a guest may import only %s.%s and %s; %s",
				mod, name, abi.ImportModule, abi.ImportLog, wasiModule, sdkHint)
		}
		ft := im.Type().FuncType()
		var host *wasmtime.FuncType
		if ext := m.linker.Get(store, mod, name); ext != nil && ext.Func() != nil {
			host = ext.Type(store).FuncType()
		}
		if ft == nil || host == nil {
			return fmt.Errorf("the module imports %s.%s, which does not exist (ABI v%d provides %s.%s and WASI preview 1)",
				mod, name, abi.Version, abi.ImportModule, abi.ImportLog)
		}
		p, r := kinds(ft.Params()), kinds(ft.Results())
		hp, hr := kinds(host.Params()), kinds(host.Results())
		if !sameKinds(p, hp) || !sameKinds(r, hr) {
			return fmt.Errorf("the module imports %s.%s with signature %s, but it is %s", mod, name, sig(p, r), sig(hp, hr))
		}
	}
	return nil
}

func importName(im *wasmtime.ImportType) string {
	if n := im.Name(); n != nil {
		return *n
	}
	return ""
}

func kinds(ts []*wasmtime.ValType) []wasmtime.ValKind {
	ks := make([]wasmtime.ValKind, len(ts))
	for i, t := range ts {
		ks[i] = t.Kind()
	}
	return ks
}

func sameKinds(a, b []wasmtime.ValKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sig renders a signature as the wazero adapter does. It names kinds
// itself: ValKind.String panics on kinds it does not know (v128), and a
// guest's export types must never crash the host.
func sig(params, results []wasmtime.ValKind) string {
	names := func(ks []wasmtime.ValKind) string {
		s := make([]string, len(ks))
		for i, k := range ks {
			switch k {
			case wasmtime.KindI32, wasmtime.KindI64, wasmtime.KindF32, wasmtime.KindF64, wasmtime.KindExternref, wasmtime.KindFuncref:
				s[i] = k.String()
			case 4: // WASM_V128 in wasm.h
				s[i] = "v128"
			default:
				s[i] = fmt.Sprintf("type %d", k)
			}
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(params) + " -> " + names(results)
}

// Close frees the compiled code and the linker. Instances already made
// keep what they use alive (Wasmtime counts references) but refuse calls,
// as on wazero, where closing a module closes its instances.
func (m *module) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil
	}
	m.closed.Store(true)
	m.free()
	e := m.engine
	e.mu.Lock()
	delete(e.modules, m)
	e.mu.Unlock()
	return nil
}

func (m *module) free() {
	if m.linker != nil {
		m.linker.Close()
	}
	m.wt.Close()
}
