// Package operators turns a pipeline spec into a graph of DStream operators
// and runs it one micro-batch at a time. It implements host.Processor; guest
// functions reach it through Resolver, so it never depends on an engine.
package operators

import (
	"context"
	"fmt"
	"sort"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
)

// stage is one operator in a stream's chain.
type stage interface {
	// process transforms the stream's batch at time t (ms). emit is false
	// when the stage produces nothing at t (a window between slides); the
	// rest of the chain then does not run for t.
	process(ctx context.Context, t int64, in []abi.Raw) (out []abi.Raw, emit bool, err error)
}

// stream is a named chain of stages fed by a source or another stream.
type stream struct {
	name   string
	from   string // a source or stream name
	source bool   // from names a source
	stages []stage
	// deps are the streams this one reads in the same batch (from and
	// other:), which must be computed first.
	deps []string

	// per-batch result, valid after the stream ran for the current t
	out      []abi.Raw
	produced bool
}

// Graph is a built pipeline. It is not safe for concurrent use: the
// scheduler runs one batch at a time.
type Graph struct {
	streams []*stream // in dependency order
	byName  map[string]*stream
	final   *stream
}

// builder carries what op constructors need.
type builder struct {
	spec     *host.Spec
	resolve  Resolver
	byName   map[string]*stream
	interval int64 // batch interval in ms
}

// Build checks the spec and builds its graph. r resolves guest functions
// (nil when the pipeline uses built-ins only).
func Build(spec *host.Spec, r Resolver) (*Graph, error) {
	b := &builder{spec: spec, resolve: r, byName: map[string]*stream{}, interval: spec.Batch.D().Milliseconds()}
	streams := spec.Streams
	if len(streams) == 0 {
		names := spec.SourceNames()
		if len(names) != 1 {
			return nil, fmt.Errorf("stages: reads one source, but the pipeline has %d (%v); use streams: with from: to name each input", len(names), names)
		}
		streams = []host.Stream{{Name: "output", From: names[0], Stages: spec.Stages}}
	}
	g := &Graph{byName: b.byName}
	var all []*stream
	for i, s := range streams {
		if s.Name == "" {
			return nil, fmt.Errorf("streams[%d] has no name", i)
		}
		if _, dup := b.byName[s.Name]; dup {
			return nil, fmt.Errorf("stream %q is defined twice", s.Name)
		}
		if _, clash := spec.Sources[s.Name]; clash {
			return nil, fmt.Errorf("stream %q has the name of a source; give it another name", s.Name)
		}
		st := &stream{name: s.Name, from: s.From}
		b.byName[s.Name] = st
		all = append(all, st)
	}
	for i, s := range streams {
		st := all[i]
		if _, ok := spec.Sources[s.From]; ok {
			st.source = true
		} else if _, ok := b.byName[s.From]; ok {
			st.deps = append(st.deps, s.From)
		} else {
			return nil, fmt.Errorf("stream %q reads from %q, which is neither a source (%v) nor a stream", s.Name, s.From, spec.SourceNames())
		}
		prefix := ""
		if len(spec.Streams) > 0 {
			prefix = fmt.Sprintf("stream %s ", s.Name)
		}
		stages, deps, err := b.chain(prefix, s.Stages)
		if err != nil {
			return nil, err
		}
		st.stages = stages
		st.deps = append(st.deps, deps...)
	}
	order, err := topoOrder(all, b.byName)
	if err != nil {
		return nil, err
	}
	g.streams = order
	g.final = all[len(all)-1]
	return g, nil
}

// chain builds a list of stages; it returns the streams they read via other:.
func (b *builder) chain(prefix string, specs []host.Stage) ([]stage, []string, error) {
	var out []stage
	var deps []string
	for i, s := range specs {
		label := fmt.Sprintf("%sstage %d (%s", prefix, i+1, s.Op)
		if s.Fn != "" {
			label += " " + s.Fn
		}
		if s.Line > 0 {
			label += fmt.Sprintf(", line %d", s.Line)
		}
		label += ")"
		mk, ok := ops[s.Op]
		if !ok {
			if s.Op == "" {
				return nil, nil, fmt.Errorf("%s has no op:; valid ops: %s", label, opsList())
			}
			return nil, nil, fmt.Errorf("%s: unknown op %q; valid ops: %s", label, s.Op, opsList())
		}
		if s.Other != "" {
			if _, ok := b.byName[s.Other]; !ok {
				return nil, nil, fmt.Errorf("%s: other: %q is not a stream (streams: %v)", label, s.Other, b.streamNames())
			}
			deps = append(deps, s.Other)
		}
		st, err := mk(b, s, label)
		if err != nil {
			return nil, nil, err
		}
		if t, ok := st.(*transformStage); ok {
			deps = append(deps, t.deps...)
		}
		out = append(out, st)
	}
	return out, deps, nil
}

func (b *builder) streamNames() []string {
	var names []string
	for n := range b.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// topoOrder sorts streams so each runs after the streams it reads.
func topoOrder(all []*stream, byName map[string]*stream) ([]*stream, error) {
	state := map[string]int{} // 1 visiting, 2 done
	var order []*stream
	var visit func(s *stream, path []string) error
	visit = func(s *stream, path []string) error {
		switch state[s.name] {
		case 1:
			return fmt.Errorf("streams form a cycle: %v", append(path, s.name))
		case 2:
			return nil
		}
		state[s.name] = 1
		for _, d := range s.deps {
			if err := visit(byName[d], append(path, s.name)); err != nil {
				return err
			}
		}
		state[s.name] = 2
		order = append(order, s)
		return nil
	}
	for _, s := range all {
		if err := visit(s, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Process runs one micro-batch through every stream (host.Processor).
func (g *Graph) Process(ctx context.Context, t int64, inputs map[string][]abi.Raw) (host.Batch, bool, error) {
	for _, s := range g.streams {
		s.out, s.produced = nil, false
		var in []abi.Raw
		if s.source {
			in = inputs[s.from]
		} else {
			up := g.byName[s.from]
			if !up.produced {
				continue
			}
			in = up.out
		}
		out, emit, err := runChain(ctx, t, s.stages, in)
		if err != nil {
			return host.Batch{}, false, err
		}
		s.out, s.produced = out, emit
	}
	if !g.final.produced {
		return host.Batch{Time: t}, false, nil
	}
	return host.Batch{Time: t, Records: g.final.out}, true, nil
}

func runChain(ctx context.Context, t int64, stages []stage, in []abi.Raw) ([]abi.Raw, bool, error) {
	for _, st := range stages {
		out, emit, err := st.process(ctx, t, in)
		if err != nil || !emit {
			return nil, false, err
		}
		in = out
	}
	return in, true, nil
}

func sortStrings(s []string) { sort.Strings(s) }
