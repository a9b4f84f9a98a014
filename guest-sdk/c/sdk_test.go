package csdk_test

// These tests build the C conformance and wordcount plugins and check that
// every response is byte-identical to the Go plugin's for the same input:
// the vocabulary must mean the same thing in every SDK, down to the
// encoding of ints and floats and the text of error messages.
//
// The harness is repeated in guest-sdk/rust/sdk_test.go (a different
// package) rather than shared through a package that exists only for tests.

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wstream/wstream/abi"
)

const lang = "c"

func root(t testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}

func requireToolchain(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"clang", "wasm-ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: apt-get install -y clang lld wasi-libc to test the C SDK", tool)
		}
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err != nil {
		t.Skip("wasi-libc not found: apt-get install -y wasi-libc to test the C SDK")
	}
}

func run(t testing.TB, dir string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

var (
	goBuilds sync.Map                       // plugin name -> path of its fresh Go build
	goDir    string                         // where those builds go; removed by TestMain
	cache    = wazero.NewCompilationCache() // compile each module once per test run
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wstream-sdk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	goDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goPlugin returns the Go reference plugin, built from the current source
// into a temporary folder (as `make plugins` builds it): a stale
// plugins/NAME/NAME.wasm would compare against yesterday's semantics, and
// the checked-out one belongs to whoever last ran make.
func goPlugin(t testing.TB, name string) string {
	if p, ok := goBuilds.Load(name); ok {
		return p.(string)
	}
	out := filepath.Join(goDir, name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./plugins/"+name)
	cmd.Dir = root(t)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the Go %s plugin: %v\n%s", name, err, b)
	}
	goBuilds.Store(name, out)
	return out
}

// sdkPlugin builds plugins/NAME/<lang>/NAME.wasm with its Makefile.
func sdkPlugin(t testing.TB, name string) string {
	requireToolchain(t)
	dir := filepath.Join(root(t), "plugins", name, lang)
	run(t, dir, "make", "-s")
	return filepath.Join(dir, name+".wasm")
}

// guest is one instance of a plugin, driven through the ABI as the host
// drives it.
type guest struct {
	t        testing.TB
	ctx      context.Context
	mod      api.Module
	manifest *abi.Manifest
	logs     *[]string
}

func load(t testing.TB, path string) *guest {
	t.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).WithCompilationCache(cache))
	t.Cleanup(func() { rt.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	logs := &[]string{}
	_, err = rt.NewHostModuleBuilder("wstream_v1").NewFunctionBuilder().
		WithFunc(func(ctx context.Context, m api.Module, level, ptr, n uint32) {
			b, _ := m.Memory().Read(ptr, n)
			*logs = append(*logs, fmt.Sprintf("%d %s", level, b))
		}).Export("log").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	mod, err := rt.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().
		WithName(filepath.Base(path)).WithStartFunctions().WithStderr(&stderr))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if init := mod.ExportedFunction("_initialize"); init != nil {
		if _, err := init.Call(ctx); err != nil {
			t.Fatalf("%s: _initialize: %v\n%s", path, err, stderr.String())
		}
	}
	g := &guest{t: t, ctx: ctx, mod: mod, logs: logs}
	if v := g.call1("wstream_abi_version"); v != 1 {
		t.Fatalf("%s: wstream_abi_version = %d", path, v)
	}
	m, err := abi.DecodeManifest(g.read(g.call1("wstream_manifest")))
	if err != nil {
		t.Fatalf("%s: manifest: %v", path, err)
	}
	g.manifest = m
	return g
}

func (g *guest) call1(name string, args ...uint64) uint64 {
	g.t.Helper()
	f := g.mod.ExportedFunction(name)
	if f == nil {
		g.t.Fatalf("no export %s", name)
	}
	res, err := f.Call(g.ctx, args...)
	if err != nil {
		g.t.Fatalf("%s: %v", name, err)
	}
	return res[0]
}

func (g *guest) read(packed uint64) []byte {
	g.t.Helper()
	ptr, n := abi.Unpack(packed)
	b, ok := g.mod.Memory().Read(ptr, n)
	if !ok {
		g.t.Fatalf("response [%d, +%d) is outside memory", ptr, n)
	}
	return append([]byte(nil), b...)
}

// callID sends input to function id and returns the raw response.
func (g *guest) callID(id int, input []byte) []byte {
	g.t.Helper()
	ptr := uint32(g.call1("wstream_alloc", uint64(len(input))))
	if ptr == 0 {
		g.t.Fatal("wstream_alloc returned 0")
	}
	if !g.mod.Memory().Write(ptr, input) {
		g.t.Fatal("alloc buffer is outside memory")
	}
	return g.read(g.call1("wstream_call", uint64(id), uint64(ptr), uint64(len(input))))
}

func (g *guest) call(fn string, input []byte) []byte {
	g.t.Helper()
	id, _, ok := g.manifest.Lookup(fn)
	if !ok {
		g.t.Fatalf("%s has no function %q", g.manifest.Name, fn)
	}
	return g.callID(id, input)
}

func show(b []byte) string {
	s, err := abi.AppendJSON(nil, b)
	if err != nil {
		return hex.EncodeToString(b)
	}
	return string(s) + "  " + hex.EncodeToString(b)
}

func mustJSON(t testing.TB, s string) []byte {
	b, err := abi.FromJSON(nil, []byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return b
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return b
}

// vocabularyCases are (function, input) pairs covering every function of
// the vocabulary, its type errors, and the ABI's edge cases. Inputs are JSON
// unless they start with "hex:".
var vocabularyCases = []struct{ fn, in string }{
	{"identity", `[1, -1, 300, -300, 40000, 70000, -70000, 3000000000, 5000000000, -5000000000, 9223372036854775807, -9223372036854775808]`},
	{"identity", `[null, true, false, 0.5, -0.0, 1e300, "", "héllo", [], [1, [2, [3]]], {}, {"b": 1, "a": [true]}]`},
	{"identity", `[18446744073709551615]`},
	{"identity", `hex:93 ca3f800000 d001 cd0001`},              // float32 1.0 widens to float64; non-canonical ints
	{"identity", `hex:92 c40301ff02 82a162 01 a161 02`},        // bin stays bin; map keys sorted
	{"identity", `hex:92 83a16101a16202a16103 81c4016b01`},     // duplicate keys (last wins); bin key
	{"identity", `hex:94 81 01 02 d40102 c70201ffff a3616263`}, // int key, ext: record errors
	{"to-string", `[12, -3, 0, "s", 2.5, 2.0, 1e21, 1e6, 123456.0, 0.0001, 0.00001, 1.5e-7, -0.0, [1, "a"], null, true, {"k": [1.0]}]`},
	{"to-string", `[9223372036854775807, -9223372036854775808, 18446744073709551615, 0.1, 1e-320, 3.141592653589793]`},
	{"to-string", `hex:92 a3220a01 ca3dcccccd`}, // control characters; float32 0.1
	{"to-string", `hex:91 82 01 a161 c3 c0`},
	{"pair-with-one", `["a", "b", 1, null]`},
	{"pair-with-x", `["a", 2, [1]]`},
	{"add-4", `[1, 0.5, -4, "two", null, true, [], {}, 9223372036854775807]`},
	{"add-8", `[1, 2.25]`},
	{"add-10", `[-10, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz", [1, "a", null, 2.5, [true]], {"k": "v", "a": null}]`},
	{"add-10", `hex:93 c4020102 cfffffffffffffffff a1 0a`},
	{"x-and-double", `[3, 1.5, "s", null]`},
	{"v-and-v-plus-10", `[2, -2.5, "x"]`},
	{"is-even", `[4, -3, 0, 2.0, "s", null, [2]]`},
	{"split-words", `["a b  c ", "", " ", "one", "héllo wörld", 1, null]`},
	{"first", `[["a", 1], [1, 2, 3], "ab", [], [[1], 2]]`},
	{"int-seconds", `[7, -1, 0, 1.5, "7", 9223372036854775]`},
	{"sum", `[[1, 2, 3], [1], [1.5, 2], [1, "a", 3], [2, 2.5], ["a"], ["a", "b"], [9223372036854775807, 1]]`},
	{"sum", `hex:92 91 d001 92 d001 01`}, // a group of one is copied as is
	{"subtract", `[[10, 1, 2], [1.5, 0.5], [1, null]]`},
	{"value-nonzero", `[["a", 0], ["a", -1], ["a", 0.0], ["a", 0.5], ["a", "x"], ["a"], 1, ["a", null]]`},
	{"sum-into-state", `[1000, [["k", [1, 2], []], ["k", [], []], ["k", [1], [10]], ["k", [0.5], [1]], ["k", [1], ["s"]], ["k", ["x"], []], [1, [], [null]]]]`},
	{"add-batch-time-if-values", `[1000, [["k", [9], []], ["k", [], [5]], ["k", [], []], ["k", [1, 2], [5]], ["k", [], ["s"]], ["k", [1], ["s"]]]]`},
	{"count-expire-after-2-idle", `[0, [["a", [1], []], ["a", [], [[1, 0]]], ["a", [], [[1, 1]]], ["a", [1, 1], [[3, 1]]], ["a", [0.0], [[1, 0]]], ["a", [], [1]], ["a", [], [[1, 1.0]]], ["a", [1], [["c", 0]]], ["a", [], [null]], ["a", [2.5], [[1, 0]]]]]`},
	// Empty batches, and input the function cannot read (batch errors).
	{"identity", `[]`},
	{"sum", `[]`},
	{"sum-into-state", `[]`},
	{"identity", `hex:`},
	{"identity", `"not an array"`},
	{"identity", `hex:92 01`},
	{"identity", `hex:91 01 02`},
	{"identity", `hex:c1`},
	{"identity", `hex:dc ffff`},
	{"sum", `[1]`},
	{"sum", `[[]]`},
	{"sum", `hex:91 92 01`},
	{"sum-into-state", `[1000]`},
	{"sum-into-state", `["t", []]`},
	{"sum-into-state", `[1000, 5]`},
	{"sum-into-state", `[1000, [["k", [1]]]]`},
	{"sum-into-state", `[1000, [["k", 1, []]]]`},
	{"sum-into-state", `[1000, [["k", [1], [1, 2]]]]`},
	{"sum-into-state", `[1000, [["k", [1], 5]]]`},
	{"sum-into-state", `hex:92 cfffffffffffffffff 90`},
	{"sum-into-state", `hex:92 01 91 93 a16b 91 d40102 90`},
	{"sum-into-state", `hex:92 01 91 93 81 01 02 91 01 90`},
	{"sum-into-state", `[1000, [["k", [1], []]], 1]`},
}

// badUTF8Cases hold strings that are not UTF-8: C passes their bytes
// through as Go does (the Rust SDK refuses them).
var badUTF8Cases = []struct{ fn, in string }{
	{"identity", `hex:92 a2c328 a3e282ac`},
	{"to-string", `hex:92 c40261ff a4e282acff`},
	{"split-words", `hex:91 a461ff2062`},
}

func input(t testing.TB, s string) []byte {
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		return mustHex(t, h)
	}
	return mustJSON(t, s)
}

func TestConformanceMatchesGo(t *testing.T) {
	want := load(t, goPlugin(t, "conformance"))
	got := load(t, sdkPlugin(t, "conformance"))
	for _, tc := range append(vocabularyCases, badUTF8Cases...) {
		in := input(t, tc.in)
		w, g := want.call(tc.fn, in), got.call(tc.fn, in)
		if !bytes.Equal(w, g) {
			t.Errorf("%s(%s):\n got  %s\n want %s", tc.fn, tc.in, show(g), show(w))
		} else if testing.Verbose() {
			t.Logf("%s(%s) = %s", tc.fn, tc.in, show(g))
		}
	}
	// Ids the plugin does not have, and input outside the alloc buffer.
	for _, id := range []int{-1, len(want.manifest.Functions), 1000} {
		w, g := want.callID(id, mustJSON(t, `[1]`)), got.callID(id, mustJSON(t, `[1]`))
		if !bytes.Equal(w, g) {
			t.Errorf("function %d:\n got  %s\n want %s", id, show(g), show(w))
		}
	}
	for _, g := range []*guest{want, got} {
		g.call1("wstream_alloc", 8)
	}
	w := want.read(want.call1("wstream_call", 0, 0, 4))
	g := got.read(got.call1("wstream_call", 0, 0, 4))
	if !bytes.Equal(w, g) {
		t.Errorf("input outside the buffer:\n got  %s\n want %s", show(g), show(w))
	}
}

// Each call reuses the SDK's buffers and arena: a big batch, then a small
// one, then a big one again must all answer correctly.
func TestBuffersAcrossCalls(t *testing.T) {
	want := load(t, goPlugin(t, "conformance"))
	got := load(t, sdkPlugin(t, "conformance"))
	var big strings.Builder
	big.WriteString("[")
	for i := 0; i < 20000; i++ {
		if i > 0 {
			big.WriteString(",")
		}
		fmt.Fprintf(&big, `"w%d x%d  y"`, i, i*7)
	}
	big.WriteString("]")
	for _, in := range []string{big.String(), `["a b"]`, big.String(), `[]`} {
		b := mustJSON(t, in)
		w, g := want.call("split-words", b), got.call("split-words", b)
		if !bytes.Equal(w, g) {
			t.Fatalf("split-words on %d bytes: responses differ (got %d bytes, want %d)", len(b), len(g), len(w))
		}
	}
	deep := strings.Repeat("[", 500) + strings.Repeat("]", 500)
	b := mustJSON(t, "["+deep+"]")
	if w, g := want.call("identity", b), got.call("identity", b); !bytes.Equal(w, g) {
		t.Errorf("deep nesting: got %s, want %s", show(g), show(w))
	}
}

func TestManifest(t *testing.T) {
	for _, name := range []string{"conformance", "wordcount"} {
		want := load(t, goPlugin(t, name)).manifest
		got := load(t, sdkPlugin(t, name)).manifest
		if got.Language != lang || got.Name != want.Name || got.Version != want.Version || got.Pipeline != want.Pipeline {
			t.Errorf("%s manifest: got %+v, want %+v with language %q", name, got, want, lang)
		}
		if fmt.Sprint(got.Functions) != fmt.Sprint(want.Functions) {
			t.Errorf("%s functions:\n got  %v\n want %v", name, got.Functions, want.Functions)
		}
	}
}

func TestWordcountMatchesGo(t *testing.T) {
	want := load(t, goPlugin(t, "wordcount"))
	got := load(t, sdkPlugin(t, "wordcount"))
	lines := sampleLines(t, 1)
	lines = append(lines, " two  spaces ", int64(1))
	in, err := abi.Append(nil, lines)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		fn string
		in []byte
	}{
		{"split-words", in},
		{"pair-with-one", mustJSON(t, `["a", "b", ""]`)},
		{"sum", mustJSON(t, `[[1, 1, 1], [1], [2, "x"]]`)},
	}
	for _, c := range cases {
		if w, g := want.call(c.fn, c.in), got.call(c.fn, c.in); !bytes.Equal(w, g) {
			t.Errorf("%s:\n got  %s\n want %s", c.fn, show(g), show(w))
		}
	}
}

