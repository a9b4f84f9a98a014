package job

import (
	"context"
	"errors"
	"fmt"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
)

// Check finds every problem that would stop spec from running, without
// opening a source or a sink or writing anything: the URIs, the plugins
// and functions the stages name, the operators' settings (window
// multiples, output modes), exactly-once and scale-out requirements, and
// whether the checkpoint, if there is one, belongs to this pipeline. It
// returns nil or all the problems, one per line.
func Check(ctx context.Context, spec *pipeline.Spec, cfg Config) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := cfg.Plugins.Sandbox(spec); err != nil {
		return err
	}
	cfg.Plugins.For(spec)
	add(checkExactlyOnce(spec))
	for _, name := range spec.SourceNames() {
		src, err := host.OpenSource(spec.Sources[name])
		if err != nil {
			add(fmt.Errorf("source %q: %w", name, err))
			continue
		}
		if c, ok := src.(host.Checker); ok {
			if err := c.Check(); err != nil {
				add(fmt.Errorf("source %q: %w", name, err))
			}
		}
		src.Close()
	}
	type named struct{ what, uri string }
	var sinks []named
	for _, o := range spec.Outputs() {
		what := "sink"
		if o.Stream != "" {
			what = "stream " + o.Stream + ": sink"
		}
		sinks = append(sinks, named{what, o.URI})
	}
	sinks = append(sinks, named{"late", spec.Late}, named{"deadLetter", spec.DeadLetter})
	for _, s := range sinks {
		what, uri := s.what, s.uri
		if uri == "" {
			continue
		}
		sink, err := host.OpenSink(uri)
		if err != nil {
			add(fmt.Errorf("%s: %w", what, err))
			continue
		}
		sink.Close()
	}
	if _, _, _, err := keyedSplit(spec, cfg.Log); err != nil {
		add(err)
	}
	if spec.Plugin != "" {
		if _, err := cfg.Plugins.Load(ctx, spec.Plugin); err != nil {
			// Every stage would say so again: say it once.
			return errors.Join(append(errs, err)...)
		}
	}
	graph, err := operators.Build(spec, cfg.Plugins)
	add(err)
	if err == nil && spec.Checkpoint != "" {
		store, err := host.OpenCheckpoints(spec.Checkpoint, nil)
		if err == nil {
			err = host.Resumable(store, graph, spec.Batch.D())
		}
		add(err)
	}
	return errors.Join(errs...)
}
