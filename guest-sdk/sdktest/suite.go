package sdktest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime/wasmtest"
)

// Root is the repository's root folder.
func Root() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Run runs a command in dir and fails the test with its output if it fails.
func Run(tb testing.TB, dir string, name string, args ...string) {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), dir, err, out)
	}
}

var goBuilds sync.Map // plugin name -> its fresh Go build

// GoPlugin loads the Go reference plugin plugins/NAME, built from the
// current source (as `make plugins` builds it): a stale NAME.wasm would
// compare against yesterday's semantics, and the checked-out one belongs to
// whoever last ran make.
func GoPlugin(tb testing.TB, name string) *Guest {
	tb.Helper()
	wasm, ok := goBuilds.Load(name)
	if !ok {
		b, err := wasmtest.BuildGo(filepath.Join(Root(), "plugins", name))
		if err != nil {
			tb.Fatalf("building the Go %s plugin: %v", name, err)
		}
		wasm, _ = goBuilds.LoadOrStore(name, b)
	}
	return LoadBytes(tb, name+".wasm", wasm.([]byte))
}

// SDK is one guest SDK whose plugins RunConformance compares with Go's.
type SDK struct {
	// Lang is the manifest's language and the plugins' folder:
	// plugins/NAME/LANG builds NAME.wasm with its Makefile.
	Lang string
	// Require skips the test when the SDK's toolchain is missing.
	Require func(testing.TB)
	// PassesBadUTF8 is set when strings that are not UTF-8 pass through
	// as in Go, rather than failing their record (BadUTF8Cases).
	PassesBadUTF8 bool
}

// Plugin builds plugins/NAME/LANG/NAME.wasm and loads it.
func (s SDK) Plugin(tb testing.TB, name string) *Guest {
	tb.Helper()
	s.Require(tb)
	dir := filepath.Join(Root(), "plugins", name, s.Lang)
	Run(tb, dir, "make", "-s")
	return Load(tb, filepath.Join(dir, name+".wasm"))
}

// RunConformance checks that every response of the SDK's conformance and
// wordcount plugins is byte-identical to the Go plugin's for the same
// input: the vocabulary must mean the same thing in every SDK, down to the
// encoding of ints and floats and the text of error messages.
func RunConformance(t *testing.T, s SDK) {
	t.Run("ConformanceMatchesGo", func(t *testing.T) { conformanceMatchesGo(t, s) })
	t.Run("BuffersAcrossCalls", func(t *testing.T) { buffersAcrossCalls(t, s) })
	t.Run("Manifest", func(t *testing.T) { manifest(t, s) })
	t.Run("WordcountMatchesGo", func(t *testing.T) { wordcountMatchesGo(t, s) })
}

// VocabularyCases are (function, input) pairs covering every function of
// the vocabulary, its type errors, and the ABI's edge cases. Inputs are JSON
// unless they start with "hex:" (Input).
var VocabularyCases = []struct{ Fn, In string }{
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

// BadUTF8Cases hold strings that are not UTF-8: Go passes their bytes
// through; an SDK whose strings must be UTF-8 fails those records instead.
var BadUTF8Cases = []struct{ Fn, In string }{
	{"identity", `hex:92 a2c328 a3e282ac`},
	{"to-string", `hex:92 c40261ff a4e282acff`},
	{"split-words", `hex:91 a461ff2062`},
}

// Input encodes a case's input: JSON, or hex after "hex:".
func Input(tb testing.TB, s string) []byte {
	tb.Helper()
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		return Hex(tb, h)
	}
	return JSON(tb, s)
}

