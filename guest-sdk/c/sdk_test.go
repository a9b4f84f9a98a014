package csdk_test

// These tests build the C conformance and wordcount plugins and compare
// them with the Go ones (sdktest.RunConformance), then check the SDK's own
// rules.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wstream/wstream/guest-sdk/sdktest"
)

var sdk = sdktest.SDK{Lang: "c", Require: requireToolchain, PassesBadUTF8: true}

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

func TestConformance(t *testing.T) { sdktest.RunConformance(t, sdk) }

func BenchmarkWordcount(b *testing.B) { sdktest.BenchmarkWordcount(b, sdk) }

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
	sdktest.Run(t, dir, "clang", "--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-nodefaultlibs",
		"-I"+sdk, "-o", wasm, src, filepath.Join(sdk, "wstream.c"), "-lc")
	g := sdktest.Load(t, wasm)
	for _, c := range []struct{ fn, in, want string }{
		{"flat-same", `[[1, 2], 3]`, `[0, [[1, 2], null], [[1, "flatMap result must be an array"]]]`},
		{"filter-same", `[true, 1]`, `[0, [true, null], [[1, "filter result must be a bool"]]]`},
		{"option-of-values", `[5, [["k", [], []], ["k", [7], []], ["k", [1, 2], [0]]]]`,
			`[0, [[], [7], null], [[2, "update result must be an option: ws_none() or ws_some(v)"]]]`},
		{"hand-map", `[2.5]`, `[0, [{"a": 2.5, "b": 3}], []]`},
		{"int-key", `["k", 1]`, `[0, [{"k": null}, null], [[1, "msgpack: a map key must be a string"]]]`},
	} {
		if got, want := g.Call(c.fn, sdktest.JSON(t, c.in)), sdktest.JSON(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%s(%s):\n got  %s\n want %s", c.fn, c.in, sdktest.Show(got), sdktest.Show(want))
		}
	}
	if logs := strings.Join(g.Logs(), "\n"); logs != "1:text Map(a -> 2.5, b -> 3)" {
		t.Errorf("logs: %q", logs)
	}
}
