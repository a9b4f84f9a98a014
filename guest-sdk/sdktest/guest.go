// Package sdktest loads built guest modules for the tests of the SDKs and
// plugins of every language, and drives them through the ABI the way the
// host does (ABI.md §1–2): with wazero directly, not through runtime/, so
// that a host bug cannot hide a guest bug. It also holds the suite that
// compares each SDK's plugins with the Go ones byte for byte
// (RunConformance). Nothing outside tests imports it.
package sdktest

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wstream/wstream/abi"
)

// cache shares compiled modules between the tests of one binary: compiling
// a Go plugin is most of a test's time.
var cache = wazero.NewCompilationCache()

// Guest is one instance of a plugin.
type Guest struct {
	Name     string // the file's base name
	Compiled wazero.CompiledModule
	Module   api.Module
	Manifest *abi.Manifest
	Stderr   bytes.Buffer // what the guest wrote to stdout and stderr

	tb   testing.TB
	logs []string
	fns  map[string]api.Function // ExportedFunction makes a new call engine each time
}

// Load reads and instantiates the module at path, runs _initialize, and
// checks its imports, ABI version and manifest.
func Load(tb testing.TB, path string) *Guest {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return LoadBytes(tb, filepath.Base(path), wasm)
}

// LoadBytes is Load for a module in memory; name labels failures.
func LoadBytes(tb testing.TB, name string, wasm []byte) *Guest {
	tb.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true).WithCompilationCache(cache))
	tb.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	g := &Guest{Name: name, tb: tb, fns: map[string]api.Function{}}
	_, err := r.NewHostModuleBuilder(abi.ImportModule).NewFunctionBuilder().
		WithFunc(func(_ context.Context, m api.Module, level, ptr, n uint32) {
			b, _ := m.Memory().Read(ptr, n)
			g.logs = append(g.logs, fmt.Sprintf("%d:%s", level, b))
		}).Export(abi.ImportLog).Instantiate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if g.Compiled, err = r.CompileModule(ctx, wasm); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	for _, f := range g.Compiled.ImportedFunctions() {
		mod, fn, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName && (mod != abi.ImportModule || fn != abi.ImportLog) {
			tb.Errorf("%s imports %s.%s; only %s and %s.%s are provided", name, mod, fn, wasi_snapshot_preview1.ModuleName, abi.ImportModule, abi.ImportLog)
		}
	}
	for _, m := range g.Compiled.ImportedMemories() {
		mod, fn, _ := m.Import()
		tb.Errorf("%s imports memory %s.%s", name, mod, fn)
	}
	cfg := wazero.NewModuleConfig().WithName(name).WithStartFunctions().WithStdout(&g.Stderr).WithStderr(&g.Stderr)
	if g.Module, err = r.InstantiateModule(ctx, g.Compiled, cfg); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	if _, ok := g.Compiled.ExportedFunctions()[abi.ExportInitialize]; ok {
		g.Export(abi.ExportInitialize)
	}
	if v := g.Export(abi.ExportVersion); v != abi.Version {
		tb.Fatalf("%s: %s = %d", name, abi.ExportVersion, v)
	}
	if g.Manifest, err = abi.DecodeManifest(g.RawManifest()); err != nil {
		tb.Fatalf("%s: manifest: %v", name, err)
	}
	return g
}

// Logs are the wstream_v1.log calls so far, each "LEVEL:MESSAGE".
func (g *Guest) Logs() []string { return g.logs }

// Try calls an export and returns its first result, or the error of a
// trap.
func (g *Guest) Try(name string, args ...uint64) (uint64, error) {
	f := g.fns[name]
	if f == nil {
		if f = g.Module.ExportedFunction(name); f == nil {
			return 0, fmt.Errorf("no export %s", name)
		}
		g.fns[name] = f
	}
	res, err := f.Call(context.Background(), args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w (stderr %q, logs %q)", name, err, g.Stderr.String(), g.logs)
	}
	if len(res) == 0 {
		return 0, nil
	}
	return res[0], nil
}

// Export calls an export that must not trap and returns its first result.
func (g *Guest) Export(name string, args ...uint64) uint64 {
	g.tb.Helper()
	v, err := g.Try(name, args...)
	if err != nil {
		g.tb.Fatalf("%s: %v", g.Name, err)
	}
	return v
}

// Read copies the packed ptr<<32|len range out of guest memory.
func (g *Guest) Read(packed uint64) []byte {
	g.tb.Helper()
	ptr, n := abi.Unpack(packed)
	b, ok := g.Module.Memory().Read(ptr, n)
	if !ok {
		g.tb.Fatalf("%s: range %d+%d is outside memory", g.Name, ptr, n)
	}
	return bytes.Clone(b)
}

// RawManifest calls wstream_manifest and returns its bytes.
func (g *Guest) RawManifest() []byte { return g.Read(g.Export(abi.ExportManifest)) }

// Input asks wstream_alloc for a buffer, writes in there and returns where.
func (g *Guest) Input(in []byte) uint32 {
	g.tb.Helper()
	ptr := uint32(g.Export(abi.ExportAlloc, uint64(len(in))))
	if ptr == 0 {
		g.tb.Fatalf("%s: wstream_alloc(%d) returned 0", g.Name, len(in))
	}
	if !g.Module.Memory().Write(ptr, in) {
		g.tb.Fatalf("%s: wstream_alloc returned %d, outside memory", g.Name, ptr)
	}
	return ptr
}

// CallID runs function id on the msgpack input and returns the raw response.
func (g *Guest) CallID(id int, in []byte) []byte {
	g.tb.Helper()
	ptr := g.Input(in)
	return g.Read(g.Export(abi.ExportCall, uint64(id), uint64(ptr), uint64(len(in))))
}

// ID is the id of the named function.
func (g *Guest) ID(fn string) int {
	g.tb.Helper()
	id, _, ok := g.Manifest.Lookup(fn)
	if !ok {
		g.tb.Fatalf("%s has no function %q", g.Manifest.Name, fn)
	}
	return id
}

// Call runs the named function on the msgpack input.
func (g *Guest) Call(fn string, in []byte) []byte {
	g.tb.Helper()
	return g.CallID(g.ID(fn), in)
}

// CallJSON runs the named function on a JSON input and renders the
// response as JSON.
func (g *Guest) CallJSON(fn, in string) string {
	g.tb.Helper()
	return ToJSON(g.tb, g.Call(fn, JSON(g.tb, in)))
}

// JSON encodes a JSON text as msgpack.
func JSON(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := abi.FromJSON(nil, []byte(s))
	if err != nil {
		tb.Fatalf("%s: %v", s, err)
	}
	return b
}

// Hex decodes hex digits, spaces allowed.
func Hex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("%s: %v", s, err)
	}
	return b
}

// ToJSON renders msgpack as JSON.
func ToJSON(tb testing.TB, b []byte) string {
	tb.Helper()
	j, err := abi.AppendJSON(nil, b)
	if err != nil {
		tb.Fatalf("% x: %v", b, err)
	}
	return string(j)
}

// Show renders msgpack for a failure message: as JSON when it decodes, and
// as hex.
func Show(b []byte) string {
	s, err := abi.AppendJSON(nil, b)
	if err != nil {
		return hex.EncodeToString(b)
	}
	return string(s) + "  " + hex.EncodeToString(b)
}
