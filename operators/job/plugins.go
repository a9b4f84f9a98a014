package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

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
	digests map[string]string // path -> sha256 of the file, for checkpoints
	deflt   string            // the module for stages that name no plugin
	mu      sync.Mutex        // guards digests, which a reload changes during a run
}

// NewPlugins returns an empty set that compiles with engine. cfg holds
// what every plugin shares (stderr, cache, workers); a spec's limits are
// applied with Sandbox.
func NewPlugins(engine runtime.Engine, cfg runtime.Config) *Plugins {
	return &Plugins{engine: engine, cfg: cfg, byPath: map[string]*runtime.Plugin{}, digests: map[string]string{}}
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

// For makes the spec's plugin: the module of stages that name none.
func (s *Plugins) For(spec *pipeline.Spec) { s.deflt = spec.Plugin }

// Load compiles a plugin file, once per path.
func (s *Plugins) Load(ctx context.Context, path string) (*runtime.Plugin, error) {
	if p, ok := s.byPath[path]; ok {
		return p, nil
	}
	wasm, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("plugin %s not found; build the bundled plugins with `make plugins`, or check the path", path)
	}
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	p, err := runtime.Load(ctx, s.engine, path, wasm, s.cfg)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	s.byPath[path] = p
	s.setDigest(abs, hex.EncodeToString(sum[:]))
	return p, nil
}

// Digests maps each plugin loaded so far, by absolute path, to the sha256
// of its file, which checkpoints record.
func (s *Plugins) Digests() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.digests)
}

func (s *Plugins) digest(abs string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.digests[abs]
}

// setDigest records the digest of a reloaded plugin's file.
func (s *Plugins) setDigest(abs, d string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.digests[abs] = d
}

// Loaded returns the plugins loaded so far, by path.
func (s *Plugins) Loaded() []*runtime.Plugin {
	var out []*runtime.Plugin
	for _, path := range slices.Sorted(maps.Keys(s.byPath)) {
		out = append(out, s.byPath[path])
	}
	return out
}

// Func implements operators.Resolver.
func (s *Plugins) Func(plugin, name string) (operators.Func, error) {
	path := s.deflt
	if plugin != "" {
		path = plugin
	}
	if path == "" {
		return nil, fmt.Errorf("fn %q needs a plugin: set plugin: in the pipeline or pass --plugin FILE.wasm", name)
	}
	p, err := s.Load(context.Background(), path)
	if err != nil {
		return nil, err
	}
	f, err := p.Func(name)
	if err != nil {
		var names []string
		for _, fn := range p.Manifest().Functions {
			names = append(names, fn.Name)
		}
		if hint := pipeline.Suggest(name, names); hint != "" {
			return nil, fmt.Errorf("%w%s", err, hint)
		}
	}
	return f, err
}

// Close releases every plugin loaded.
func (s *Plugins) Close() {
	for _, p := range s.byPath {
		p.Close(context.Background())
	}
}
