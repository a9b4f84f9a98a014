package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/wstream/wstream/abi"
)

// wasmMagic is the first four bytes of every binary WebAssembly module.
var wasmMagic = []byte{0x00, 'a', 's', 'm'}

// Plugin is a loaded guest module: its manifest and a pool of instances.
// It is safe for concurrent use; each call borrows one instance.
type Plugin struct {
	name     string // file base name, for messages
	path     string
	manifest *abi.Manifest
	module   Module
	cfg      Config
	engine   Engine

	pool chan Instance // idle instances
	sem  chan struct{} // one token per live instance, caps the pool

	// swap is held for reading by every call and for writing by an
	// upgrade (upgrade.go), so a new module never lands mid-call.
	swap    sync.RWMutex
	funcs   []*Func // every Func handed out, rebound by an upgrade
	sandbox sandboxEvents
}

// LoadFile reads, compiles and checks the module at path.
func LoadFile(ctx context.Context, e Engine, path string, cfg Config) (*Plugin, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > int64(cfg.Defaults().MaxModuleSize) {
		return nil, moduleSize(path, st.Size(), cfg.Defaults().MaxModuleSize)
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	return Load(ctx, e, path, wasm, cfg)
}

// Load compiles wasm and reads its manifest. path names the plugin in errors.
func Load(ctx context.Context, e Engine, path string, wasm []byte, cfg Config) (*Plugin, error) {
	cfg = cfg.Defaults()
	if cfg.Workers <= 0 {
		cfg.Workers = goruntime.GOMAXPROCS(0)
	}
	if len(wasm) > cfg.MaxModuleSize {
		return nil, moduleSize(path, int64(len(wasm)), cfg.MaxModuleSize)
	}
	if !bytes.HasPrefix(wasm, wasmMagic) {
		return nil, fmt.Errorf("plugin %s: %w (it does not start with \\0asm); build it with `make plugins` or pass a .wasm file", path, ErrNotWasm)
	}
	mod, err := compile(ctx, e, filepath.Base(path), wasm, cfg)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	p := &Plugin{
		name:   filepath.Base(path),
		path:   path,
		module: mod,
		cfg:    cfg,
		engine: e,
		pool:   make(chan Instance, cfg.Workers),
		sem:    make(chan struct{}, cfg.Workers),
	}
	inst, err := p.newInstance(ctx)
	if err != nil {
		mod.Close(ctx)
		return nil, err
	}
	raw, err := inst.Manifest(ctx)
	if err != nil {
		p.discard(ctx, inst)
		mod.Close(ctx)
		return nil, fmt.Errorf("plugin %s: reading manifest: %w", path, err)
	}
	if len(raw) > cfg.MaxOutput {
		p.discard(ctx, inst)
		mod.Close(ctx)
		return nil, fmt.Errorf("plugin %s: reading manifest: %w", path, outputLimit(len(raw), cfg.MaxOutput))
	}
	m, err := abi.DecodeManifest(raw)
	if err != nil {
		p.discard(ctx, inst)
		mod.Close(ctx)
		if m != nil && m.ABI != abi.Version {
			return nil, fmt.Errorf("plugin %s: %w: %v; rebuild it with a wstream SDK for ABI %d", path, ErrABIVersion, err, abi.Version)
		}
		return nil, fmt.Errorf("plugin %s: invalid manifest: %w", path, err)
	}
	p.manifest = m
	p.put(inst)
	return p, nil
}

// Name is the plugin's file name, used to label errors and logs.
func (p *Plugin) Name() string { return p.name }

// Path is the file the plugin was loaded from.
func (p *Plugin) Path() string { return p.path }

// Manifest is the plugin's decoded manifest (the new one after an upgrade).
func (p *Plugin) Manifest() *abi.Manifest {
	p.swap.RLock()
	defer p.swap.RUnlock()
	return p.manifest
}

// Func returns the named function, checked against the manifest.
func (p *Plugin) Func(name string) (*Func, error) {
	p.swap.Lock()
	defer p.swap.Unlock()
	id, kind, ok := p.manifest.Lookup(name)
	if !ok {
		names := make([]string, len(p.manifest.Functions))
		for i, f := range p.manifest.Functions {
			names[i] = f.Name
		}
		return nil, fmt.Errorf("plugin %s has no function %q (it has: %v)", p.name, name, names)
	}
	f := &Func{plugin: p, id: id, name: name, kind: kind}
	p.funcs = append(p.funcs, f)
	return f, nil
}

// Close closes every idle instance and the module.
func (p *Plugin) Close(ctx context.Context) error {
	p.swap.Lock()
	defer p.swap.Unlock()
	for {
		select {
		case inst := <-p.pool:
			inst.Close(ctx)
		default:
			return p.module.Close(ctx)
		}
	}
}

func (p *Plugin) newInstance(ctx context.Context) (Instance, error) {
	p.sem <- struct{}{}
	return p.instantiate(ctx)
}

// instantiate makes an instance for a pool slot the caller already holds.
func (p *Plugin) instantiate(ctx context.Context) (Instance, error) {
	inst, err := p.module.Instantiate(ctx)
	if err != nil {
		<-p.sem
		return nil, fmt.Errorf("plugin %s: %w", p.path, err)
	}
	return inst, nil
}

// get borrows an idle instance, or makes one while under the pool size.
func (p *Plugin) get(ctx context.Context) (Instance, error) {
	select {
	case inst := <-p.pool:
		return inst, nil
	default:
	}
	select {
	case inst := <-p.pool:
		return inst, nil
	case p.sem <- struct{}{}:
		return p.instantiate(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Plugin) put(inst Instance) { p.pool <- inst }

// discard closes a broken instance and frees its pool slot.
func (p *Plugin) discard(ctx context.Context, inst Instance) {
	p.flushStderr(inst)
	inst.Close(context.WithoutCancel(ctx))
	<-p.sem
}

var stderrMu sync.Mutex

func (p *Plugin) flushStderr(inst Instance) {
	if s := inst.Stderr(); s != "" {
		stderrMu.Lock()
		defer stderrMu.Unlock()
		for _, line := range bytes.Split(bytes.TrimRight([]byte(s), "\n"), []byte("\n")) {
			fmt.Fprintf(p.cfg.Stderr, "[%s] %s\n", p.name, Inert(string(line)))
		}
	}
}

// Func is one function of a plugin, bound by name.
type Func struct {
	plugin *Plugin
	id     int // in the current module; an upgrade rebinds it
	name   string
	kind   abi.Kind
	stats  callStats
}

// Name is the function's name.
func (f *Func) Name() string { return f.name }

// Kind is the function's calling convention.
func (f *Func) Kind() abi.Kind { return f.kind }

// Plugin is the plugin the function belongs to.
func (f *Func) Plugin() *Plugin { return f.plugin }

// CallError is a failed call, naming the plugin and the function.
type CallError struct {
	Plugin, Func string
	Err          error
	Stderr       string // what the guest wrote to stderr during the call, if anything
}

// Error is made inert (Inert): a guest's message or stderr reaches the
// operator's terminal.
func (e *CallError) Error() string {
	msg := fmt.Sprintf("plugin %s, function %q: %v", e.Plugin, e.Func, e.Err)
	if e.Stderr != "" {
		msg += "\nguest stderr:\n" + e.Stderr
	}
	return Inert(msg)
}

func (e *CallError) Unwrap() error { return e.Err }

// Call runs the function once over a whole batch. input is the call input of
// ABI.md §6 and n the number of items in it; the response is validated to
// hold exactly n results. The results own their memory.
func (f *Func) Call(ctx context.Context, input []byte, n int) (abi.Response, error) {
	return f.CallInto(ctx, input, n, nil)
}

// CallInto is Call decoding the results into dst's backing array when its
// capacity holds n of them.
func (f *Func) CallInto(ctx context.Context, input []byte, n int, dst []abi.Raw) (abi.Response, error) {
	p := f.plugin
	p.swap.RLock()
	defer p.swap.RUnlock()
	inst, err := p.get(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.sandbox.add(p.name, f.name, err, false)
		}
		return abi.Response{}, &CallError{Plugin: p.name, Func: f.name, Err: err}
	}
	start := time.Now()
	out, err := inst.Call(ctx, f.id, input)
	f.stats.add(n, time.Since(start))
	if err != nil {
		p.sandbox.add(p.name, f.name, err, true)
		stderr := inst.Stderr()
		inst.Close(context.WithoutCancel(ctx)) // never reuse an instance after a trap
		<-p.sem
		return abi.Response{}, &CallError{Plugin: p.name, Func: f.name, Err: err, Stderr: stderr}
	}
	p.flushStderr(inst)
	p.put(inst)
	if len(out) > p.cfg.MaxOutput {
		err := outputLimit(len(out), p.cfg.MaxOutput)
		p.sandbox.add(p.name, f.name, err, false)
		return abi.Response{}, &CallError{Plugin: p.name, Func: f.name, Err: err}
	}
	resp, err := abi.DecodeResponse(out, n, dst)
	if err == nil {
		err = checkResults(f.kind, resp)
	}
	if err != nil {
		var ge *abi.GuestError
		if !errors.As(err, &ge) {
			err = fmt.Errorf("%w (response starts %s)", err, describeStart(out))
		}
		return abi.Response{}, &CallError{Plugin: p.name, Func: f.name, Err: err}
	}
	return resp, nil
}

// compile runs e.Compile within cfg.CompileTimeout. No engine can stop a
// compile midway: one past its time is left to finish on its own (its
// module then closed), and an engine's Close does not wait for it.
func compile(ctx context.Context, e Engine, name string, wasm []byte, cfg Config) (Module, error) {
	type result struct {
		mod Module
		err error
	}
	done := make(chan result, 1)
	go func() {
		mod, err := e.Compile(ctx, name, wasm, cfg)
		done <- result{mod, err}
	}()
	t := time.NewTimer(cfg.CompileTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.mod, r.err
	case <-t.C:
		go func() {
			if r := <-done; r.mod != nil {
				r.mod.Close(context.WithoutCancel(ctx))
			}
		}()
		return nil, fmt.Errorf("%w: compiling the module took longer than %v (%d bytes); a module this slow to compile is not accepted",
			ErrTimeout, cfg.CompileTimeout, len(wasm))
	}
}

func moduleSize(path string, n int64, limit int) error {
	return fmt.Errorf("plugin %s: %w: the file is %d bytes, over the limit of %d", path, ErrModuleSize, n, limit)
}

func outputLimit(n, limit int) error {
	return fmt.Errorf("%w: the guest returned %d bytes, over the limit of %d; raise the plugin's maxOutput if it legitimately returns that much per batch",
		ErrOutputLimit, n, limit)
}
