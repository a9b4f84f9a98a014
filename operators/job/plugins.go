package job

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
	"github.com/wstream/wstream/runtime"
)

// Plugins loads each plugin file once and resolves the functions stages
// name: the one operators.Resolver of a run. It is not safe for concurrent
// use; a run resolves its functions while it builds its graph.
type Plugins struct {
	engine  runtime.Engine
	cfg     runtime.Config
	byPath  map[string]*runtime.Plugin
	deflt   string              // the module for stages that name no plugin
	resolve func(string) string // a stage's plugin: path to a file
}

// NewPlugins returns an empty set that compiles with engine. cfg holds
// what every plugin shares (stderr, cache, workers); a spec's limits are
// applied with Sandbox.
func NewPlugins(engine runtime.Engine, cfg runtime.Config) *Plugins {
	return &Plugins{engine: engine, cfg: cfg, byPath: map[string]*runtime.Plugin{}, resolve: func(p string) string { return p }}
}

// Sandbox applies a spec's limits: and allow: to the plugins loaded after
// it. A plugin loaded before (to read its default pipeline) keeps the
// limits it was loaded with, which the flags set.
func (s *Plugins) Sandbox(spec *pipeline.Spec) error {
	cfg, err := SandboxConfig(s.cfg, spec)
	if err != nil {
		return err
	}
	s.cfg = cfg
	return nil
}

// SandboxConfig is base with the spec's limits and capabilities.
func SandboxConfig(base runtime.Config, spec *pipeline.Spec) (runtime.Config, error) {
	cfg := base
	if spec.Limits.Memory != 0 {
		pages, err := spec.Limits.Memory.Pages()
		if err != nil {
			return cfg, err
		}
		cfg.MemoryLimitPages = pages
	}
	cfg.CallTimeout = spec.Limits.Timeout.D()
	cfg.MaxOutput = int(spec.Limits.MaxOutput)
	cfg.Allow = spec.Allow
	return cfg, nil
}

// For makes the spec's plugin: the module of stages that name none, and
// resolves the paths stages name as the spec resolves paths.
func (s *Plugins) For(spec *pipeline.Spec) {
	s.deflt = spec.ResolvePath(spec.Plugin)
	s.resolve = spec.ResolvePath
}

// Load compiles a plugin file, once per path.
func (s *Plugins) Load(ctx context.Context, path string) (*runtime.Plugin, error) {
	if p, ok := s.byPath[path]; ok {
		return p, nil
	}
	p, err := runtime.LoadFile(ctx, s.engine, path, s.cfg)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("plugin %s not found; build the bundled plugins with `make plugins`, or check the path", path)
		}
		return nil, err
	}
	s.byPath[path] = p
	return p, nil
}

// Func implements operators.Resolver.
func (s *Plugins) Func(plugin, name string) (operators.Func, error) {
	path := s.deflt
	if plugin != "" {
		path = s.resolve(plugin)
	}
	if path == "" {
		return nil, fmt.Errorf("fn %q needs a plugin: set plugin: in the pipeline or pass --plugin FILE.wasm", name)
	}
	p, err := s.Load(context.Background(), path)
	if err != nil {
		return nil, err
	}
	return p.Func(name)
}

// Close releases every plugin loaded.
func (s *Plugins) Close() {
	for _, p := range s.byPath {
		p.Close(context.Background())
	}
}
