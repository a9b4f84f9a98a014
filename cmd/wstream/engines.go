package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wazero"
)

// engines maps --runtime names to constructors. cmd/wstream is the only
// place that picks adapters; build-tagged files add engines that need cgo.
var engines = map[string]func(ctx context.Context) (runtime.Engine, error){
	"wazero": func(ctx context.Context) (runtime.Engine, error) { return wazero.New(ctx), nil },
}

// knownEngines are engines wstream can have, compiled in or not.
var knownEngines = map[string]string{
	"wasmtime": "it needs cgo: build wstream with CGO_ENABLED=1",
}

func newEngine(ctx context.Context, name string) (runtime.Engine, error) {
	if name == "" {
		name = "wazero"
	}
	if mk, ok := engines[name]; ok {
		return mk(ctx)
	}
	if why, ok := knownEngines[name]; ok {
		return nil, fmt.Errorf("runtime %q: %w (%s); use --runtime wazero", name, runtime.ErrUnavailable, why)
	}
	return nil, usagef("unknown runtime %q (compiled in: %s)", name, runtimeNames())
}

func runtimeNames() string {
	var names []string
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
