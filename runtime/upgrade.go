package runtime

import (
	"context"
	"fmt"

	"github.com/wstream/wstream/abi"
)

// Upgrade is a new version of a plugin's module, compiled, instantiated
// and checked against every function the plugin has handed out, ready to
// replace the running one. Preparing is slow (a compile) and may run
// beside the calls; Apply is quick, and a caller makes it between batches
// so that one batch never sees two versions.
type Upgrade struct {
	p    *Plugin
	next *Plugin // loaded from the new bytes, never called
	ids  []int   // the new id of each of p.funcs, in order
}

// Prepare loads wasm as the next version of p, with p's engine and
// limits, and checks that every function bound from p (Func) is still
// exported with the same kind. A module that fails to load or lacks a
// function is refused with the reason, and p is unchanged.
func (p *Plugin) Prepare(ctx context.Context, wasm []byte) (*Upgrade, error) {
	next, err := Load(ctx, p.engine, p.path, wasm, p.cfg)
	if err != nil {
		return nil, err
	}
	p.swap.RLock()
	funcs := append([]*Func(nil), p.funcs...)
	p.swap.RUnlock()
	ids := make([]int, len(funcs))
	for i, f := range funcs {
		id, kind, ok := next.manifest.Lookup(f.name)
		switch {
		case !ok:
			next.Close(ctx)
			return nil, fmt.Errorf("plugin %s: the new module has no function %q, which the pipeline uses", p.path, f.name)
		case kind != f.kind:
			next.Close(ctx)
			return nil, fmt.Errorf("plugin %s: function %q is a %s function in the new module, and the pipeline uses it as a %s function", p.path, f.name, kind, f.kind)
		}
		ids[i] = id
	}
	return &Upgrade{p: p, next: next, ids: ids}, nil
}

// Manifest is the new module's manifest.
func (u *Upgrade) Manifest() *abi.Manifest { return u.next.manifest }

// Apply makes the new module the plugin's: calls that start after it run
// the new code, on fresh instances; calls in flight finish on the old one
// first. State kept by the host is untouched. Functions bound after
// Prepare (none in a running pipeline) are rebound by name.
func (u *Upgrade) Apply(ctx context.Context) {
	p, next := u.p, u.next
	p.swap.Lock()
	oldModule, oldPool := p.module, p.pool
	p.manifest, p.module, p.pool, p.sem = next.manifest, next.module, next.pool, next.sem
	for i, f := range p.funcs {
		if i < len(u.ids) {
			f.id = u.ids[i]
		} else if id, _, ok := p.manifest.Lookup(f.name); ok {
			f.id = id
		}
	}
	p.swap.Unlock()
	// No call holds an old instance now: they are all idle.
	for {
		select {
		case inst := <-oldPool:
			inst.Close(ctx)
			continue
		default:
		}
		break
	}
	oldModule.Close(ctx)
}

// Discard drops an upgrade that will not be applied.
func (u *Upgrade) Discard(ctx context.Context) { u.next.Close(ctx) }
