package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/wstream/wstream/operators/job/monitor"
	"github.com/wstream/wstream/runtime"
)

// Hot reload: a plugin whose file changed is compiled, instantiated and
// checked beside the running one (runtime.Plugin.Prepare), then swapped in
// between two batches (BeforeBatch), so that no batch sees two versions.
// Operators' state, source offsets and watermarks live in the host and are
// untouched; a module that fails any check is refused and the old one
// keeps running.

// reloader holds the upgrades waiting for the next batch.
type reloader struct {
	plugins *Plugins
	mon     *monitor.Monitor // nil: no UI
	log     *slog.Logger
	// digests is the map the run's checkpoints record (RunConfig.Plugins):
	// written only by beforeBatch, on the scheduler's goroutine.
	digests map[string]string

	busy    sync.Mutex // one reload at a time
	mu      sync.Mutex
	pending []*pendingUpgrade
}

type pendingUpgrade struct {
	path, abs, digest string
	up                *runtime.Upgrade
	applied           chan int64 // receives the time of the first batch that runs it
}

func newReloader(p *Plugins, mon *monitor.Monitor, log *slog.Logger, digests map[string]string) *reloader {
	return &reloader{plugins: p, mon: mon, log: log, digests: digests}
}

// reload prepares every plugin whose file changed and waits until each
// upgrade has been applied before a batch. A refused module is reported
// and the old one keeps running.
func (r *reloader) reload(ctx context.Context) ([]monitor.ReloadResult, error) {
	r.busy.Lock()
	defer r.busy.Unlock()
	var res []monitor.ReloadResult
	var waits []*pendingUpgrade
	for _, path := range slices.Sorted(maps.Keys(r.plugins.byPath)) {
		p := r.plugins.byPath[path]
		wasm, err := os.ReadFile(path)
		if err != nil {
			res = append(res, r.refused(path, err))
			continue
		}
		sum := sha256.Sum256(wasm)
		digest := hex.EncodeToString(sum[:])
		abs, _ := filepath.Abs(path)
		if digest == r.plugins.digest(abs) {
			res = append(res, monitor.ReloadResult{Plugin: path, Result: "unchanged"})
			continue
		}
		up, err := p.Prepare(ctx, wasm)
		if err != nil {
			res = append(res, r.refused(path, err))
			continue
		}
		pu := &pendingUpgrade{path: path, abs: abs, digest: digest, up: up, applied: make(chan int64, 1)}
		r.mu.Lock()
		r.pending = append(r.pending, pu)
		r.mu.Unlock()
		waits = append(waits, pu)
	}
	for _, pu := range waits {
		select {
		case t := <-pu.applied:
			res = append(res, monitor.ReloadResult{Plugin: pu.path, Result: "applied", Batch: t})
		case <-ctx.Done():
			res = append(res, monitor.ReloadResult{Plugin: pu.path, Result: "pending", Reason: "no batch has started since; it applies before the next one"})
		}
	}
	return res, nil
}

func (r *reloader) refused(path string, err error) monitor.ReloadResult {
	r.log.Warn(fmt.Sprintf("plugin %s: the new module is refused and the running one stays: %v", path, err))
	if r.mon != nil {
		r.mon.AddEvent(monitor.Event{Kind: monitor.EventReloadRefused, Plugin: filepath.Base(path), Message: err.Error()})
	}
	return monitor.ReloadResult{Plugin: path, Result: "refused", Reason: err.Error()}
}

// beforeBatch swaps in the upgrades prepared since the last batch. It runs
// on the scheduler's goroutine (host.RunConfig.BeforeBatch).
func (r *reloader) beforeBatch(t int64) {
	r.mu.Lock()
	pending := r.pending
	r.pending = nil
	r.mu.Unlock()
	for _, pu := range pending {
		pu.up.Apply(context.Background())
		r.plugins.setDigest(pu.abs, pu.digest)
		if _, ok := r.digests[pu.abs]; ok {
			r.digests[pu.abs] = pu.digest
		}
		m := pu.up.Manifest()
		msg := fmt.Sprintf("plugin %s reloaded: module %s %s runs from batch %d ms on; state, offsets and watermarks are kept", pu.path, m.Name, m.Version, t)
		r.log.Info(msg)
		if r.mon != nil {
			r.mon.AddEvent(monitor.Event{Kind: monitor.EventReload, Plugin: filepath.Base(pu.path), Message: msg, Batch: t})
		}
		pu.applied <- t
	}
}

// discard drops upgrades that no batch will apply (the run has ended).
func (r *reloader) discard() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pu := range r.pending {
		pu.up.Discard(context.Background())
	}
	r.pending = nil
}

// watchEvery is how often --watch looks at the plugin files.
const watchEvery = 500 * time.Millisecond

// watch reloads when a plugin file changes, until ctx ends. A file is
// read once it has stopped changing for one look, so that a module being
// written is not taken half-written.
func (r *reloader) watch(ctx context.Context) {
	type stamp struct {
		size int64
		mod  time.Time
	}
	look := func() map[string]stamp {
		out := map[string]stamp{}
		for path := range r.plugins.byPath {
			if st, err := os.Stat(path); err == nil {
				out[path] = stamp{st.Size(), st.ModTime()}
			}
		}
		return out
	}
	seen := look()
	var changing map[string]stamp
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := look()
		if changing != nil && maps.Equal(now, changing) {
			changing = nil
			seen = now
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			r.reload(rctx)
			cancel()
			continue
		}
		if !maps.Equal(now, seen) {
			changing = now
		}
	}
}