// sampleLines is the wordcount sample, repeated n times.
func sampleLines(t testing.TB, n int) []any {
	sample, err := os.ReadFile(filepath.Join(root(t), "plugins/wordcount/sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []any
	for i := 0; i < n; i++ {
		for _, l := range strings.Split(strings.TrimSpace(string(sample)), "\n") {
			lines = append(lines, l)
		}
	}
	return lines
}

// BenchmarkWordcount runs each wordcount stage on one batch of about a
// thousand lines (split-words), their words (pair-with-one) and groups of
// four ones (sum), in the Go plugin and in this SDK's.
func BenchmarkWordcount(b *testing.B) {
	lines := sampleLines(b, 32)
	var words, groups []any
	for _, l := range lines {
		for _, w := range strings.Split(l.(string), " ") {
			words = append(words, w)
		}
	}
	for i := 0; i+4 <= len(words); i += 4 {
		groups = append(groups, []any{int64(1), int64(1), int64(1), int64(1)})
	}
	stages := []struct {
		fn    string
		input []any
	}{{"split-words", lines}, {"pair-with-one", words}, {"sum", groups}}
	guests := []struct {
		name string
		g    *guest
	}{{"go", load(b, goPlugin(b, "wordcount"))}, {lang, load(b, sdkPlugin(b, "wordcount"))}}
	for _, st := range stages {
		in, err := abi.Append(nil, st.input)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range guests {
			b.Run(st.fn+"/"+g.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					g.g.call(st.fn, in)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(st.input)), "ns/item")
			})
		}
	}
}

