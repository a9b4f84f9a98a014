// Package plugins_test proves the ABI from the guest side: it builds the Go
// plugins with `make plugins`, loads each .wasm with wazero directly (sdktest,
// not through runtime/, so a host bug cannot hide a guest bug), and checks the
// exports, the manifest and the responses of wstream_call byte for byte
// (rendered as JSON).
package plugins_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/guest-sdk/sdktest"
	"github.com/wstream/wstream/host/pipeline"
)

var (
	buildOnce sync.Once
	buildErr  error
	buildOut  []byte
)

// build runs `make plugins` from the repository root once per test binary.
func build(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		cmd := exec.Command("make", "plugins")
		if _, err := exec.LookPath("make"); err != nil {
			// No make here: the same command the Makefile runs, per plugin.
			cmd = exec.Command("sh", "-c", `for d in plugins/*/main.go; do d=${d%/main.go}; GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o $d/${d#plugins/}.wasm ./$d || exit 1; done`)
		}
		cmd.Dir = ".."
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("make plugins: %v\n%s", buildErr, buildOut)
	}
}

// load builds the plugins and loads plugins/NAME/NAME.wasm.
func load(t *testing.T, name string) *sdktest.Guest {
	t.Helper()
	build(t)
	return sdktest.Load(t, filepath.Join(name, name+".wasm"))
}

func TestExports(t *testing.T) {
	for _, name := range []string{"wordcount", "conformance"} {
		g := load(t, name)
		fns := g.Compiled.ExportedFunctions()
		sig := func(f api.FunctionDefinition) string {
			s := "("
			for _, p := range f.ParamTypes() {
				s += api.ValueTypeName(p) + " "
			}
			s = strings.TrimSpace(s) + ") ->"
			for _, r := range f.ResultTypes() {
				s += " " + api.ValueTypeName(r)
			}
			return s
		}
		for export, want := range map[string]string{
			abi.ExportVersion:    "() -> i32",
			abi.ExportAlloc:      "(i32) -> i32",
			abi.ExportManifest:   "() -> i64",
			abi.ExportCall:       "(i32 i32 i32) -> i64",
			abi.ExportInitialize: "() ->",
		} {
			f, ok := fns[export]
			if !ok {
				t.Errorf("%s: no export %s", name, export)
			} else if got := sig(f); got != want {
				t.Errorf("%s: %s has signature %s, want %s", name, export, got, want)
			}
		}
		if _, ok := g.Compiled.ExportedMemories()["memory"]; !ok {
			t.Errorf("%s: no exported memory", name)
		}
		if _, ok := fns["_start"]; ok {
			t.Errorf("%s exports _start: built as a command, not a reactor", name)
		}
		for _, imp := range g.Compiled.ImportedFunctions() {
			mod, fn, _ := imp.Import()
			if mod != "wasi_snapshot_preview1" && mod != abi.ImportModule {
				t.Errorf("%s imports %s.%s", name, mod, fn)
			}
		}
		if v := uint32(g.Export(abi.ExportVersion)); v != abi.Version {
			t.Errorf("%s: wstream_abi_version = %d", name, v)
		}
	}
}

func TestWordcount(t *testing.T) {
	g := load(t, "wordcount")
	m, raw := g.Manifest, g.RawManifest()
	want := `{"abi":1,"name":"wordcount","version":"1.0.0","language":"go","functions":[` +
		`{"name":"split-words","kind":"flatMap"},{"name":"pair-with-one","kind":"map"},{"name":"sum","kind":"reduce"}],` +
		`"pipeline":"stages:\n  - {op: flatMap, fn: split-words}\n  - {op: map, fn: pair-with-one}\n  - {op: reduceByKey, fn: sum}\n"}`
	if got := sdktest.ToJSON(t, raw); got != want {
		t.Errorf("manifest\n got %s\nwant %s", got, want)
	}
	if _, err := pipeline.Parse([]byte(m.Pipeline)); err != nil {
		t.Errorf("default pipeline does not parse: %v", err)
	}
	for _, tt := range []struct{ fn, in, want string }{
		{"split-words", `["a b","a  b "," ",""]`, `[0,[["a","b"],["a","","b",""],["",""],[""]],[]]`},
		{"split-words", `["ok",7]`, `[0,[["ok"],null],[[1,"split-words wants a line of text, got int64"]]]`},
		{"pair-with-one", `["a","b"]`, `[0,[["a",1],["b",1]],[]]`},
		{"sum", `[[1,1,1],[1],[2,3]]`, `[0,[3,1,5],[]]`},
		{"sum", `[]`, `[0,[],[]]`},
	} {
		if got := g.CallJSON(tt.fn, tt.in); got != tt.want {
			t.Errorf("%s(%s)\n got %s\nwant %s", tt.fn, tt.in, got, tt.want)
		}
	}
	// ABI.md §8, to the byte.
	if got := g.CallID(g.ID("pair-with-one"), []byte{0x92, 0xa1, 0x61, 0xa1, 0x62}); !bytes.Equal(got,
		[]byte{0x93, 0x00, 0x92, 0x92, 0xa1, 0x61, 0x01, 0x92, 0xa1, 0x62, 0x01, 0x90}) {
		t.Errorf("ABI.md §8 example: got % x", got)
	}
}

