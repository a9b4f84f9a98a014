package rustsdk_test

// These tests build the Rust conformance and wordcount plugins and compare
// them with the Go ones (sdktest.RunConformance), then check what is the
// Rust SDK's own: strings must be UTF-8, and a panic traps.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/guest-sdk/sdktest"
)

// rustc is Debian's, whose wasm32 standard library comes from
// libstd-rust-dev-wasm32; a rustup toolchain on PATH may lack it.
const rustc = "/usr/bin/rustc"

var sdk = sdktest.SDK{Lang: "rust", Require: requireToolchain}

func requireToolchain(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(rustc); err != nil {
		t.Skipf("%s not found: apt-get install -y rustc libstd-rust-dev-wasm32 to test the Rust SDK", rustc)
	}
	out, err := exec.Command(rustc, "--print", "target-libdir", "--target", "wasm32-unknown-unknown").Output()
	if err != nil {
		t.Skipf("%s cannot target wasm32-unknown-unknown: apt-get install -y libstd-rust-dev-wasm32", rustc)
	}
	if libs, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "libstd-*.rlib")); len(libs) == 0 {
		t.Skip("no wasm32 standard library: apt-get install -y libstd-rust-dev-wasm32 to test the Rust SDK")
	}
}

func TestConformance(t *testing.T) { sdktest.RunConformance(t, sdk) }

func BenchmarkWordcount(b *testing.B) { sdktest.BenchmarkWordcount(b, sdk) }

// A str that is not UTF-8 fails just its record, with a message that says so.
func TestInvalidUTF8IsARecordError(t *testing.T) {
	g := sdk.Plugin(t, "conformance")
	for _, tc := range sdktest.BadUTF8Cases {
		in := sdktest.Input(t, tc.In)
		n, _, err := abi.ArrayHeader(in)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := abi.DecodeResponse(g.Call(tc.Fn, in), n, nil)
		if err != nil {
			t.Errorf("%s(%s): %v", tc.Fn, tc.In, err)
			continue
		}
		var bad []string
		for _, e := range resp.Errors {
			bad = append(bad, e.Message)
		}
		if len(bad) == 0 || !strings.Contains(strings.Join(bad, "; "), "invalid UTF-8") {
			t.Errorf("%s(%s): record errors %q, want one about invalid UTF-8", tc.Fn, tc.In, bad)
		}
	}
}

// A panic traps (wasm32-unknown-unknown aborts on panic): the host sees a
// failed call, and the panic hook has logged which function and item.
func TestPanicIsLoggedAndTraps(t *testing.T) {
	requireToolchain(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "panics.rs")
	lib, err := filepath.Abs("wstream.rs")
	if err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(src, []byte(fmt.Sprintf(`
#[path = %q]
mod wstream;
use wstream::{Plugin, Value};

pub fn register(p: &mut Plugin) {
    p.name("panics", "0");
    p.map("boom-on-2", |x| {
        if x == Value::Int(2) {
            panic!("two is too many");
        }
        wstream::log(1, "fine");
        Ok(x)
    });
}
`, lib)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(dir, "panics.wasm")
	sdktest.Run(t, dir, rustc, "--edition", "2021", "--crate-type", "cdylib", "--target", "wasm32-unknown-unknown", "-O", "-o", wasm, src)
	g := sdktest.Load(t, wasm)
	if got := g.Call("boom-on-2", sdktest.JSON(t, `[1]`)); !bytes.Equal(got, sdktest.JSON(t, `[0, [1], []]`)) {
		t.Fatalf("boom-on-2([1]) = %s", sdktest.Show(got))
	}
	in := sdktest.JSON(t, `[1, 2]`)
	if _, err := g.Try(abi.ExportCall, 0, uint64(g.Input(in)), uint64(len(in))); err == nil {
		t.Fatal("a panic did not trap")
	}
	logs := strings.Join(g.Logs(), "\n")
	if !strings.Contains(logs, "1:fine") || !strings.Contains(logs, "3:wstream: boom-on-2 panicked on item 1: ") || !strings.Contains(logs, "two is too many") {
		t.Errorf("logs:\n%s", logs)
	}
}
