//go:build !wasip1

package wstream

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wstream/wstream/guest-sdk/sdktest"
	"github.com/wstream/wstream/runtime/wasmtest"
)

// TestWasm builds testdata/sdkprobe as a WASI reactor and drives its exports
// with wazero (sdktest): what the native tests cannot show is that the exports work
// from this package (not main), that recover catches runtime panics inside
// WebAssembly, that the log import reaches the host, and that the buffers
// the host holds survive the GC.
func TestWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm module")
	}
	wasm, err := wasmtest.BuildGo("testdata/sdkprobe")
	if err != nil {
		t.Fatal(err)
	}
	g := sdktest.LoadBytes(t, "sdkprobe.wasm", wasm)
	m := g.Manifest
	if m.Name != "sdkprobe" || m.Language != "go" || m.Pipeline != "stages: []\n" || len(m.Functions) != 7 {
		t.Fatalf("manifest %+v", m)
	}
	run := func(fn, in string) string {
		t.Helper()
		id, _, ok := m.Lookup(fn)
		if !ok {
			id = 99
		}
		return sdktest.ToJSON(t, g.CallID(id, sdktest.JSON(t, in)))
	}

	tests := []struct{ fn, in, want string }{
		{"echo-and-log", `["hello",1]`, `[0,["hello",1],[]]`},
		{"misbehave", `["ok","panic","nil-map","index","divide","nil-pointer","error",3]`,
			`[0,["ok",null,null,null,null,null,null,3],[` +
				`[1,"panic: on purpose"],` +
				`[2,"panic: assignment to entry in nil map"],` +
				`[3,"panic: runtime error: index out of range [5] with length 0"],` +
				`[4,"panic: runtime error: integer divide by zero"],` +
				`[5,"panic: runtime error: invalid memory address or nil pointer dereference"],` +
				`[6,"failed on purpose"]]]`},
		{"gc", `["a","gc","b"]`, `[0,["a","gc","b"],[]]`},
		{"concat", `[["a"],["a","b","c"],[1]]`, `[0,["a","abc",1],[]]`},
		{"concat", `[["a",1]]`, `[0,[null],[[0,"panic: interface conversion: interface {} is int64, not string"]]]`},
		{"describe", `[1700000000000,[["k",[1,2],[]],["j",[],[null]],["drop",[],[1]]]]`,
			`[0,[[["k",[1,2],false,null,1700000000000]],[["j",[],true,null,1700000000000]],[]],[]]`},
		{"repeat", `[0,3,-1]`, `[0,[[],[0,1,2],null],[[2,"want a count"]]]`},
		{"truthy", `[true,false,1]`, `[0,[true,false,false],[]]`},
		{"nope", `[1]`, `[2,"plugin \"sdkprobe\" has no function 99 (it has 7)",[]]`},
	}
	for _, tt := range tests {
		if got := run(tt.fn, tt.in); got != tt.want {
			t.Errorf("%s(%s)\n got %s\nwant %s", tt.fn, tt.in, got, tt.want)
		}
	}
	if strings.Join(g.Logs(), "|") != "2:hello" {
		t.Errorf("logs %q", g.Logs())
	}

	// Buffers grow and are reused: many calls of mixed sizes, with the GC
	// running inside some of them, all answer from the right bytes.
	for i := range 100 {
		n := (i * 7919) % 5000
		in := make([]string, n)
		for j := range in {
			in[j] = fmt.Sprintf("%q", fmt.Sprint(i, "-", j))
		}
		fn := "echo-and-log"
		if i%10 == 0 && n > 0 {
			fn, in[n/2] = "gc", `"gc"`
		}
		want := "[0,[" + strings.Join(in, ",") + "],[]]"
		if got := run(fn, "["+strings.Join(in, ",")+"]"); got != want {
			t.Fatalf("call %d (%d elements): got %.200s", i, n, got)
		}
	}
	if g.Stderr.Len() > 0 {
		t.Errorf("stderr: %s", g.Stderr.String())
	}
}