// TestWordcountSample runs the default pipeline by hand over sample.txt, as
// one batch: flatMap, map, group by encoded key (as the host does), reduce.
func TestWordcountSample(t *testing.T) {
	g := load(t, "wordcount")
	f, err := os.Open("wordcount/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []abi.Raw
	want := map[string]int64{}
	for s := bufio.NewScanner(f); s.Scan(); {
		lines = append(lines, abi.AppendString(nil, s.Text()))
		for _, w := range strings.Split(s.Text(), " ") {
			want[w]++
		}
	}
	results := func(resp []byte, n int) []abi.Raw {
		r, err := abi.DecodeResponse(resp, n, nil)
		if err != nil || len(r.Errors) > 0 {
			t.Fatalf("response %s: %v", sdktest.ToJSON(t, resp), err)
		}
		return r.Results
	}
	var words []abi.Raw
	for _, ws := range results(g.CallID(g.ID("split-words"), abi.AppendArray(nil, lines)), len(lines)) {
		words, _, _ = abi.SplitArray(words, ws)
	}
	pairs := results(g.CallID(g.ID("pair-with-one"), abi.AppendArray(nil, words)), len(words))
	groups := map[string][]abi.Raw{}
	var keys []string
	for _, p := range pairs {
		k, v, err := abi.SplitPair(p)
		if err != nil {
			t.Fatal(err)
		}
		if groups[string(k)] == nil {
			keys = append(keys, string(k))
		}
		groups[string(k)] = append(groups[string(k)], v)
	}
	in := abi.AppendArrayHeader(nil, len(keys))
	for _, k := range keys {
		in = abi.AppendArray(in, groups[k])
	}
	sums := results(g.CallID(g.ID("sum"), in), len(keys))
	got := map[string]int64{}
	for i, k := range keys {
		w, _, _ := abi.ReadString([]byte(k))
		got[w], _, _ = abi.ReadInt(sums[i])
	}
	if len(got) != len(want) || len(want) < 50 {
		t.Fatalf("%d distinct words, want %d", len(got), len(want))
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("count of %q = %d, want %d", w, got[w], n)
		}
	}
}

// conformanceCases covers every function of the vocabulary (plugins/conformance/README.md).
var conformanceCases = []struct{ fn, in, want string }{
	{"identity", `[1,"a",null,[1,2],{"k":1.5},true]`, `[0,[1,"a",null,[1,2],{"k":1.5},true],[]]`},
	{"to-string", `[1,-20,"s",2.5,["a",1]]`, `[0,["1","-20","s","2.5","(a,1)"],[]]`},
	{"pair-with-one", `["a",""]`, `[0,[["a",1],["",1]],[]]`},
	{"pair-with-x", `["a",1]`, `[0,[["a","x"],[1,"x"]],[]]`},
	{"add-4", `[1,2.5,"a",-4]`, `[0,[5,6.5,null,0],[[2,"cannot compute \"a\" (string) + 4 (int64): want numbers"]]]`},
	{"add-8", `[0,100]`, `[0,[8,108],[]]`},
	{"add-10", `[1,1.0]`, `[0,[11,11.0],[]]`},
	{"x-and-double", `[1,2,3,4]`, `[0,[[1,2],[2,4],[3,6],[4,8]],[]]`},
	{"v-and-v-plus-10", `[1,2,0.5]`, `[0,[[1,11],[2,12],[0.5,10.5]],[]]`},
	{"is-even", `[1,2,3,4,"x"]`, `[0,[false,true,false,true,null],[[4,"is-even wants an int, got string"]]]`},
	{"split-words", `["a b","a  b "," "]`, `[0,[["a","b"],["a","","b",""],["",""]],[]]`},
	{"first", `[["a",1],[[1,2],3],[1]]`, `[0,["a",[1,2],null],[[2,"first wants a pair [a, b]"]]]`},
	{"int-seconds", `[1,2,1500000000]`, `[0,[1000,2000,1500000000000],[]]`},
	{"sum", `[[1,2,3,4],[5],[1.5,1]]`, `[0,[10,5,2.5],[]]`},
	{"subtract", `[[1,2,3,4],[7],[2,1]]`, `[0,[-8,7,1],[]]`},
	{"value-nonzero", `[["a",0],["b",1],["c",-1.5],["d",0.0]]`, `[0,[false,true,true,false],[]]`},
	{"sum-into-state", `[1000,[["a",[1,1],[]],["b",[],[3]],["c",[2],[5]]]]`, `[0,[[2],[3],[7]],[]]`},
	{"add-batch-time-if-values", `[1000,[["a",[1],[]],["b",[],[3]],["c",[9,9],[5]],["d",[],[]]]]`, `[0,[[1000],[3],[1005],[0]],[]]`},
	{"count-expire-after-2-idle", `[1000,[["a",[1,1],[]],["b",[],[[3,0]]],["c",[],[[3,1]]],["d",[0],[]]]]`, `[0,[[[2,0]],[[3,1]],[],[[0,1]]],[]]`},
}