// The SDK's own rules, which the vocabulary does not reach: results of the
// wrong shape are record errors, hand-built maps are encoded sorted with
// the last of a repeated key, and ws_log reaches the host.
func TestSDKRules(t *testing.T) {
	requireToolchain(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "rules.c")
	err := os.WriteFile(src, []byte(`
#include "wstream.h"

static ws_result same(ws_value x) { return ws_ok(x); }

static ws_result option_of(ws_value key, ws_value values, ws_value state, int64_t t) {
    (void)key, (void)state, (void)t;
    return ws_ok(values); /* [] and [v] are options, anything else is not */
}

static ws_result hand_map(ws_value x) {
    ws_value m = ws_map(3);
    m.m.items[0].key = ws_str("b"); m.m.items[0].value = ws_int(1);
    m.m.items[1].key = ws_str("a"); m.m.items[1].value = x;
    m.m.items[2].key = ws_str("b"); m.m.items[2].value = ws_int(3);
    ws_value text = ws_text(m);
    ws_log(1, "text %.*s", (int)text.s.len, text.s.ptr);
    return ws_ok(m);
}

static ws_result int_key(ws_value x) {
    ws_value m = ws_map(1);
    m.m.items[0].key = x;
    return ws_ok(m);
}

WS_INIT {
    ws_plugin("rules", "0");
    ws_register_flat_map("flat-same", same);
    ws_register_filter("filter-same", same);
    ws_register_update("option-of-values", option_of);
    ws_register_map("hand-map", hand_map);
    ws_register_map("int-key", int_key);
}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(dir, "rules.wasm")
	run(t, dir, "clang", "--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-nodefaultlibs",
		"-I"+sdk, "-o", wasm, src, filepath.Join(sdk, "wstream.c"), "-lc")
	g := load(t, wasm)
	for _, c := range []struct{ fn, in, want string }{
		{"flat-same", `[[1, 2], 3]`, `[0, [[1, 2], null], [[1, "flatMap result must be an array"]]]`},
		{"filter-same", `[true, 1]`, `[0, [true, null], [[1, "filter result must be a bool"]]]`},
		{"option-of-values", `[5, [["k", [], []], ["k", [7], []], ["k", [1, 2], [0]]]]`,
			`[0, [[], [7], null], [[2, "update result must be an option: ws_none() or ws_some(v)"]]]`},
		{"hand-map", `[2.5]`, `[0, [{"a": 2.5, "b": 3}], []]`},
		{"int-key", `["k", 1]`, `[0, [{"k": null}, null], [[1, "msgpack: a map key must be a string"]]]`},
	} {
		if got, want := g.call(c.fn, mustJSON(t, c.in)), mustJSON(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%s(%s):\n got  %s\n want %s", c.fn, c.in, show(got), show(want))
		}
	}
	if logs := strings.Join(*g.logs, "\n"); logs != "1 text Map(a -> 2.5, b -> 3)" {
		t.Errorf("logs: %q", logs)
	}
}
