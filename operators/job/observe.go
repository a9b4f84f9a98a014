package job

import (
	"context"
	"fmt"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
	"github.com/wstream/wstream/operators/job/monitor"
)

// watch is what watches one run: its monitor (metrics, UI, summary), the
// web server and hot reload. A run with none of them has no watch, and
// costs nothing.
type watch struct {
	cfg      *Config
	mon      *monitor.Monitor
	srv      *monitor.Server
	rl       *reloader
	cancel   context.CancelFunc
	stopping func() bool
}

// startWatch starts what cfg and spec ask for: the monitor, the web server
// of spec.HTTP, a watcher of the plugin files. digests is the map the
// run's checkpoints record, which a reload updates. It returns nil when
// nothing is asked for.
func startWatch(ctx context.Context, spec *pipeline.Spec, cfg *Config, digests map[string]string) (*watch, error) {
	if cfg.Monitor == nil && spec.HTTP == "" && !cfg.Watch {
		return nil, nil
	}
	w := &watch{cfg: cfg, mon: cfg.Monitor}
	if spec.HTTP != "" && (w.mon == nil || !w.mon.Web()) {
		w.mon = monitor.New(monitor.Config{Log: cfg.Log, Web: true})
		cfg.Monitor = w.mon
	}
	w.rl = newReloader(cfg.Plugins, w.mon, cfg.Log, digests)
	if w.mon != nil {
		w.mon.SetPlugins(cfg.Plugins.Loaded())
	}
	if spec.HTTP != "" {
		addr, err := pipeline.HTTPAddr(spec.HTTP)
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		if w.srv, err = monitor.Serve(addr, w.mon.Handler(w.rl.reload), cfg.Log); err != nil {
			return nil, err
		}
		cfg.Log.Info(fmt.Sprintf("web UI at http://%s/ (metrics at /metrics, health at /ready and /healthz, JSON under /api/)", w.srv.Addr()))
	}
	if w.mon != nil {
		// A signal stops the run after the batch in flight: not ready
		// from then on.
		w.stopping = context.AfterFunc(ctx, w.mon.Stopping)
	}
	if cfg.Watch {
		wctx, cancel := context.WithCancel(ctx)
		w.cancel = cancel
		go w.rl.watch(wctx)
		cfg.Log.Info("watching the plugin files: a changed module is reloaded between two batches, keeping all state")
	}
	return w, nil
}

// describe tells the monitor what runs: the graphs, one or two halves.
func (w *watch) describe(spec *pipeline.Spec, graphs ...*operators.Graph) {
	if w != nil && w.mon != nil {
		w.mon.Describe(spec, graphs...)
		w.mon.SetPlugins(w.cfg.Plugins.Loaded())
	}
}

// hooks sets a host.RunConfig's observer and reload hook for the part of
// the pipeline that role names.
func (w *watch) observer(role string, g *operators.Graph, first int) host.Observer {
	if w == nil || w.mon == nil {
		return nil
	}
	return w.mon.Watch(role, g, first)
}

func (w *watch) beforeBatch() func(int64) {
	if w == nil {
		return nil
	}
	return w.rl.beforeBatch
}

// finish records how the run ended and stops the server and the watcher.
func (w *watch) finish(ctx context.Context, err error) {
	if w == nil {
		return
	}
	if w.cancel != nil {
		w.cancel()
	}
	if w.stopping != nil {
		w.stopping()
	}
	w.rl.discard()
	if w.mon != nil {
		w.mon.Finish(err, ctx.Err() != nil)
		w.mon.Close()
	}
	if w.srv != nil {
		w.srv.Close()
	}
}