func TestConformance(t *testing.T) {
	g := load(t, "conformance")
	m := g.Manifest
	if m.Name != "conformance" || m.Language != "go" || m.Pipeline != "" {
		t.Errorf("manifest %+v", m)
	}
	var names []string
	for _, f := range m.Functions {
		names = append(names, f.Name+":"+string(f.Kind))
	}
	wantNames := []string{"identity:map", "to-string:map", "pair-with-one:map", "pair-with-x:map",
		"add-4:map", "add-8:map", "add-10:map", "x-and-double:flatMap", "v-and-v-plus-10:flatMap",
		"is-even:filter", "split-words:flatMap", "first:map", "int-seconds:map", "sum:reduce",
		"subtract:reduce", "value-nonzero:filter", "sum-into-state:update",
		"add-batch-time-if-values:update", "count-expire-after-2-idle:update"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("functions\n got %v\nwant %v", names, wantNames)
	}
	tested := map[string]bool{}
	for _, tt := range conformanceCases {
		tested[tt.fn] = true
		if got := g.CallJSON(tt.fn, tt.in); got != tt.want {
			t.Errorf("%s(%s)\n got %s\nwant %s", tt.fn, tt.in, got, tt.want)
		}
	}
	for _, f := range m.Functions {
		if !tested[f.Name] {
			t.Errorf("no case for %s", f.Name)
		}
		// An empty input array is legal for every kind.
		if got := g.CallJSON(f.Name, `[]`); got != `[0,[],[]]` {
			t.Errorf("%s([]) = %s", f.Name, got)
		}
	}
	if len(g.Stderr.String()) > 0 || len(g.Logs()) > 0 {
		t.Errorf("unexpected output: stderr %q, logs %q", g.Stderr.String(), g.Logs())
	}
}

func TestCallErrors(t *testing.T) {
	g := load(t, "conformance")
	n := len(conformanceCases)
	in, _ := abi.FromJSON(nil, []byte(`[1]`))
	if got, want := sdktest.ToJSON(t, g.CallID(n, in)), `[2,"plugin \"conformance\" has no function 19 (it has 19)",[]]`; got != want {
		t.Errorf("unknown id: got %s, want %s", got, want)
	}
	if got, want := sdktest.ToJSON(t, g.CallID(g.ID("identity"), []byte{0x92, 0x01})), `[1,"identity: want an array of elements: msgpack: container of 2 elements in 1 bytes",[]]`; got != want {
		t.Errorf("bad input: got %s, want %s", got, want)
	}
	// A range outside the alloc buffer is refused, not read.
	ptr := uint32(g.Export(abi.ExportAlloc, 16))
	for _, r := range [][2]uint32{{ptr - 1, 16}, {ptr, 1 << 30}, {0, 16}} {
		resp := g.Read(g.Export(abi.ExportCall, 0, uint64(r[0]), uint64(r[1])))
		if got := sdktest.ToJSON(t, resp); got != `[1,"input is not inside the wstream_alloc buffer",[]]` {
			t.Errorf("input at %d+%d: got %s", r[0], r[1], got)
		}
	}
}

// A big batch makes the guest grow its buffers; a small one after it must
// still be answered right from the reused ones.
func TestBigBatchThenSmall(t *testing.T) {
	g := load(t, "conformance")
	const n = 200000
	in := abi.AppendArrayHeader(nil, n)
	for i := range n {
		in = abi.AppendInt(in, int64(i))
	}
	resp := g.CallID(g.ID("x-and-double"), in)
	r, err := abi.DecodeResponse(resp, n, nil)
	if err != nil || len(r.Errors) != 0 {
		t.Fatalf("%v %v", err, r.Errors)
	}
	if got := sdktest.ToJSON(t, r.Results[n-1]); got != `[199999,399998]` {
		t.Errorf("last result %s", got)
	}
	if got := g.CallJSON("to-string", `[7]`); got != `[0,["7"],[]]` {
		t.Errorf("after a big batch: %s", got)
	}
}