func conformanceMatchesGo(t *testing.T, s SDK) {
	got := s.Plugin(t, "conformance")
	want := GoPlugin(t, "conformance")
	cases := VocabularyCases
	if s.PassesBadUTF8 {
		cases = append(cases, BadUTF8Cases...)
	}
	for _, tc := range cases {
		in := Input(t, tc.In)
		w, g := want.Call(tc.Fn, in), got.Call(tc.Fn, in)
		if !bytes.Equal(w, g) {
			t.Errorf("%s(%s):\n got  %s\n want %s", tc.Fn, tc.In, Show(g), Show(w))
		} else if testing.Verbose() {
			t.Logf("%s(%s) = %s", tc.Fn, tc.In, Show(g))
		}
	}
	// Ids the plugin does not have, and input outside the alloc buffer.
	for _, id := range []int{-1, len(want.Manifest.Functions), 1000} {
		w, g := want.CallID(id, JSON(t, `[1]`)), got.CallID(id, JSON(t, `[1]`))
		if !bytes.Equal(w, g) {
			t.Errorf("function %d:\n got  %s\n want %s", id, Show(g), Show(w))
		}
	}
	for _, g := range []*Guest{want, got} {
		g.Export(abi.ExportAlloc, 8)
	}
	w := want.Read(want.Export(abi.ExportCall, 0, 0, 4))
	g := got.Read(got.Export(abi.ExportCall, 0, 0, 4))
	if !bytes.Equal(w, g) {
		t.Errorf("input outside the buffer:\n got  %s\n want %s", Show(g), Show(w))
	}
}

// buffersAcrossCalls: each call reuses the SDK's buffers and arena: a big
// batch, then a small one, then a big one again must all answer correctly.
func buffersAcrossCalls(t *testing.T, s SDK) {
	got := s.Plugin(t, "conformance")
	want := GoPlugin(t, "conformance")
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
		b := JSON(t, in)
		w, g := want.Call("split-words", b), got.Call("split-words", b)
		if !bytes.Equal(w, g) {
			t.Fatalf("split-words on %d bytes: responses differ (got %d bytes, want %d)", len(b), len(g), len(w))
		}
	}
	deep := strings.Repeat("[", 500) + strings.Repeat("]", 500)
	b := JSON(t, "["+deep+"]")
	if w, g := want.Call("identity", b), got.Call("identity", b); !bytes.Equal(w, g) {
		t.Errorf("deep nesting: got %s, want %s", Show(g), Show(w))
	}
}

func manifest(t *testing.T, s SDK) {
	for _, name := range []string{"conformance", "wordcount"} {
		got := s.Plugin(t, name).Manifest
		want := GoPlugin(t, name).Manifest
		if got.Language != s.Lang || got.Name != want.Name || got.Version != want.Version || got.Pipeline != want.Pipeline {
			t.Errorf("%s manifest: got %+v, want %+v with language %q", name, got, want, s.Lang)
		}
		if fmt.Sprint(got.Functions) != fmt.Sprint(want.Functions) {
			t.Errorf("%s functions:\n got  %v\n want %v", name, got.Functions, want.Functions)
		}
	}
}

func wordcountMatchesGo(t *testing.T, s SDK) {
	got := s.Plugin(t, "wordcount")
	want := GoPlugin(t, "wordcount")
	lines := SampleLines(t, 1)
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
		{"pair-with-one", JSON(t, `["a", "b", ""]`)},
		{"sum", JSON(t, `[[1, 1, 1], [1], [2, "x"]]`)},
	}
	for _, c := range cases {
		if w, g := want.Call(c.fn, c.in), got.Call(c.fn, c.in); !bytes.Equal(w, g) {
			t.Errorf("%s:\n got  %s\n want %s", c.fn, Show(g), Show(w))
		}
	}
}

// SampleLines is the wordcount sample, repeated n times.
func SampleLines(tb testing.TB, n int) []any {
	tb.Helper()
	sample, err := os.ReadFile(filepath.Join(Root(), "plugins/wordcount/sample.txt"))
	if err != nil {
		tb.Fatal(err)
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
// four ones (sum), in the Go plugin and in the SDK's.
func BenchmarkWordcount(b *testing.B, s SDK) {
	lines := SampleLines(b, 32)
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
		g    *Guest
	}{{"go", GoPlugin(b, "wordcount")}, {s.Lang, s.Plugin(b, "wordcount")}}
	for _, st := range stages {
		in, err := abi.Append(nil, st.input)
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range guests {
			b.Run(st.fn+"/"+g.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					g.g.Call(st.fn, in)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(st.input)), "ns/item")
			})
		}
	}
}
