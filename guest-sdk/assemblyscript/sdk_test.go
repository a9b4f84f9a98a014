package assdk_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/guest-sdk/sdktest"
)

// The AssemblyScript plugins are built with their Makefiles and driven with
// wazero directly (sdktest), next to the Go plugins they mirror: for the same call
// input, the response bytes must be identical, record errors included.

const root = "../.."

// build runs the Makefiles once per test binary.
var built struct {
	sync.Once
	skip, fail string
}

func build(t testing.TB) {
	t.Helper()
	built.Do(func() {
		for _, tool := range []string{"node", "npm"} {
			if _, err := exec.LookPath(tool); err != nil {
				built.skip = tool + " is not installed: the AssemblyScript SDK needs node and npm to build"
				return
			}
		}
		dirs := []string{"plugins/conformance/assemblyscript", "plugins/wordcount/assemblyscript"}
		// The Go plugins are the reference: build them when missing or older
		// than their sources.
		for _, p := range []string{"plugins/conformance/conformance.wasm", "plugins/wordcount/wordcount.wasm"} {
			if stale(filepath.Join(root, p), filepath.Join(root, filepath.Dir(p)), filepath.Join(root, "guest-sdk/go"), filepath.Join(root, "abi")) {
				dirs = append(dirs, ".")
				break
			}
		}
		for _, dir := range dirs {
			args := []string{"-s", "-C", filepath.Join(root, dir)}
			if dir == "." {
				args = append(args, "plugins")
			}
			if out, err := exec.Command("make", args...).CombinedOutput(); err != nil {
				built.fail = fmt.Sprintf("make %s: %v\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
	})
	if built.skip != "" {
		t.Skip(built.skip)
	}
	if built.fail != "" {
		t.Fatal(built.fail)
	}
}

// stale reports whether file is missing or older than a .go file in dirs.
func stale(file string, dirs ...string) bool {
	fi, err := os.Stat(file)
	if err != nil {
		return true
	}
	for _, d := range dirs {
		srcs, _ := filepath.Glob(filepath.Join(d, "*.go"))
		for _, s := range srcs {
			if si, err := os.Stat(s); err == nil && si.ModTime().After(fi.ModTime()) {
				return true
			}
		}
	}
	return false
}

// same calls fn on both guests and wants the same bytes back.
func same(t *testing.T, as, goRef *sdktest.Guest, fn string, in []byte) {
	t.Helper()
	got := as.CallID(as.ID(fn), in)
	want := goRef.CallID(goRef.ID(fn), in)
	if !bytes.Equal(got, want) {
		t.Errorf("%s(% x):\n  assemblyscript % x\n  %s\n  go             % x\n  %s", fn, in, got, render(got), want, render(want))
	}
}

func render(b []byte) string {
	s, err := abi.AppendJSON(nil, b)
	if err != nil {
		return err.Error()
	}
	return string(s)
}

func TestManifests(t *testing.T) {
	build(t)
	for _, name := range []string{"conformance", "wordcount"} {
		as := sdktest.Load(t, filepath.Join(root, "plugins", name, "assemblyscript", name+".wasm"))
		goRef := sdktest.Load(t, filepath.Join(root, "plugins", name, name+".wasm"))
		m, want := as.Manifest, goRef.Manifest
		if m.Name != name || m.Language != "assemblyscript" || m.ABI != 1 || m.Version != want.Version {
			t.Errorf("%s manifest: %+v", name, m)
		}
		if fmt.Sprint(m.Functions) != fmt.Sprint(want.Functions) {
			t.Errorf("%s functions:\n  assemblyscript %v\n  go             %v", name, m.Functions, want.Functions)
		}
		if m.Pipeline != want.Pipeline {
			t.Errorf("%s pipeline %q, want %q", name, m.Pipeline, want.Pipeline)
		}
	}
}

// TestConformanceSameBytes is the table: every function on typical input,
// edge cases and wrong types.
func TestConformanceSameBytes(t *testing.T) {
	build(t)
	as := sdktest.Load(t, filepath.Join(root, "plugins/conformance/assemblyscript/conformance.wasm"))
	goRef := sdktest.Load(t, filepath.Join(root, "plugins/conformance/conformance.wasm"))

	elements := `[0, 1, -1, 2, 3, 127, 128, -32, -33, 255, 256, 65535, 65536, -2147483648, 4294967296,
		9223372036854775807, -9223372036854775808, 18446744073709551615,
		0.0, -0.0, 0.5, 2.0, 2.5, -1.5, 1e10, 1e-5, 1e21, 1e7, 9999999.0, 0.001, 1.7976931348623157e308, 5e-324,
		"", "a", "hello world", " a  b ", "ünï cödé", "x\ty\n\"q\"", "日本語 の テキスト",
		null, true, false, [], [1], ["a", 1], [1, 2, 3], [1, "a", null, [2.5, true]],
		{}, {"b": 1, "a": [2]}, {"k": {"x": null}}]`
	for _, fn := range []string{"identity", "to-string", "pair-with-one", "pair-with-x",
		"add-4", "add-8", "add-10", "x-and-double", "v-and-v-plus-10", "is-even",
		"split-words", "first", "int-seconds", "value-nonzero"} {
		same(t, as, goRef, fn, sdktest.JSON(t, elements))
		same(t, as, goRef, fn, sdktest.JSON(t, `[]`))
	}
	pairs := `[["a", 1], ["b", 0], ["c", -0.0], ["d", 0.0], ["e", 2.5], ["f", "x"], ["g", null], [1, 2], ["h"], 7]`
	for _, fn := range []string{"value-nonzero", "first"} {
		same(t, as, goRef, fn, sdktest.JSON(t, pairs))
	}
	words := `["a b  c ", "", " ", "one", "  lead", "trail  ", "tab\tsep", "ü ü"]`
	same(t, as, goRef, "split-words", sdktest.JSON(t, words))

	groups := `[[1, 2, 3, 4], [5], [1, 2.5], [0.5, 0.25], [9223372036854775807, 1], [-9223372036854775808, 1],
		[1, "x", 2], ["x", 1], [[1], 2], [null, 1], [1, 18446744073709551615], [1.5, {"a": 1}],
		[1e308, 1e308], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]]`
	for _, fn := range []string{"sum", "subtract"} {
		same(t, as, goRef, fn, sdktest.JSON(t, groups))
		same(t, as, goRef, fn, sdktest.JSON(t, `[]`))
	}

	updates := `[1000, [["a", [1, 2], []], ["b", [], [5]], ["c", [], []], ["d", [0.5], [1]], ["e", [1], ["s"]],
		["f", ["x"], []], ["g", [], [null]], ["h", [1, 1], [[1, 0]]], ["i", [], [[3, 1]]], ["j", [], [[3, 0]]],
		["k", [0], [[2.5, 1]]], ["l", [1], [[1, "x"]]], ["m", [1], [7]], ["n", [1], [[1]]], ["o", [1], [["c", 0]]],
		["p", [-1, 1], [[4, 0]]], [{"k": 1}, [2], [[1, 1.5]]]]]`
	for _, fn := range []string{"sum-into-state", "add-batch-time-if-values", "count-expire-after-2-idle"} {
		same(t, as, goRef, fn, sdktest.JSON(t, updates))
		same(t, as, goRef, fn, sdktest.JSON(t, `[]`))
		same(t, as, goRef, fn, sdktest.JSON(t, `[0, []]`))
	}
}

// TestBadInputSameBytes: undecodable or misshapen calls fail the batch (or
// the record) with the same code and message.
func TestBadInputSameBytes(t *testing.T) {
	build(t)
	as := sdktest.Load(t, filepath.Join(root, "plugins/conformance/assemblyscript/conformance.wasm"))
	goRef := sdktest.Load(t, filepath.Join(root, "plugins/conformance/conformance.wasm"))
	raw := []string{
		"",                                 // nothing
		"c1",                               // never-used type byte
		"01",                               // not an array
		"92 01",                            // truncated array
		"91 a5 61 62",                      // truncated string
		"92 01 02 03",                      // trailing byte
		"dc 00 05 01",                      // count larger than the input
		"93 d4 01 02 01 c7 01 05 ff",       // ext values: record errors
		"92 81 01 02 81 a1 6b 01",          // map key that is not a string
		"91 81 c4 01 6b 02",                // bin map key reads as a string key
		"92 ca 3f c0 00 00 ca 7f 80 00 00", // float32 widens to float64
		"94 d0 01 cd 00 05 cf 00 00 00 00 00 00 00 07 d3 00 00 00 00 00 00 00 09", // wide ints shorten
		"93 a2 c3 28 a3 e2 82 a1 c4 03 61 20 62",                                  // invalid UTF-8 kept as bytes; bin
		"92 83 a1 62 01 a1 61 02 a1 62 03 c0",                                     // repeated key: the last wins
		"91 d9 03 61 20 62",                                                       // str8 of a short string
	}
	for _, fn := range []string{"identity", "to-string", "split-words", "add-4", "is-even", "x-and-double"} {
		for _, h := range raw {
			same(t, as, goRef, fn, sdktest.Hex(t, h))
		}
	}
	groupsRaw := []string{
		"", "01", "91 90", "91 01", "92 92 01 02", "91 92 01", "91 93 d4 01 02 01 02",
		"91 93 01 d4 01 02 03", "92 91 d4 01 02 92 01 02", "91 92 01 02 00",
	}
	for _, fn := range []string{"sum", "subtract"} {
		for _, h := range groupsRaw {
			same(t, as, goRef, fn, sdktest.Hex(t, h))
		}
	}
	updatesRaw := []string{
		"", "01", "91 01", "93 01 02 03", "92 a1 74 90", "92 cf ff ff ff ff ff ff ff ff 90",
		"92 01 01", "92 01 91 92 01 02", "92 01 91 93 a1 6b 01 90", "92 01 91 93 a1 6b 90 01",
		"92 01 91 93 a1 6b 90 92 01 02", "92 01 91 93 a1 6b 90 91", "92 01 91 93 d4 01 02 90 90",
		"92 01 91 93 a1 6b 91 d4 01 02 90", "92 01 91 93 a1 6b 90 91 d4 01 02",
		"92 01 91 93 a1 6b 91 01 90 c0", "90 01 02",
		"92 " + strings.Repeat("91 ", 60) + "01", // a long Describe is cut
		"93 a5 c3 a9 c3 a9 c3 " + strings.Repeat("a9 ", 1) + "01 02",
		"93 " + "d9 50 " + strings.Repeat("c3 a9 ", 40) + "01 02",
	}
	for _, fn := range []string{"sum-into-state", "count-expire-after-2-idle"} {
		for _, h := range updatesRaw {
			same(t, as, goRef, fn, sdktest.Hex(t, h))
		}
	}
	// Nesting 513 deep is refused while skipping.
	deep := append(bytes.Repeat([]byte{0x91}, 514), 0x01)
	same(t, as, goRef, "identity", deep)
	same(t, as, goRef, "identity", append([]byte{0x91}, bytes.Repeat([]byte{0x91}, 511)...))
}

// TestErrorMessagesSameBytes: what describe and %T render inside messages.
func TestErrorMessagesSameBytes(t *testing.T) {
	build(t)
	as := sdktest.Load(t, filepath.Join(root, "plugins/conformance/assemblyscript/conformance.wasm"))
	goRef := sdktest.Load(t, filepath.Join(root, "plugins/conformance/conformance.wasm"))
	in := `["a", "with \"quotes\" and \\ and \t tab", "ünï", "\u0001\u007f", "a very long string that will be cut at forty bytes", "ééééééééééééééééééééé",
		"\u00a0nbsp", "\u200bzw", "\ud83d\ude00", "\u0085",
		[1, "a", null, true, 2.5, [], {}], {"b": [1], "a": "s"}, 1e21, 1e-7, 123456789.0, 1e6, 100000.0, 0.0001, -0.0]`
	for _, fn := range []string{"add-4", "x-and-double", "is-even", "split-words", "int-seconds"} {
		same(t, as, goRef, fn, sdktest.JSON(t, in))
	}
	same(t, as, goRef, "add-4", sdktest.Hex(t, "93 c4 03 01 02 03 cf ff ff ff ff ff ff ff ff a3 ff fe 41"))
	same(t, as, goRef, "sum", sdktest.JSON(t, `[["x", 1e300], [[1, [2]], "y"], [{"a": {"b": 1}}, 1]]`))
}

// TestRandomSameBytes feeds random values of every type to every function.
func TestRandomSameBytes(t *testing.T) {
	build(t)
	as := sdktest.Load(t, filepath.Join(root, "plugins/conformance/assemblyscript/conformance.wasm"))
	goRef := sdktest.Load(t, filepath.Join(root, "plugins/conformance/conformance.wasm"))
	rng := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 30
	}
	fns := goRef.Manifest.Functions
	for i := 0; i < n; i++ {
		for _, f := range fns {
			var in []byte
			switch f.Kind {
			case abi.KindReduce:
				in = abi.AppendArrayHeader(nil, 8)
				for j := 0; j < 8; j++ {
					m := 1 + rng.IntN(4)
					in = abi.AppendArrayHeader(in, m)
					for k := 0; k < m; k++ {
						in = randNumber(rng, in)
					}
				}
			case abi.KindUpdate:
				in = abi.AppendInt(append(in, 0x92), rng.Int64N(1<<42))
				in = abi.AppendArrayHeader(in, 8)
				for j := 0; j < 8; j++ {
					in = randValue(rng, append(in, 0x93), 1)
					m := rng.IntN(3)
					in = abi.AppendArrayHeader(in, m)
					for k := 0; k < m; k++ {
						in = randNumber(rng, in)
					}
					switch rng.IntN(3) {
					case 0:
						in = append(in, 0x90)
					case 1:
						in = randNumber(rng, append(in, 0x91))
					default:
						in = randValue(rng, append(in, 0x91), 2)
					}
				}
			default:
				in = abi.AppendArrayHeader(nil, 16)
				for j := 0; j < 16; j++ {
					if rng.IntN(2) == 0 {
						in = randNumber(rng, in)
					} else {
						in = randValue(rng, in, 2)
					}
				}
			}
			same(t, as, goRef, f.Name, in)
		}
		if t.Failed() {
			return
		}
	}
}

// TestFloatsSameBytes: floats as text are the shortest digits that read
// back to the same float, as Go's strconv writes them: to-string uses
// Scala's (Java's) form, the message of a failed sum Go's %v.
func TestFloatsSameBytes(t *testing.T) {
	build(t)
	as := sdktest.Load(t, filepath.Join(root, "plugins/conformance/assemblyscript/conformance.wasm"))
	goRef := sdktest.Load(t, filepath.Join(root, "plugins/conformance/conformance.wasm"))
	var fs []float64
	for e := -1074; e <= 1023; e++ {
		p := math.Ldexp(1, e)
		fs = append(fs, p, math.Nextafter(p, 0), math.Nextafter(p, math.Inf(1)))
	}
	for e := -325; e <= 309; e++ {
		p, _ := strconvParse(fmt.Sprintf("1e%d", e))
		fs = append(fs, p, math.Nextafter(p, 0), math.Nextafter(p, math.Inf(1)), 9.999999999999999*p, 5*p, 1.5*p)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	random := 5000
	if testing.Short() {
		random = 500
	}
	for i := 0; i < random; i++ {
		fs = append(fs, math.Float64frombits(rng.Uint64()))
	}
	fs = append(fs, 0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 1e23, 9007199254740993, 0.1, 0.3, 2.0/3)
	for len(fs) > 0 {
		n := min(len(fs), 500)
		elems := abi.AppendArrayHeader(nil, n)
		groups := abi.AppendArrayHeader(nil, n)
		for _, f := range fs[:n] {
			elems = abi.AppendFloat(elems, f)
			groups = abi.AppendFloat(abi.AppendString(append(groups, 0x92), "x"), f)
		}
		same(t, as, goRef, "to-string", elems)
		same(t, as, goRef, "sum", groups)
		fs = fs[n:]
		if t.Failed() {
			return
		}
	}
}

func strconvParse(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

func randNumber(rng *rand.Rand, b []byte) []byte {
	switch rng.IntN(6) {
	case 0:
		return abi.AppendInt(b, rng.Int64N(200)-100)
	case 1:
		return abi.AppendInt(b, int64(rng.Uint64()))
	case 2:
		return abi.AppendFloat(b, math.Float64frombits(rng.Uint64()))
	case 3:
		return abi.AppendFloat(b, float64(rng.IntN(2000)-1000)/8)
	case 4:
		return abi.AppendFloat(b, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(40)-20)))
	}
	return abi.AppendFloat(b, float64(float32(rng.Float64()*1e6)))
}

func randValue(rng *rand.Rand, b []byte, depth int) []byte {
	k := rng.IntN(9)
	if depth <= 0 && k >= 6 {
		k = rng.IntN(6)
	}
	switch k {
	case 0:
		return abi.AppendNil(b)
	case 1:
		return abi.AppendBool(b, rng.IntN(2) == 0)
	case 2, 3:
		return randNumber(rng, b)
	case 4:
		words := []string{"", "a", "b", " ", "ü", "日本", "\x00", "\"", "\\", "\xff", "\u00a0", "é", "\n"}
		var sb strings.Builder
		for n := rng.IntN(8); n > 0; n-- {
			sb.WriteString(words[rng.IntN(len(words))])
		}
		return abi.AppendString(b, sb.String())
	case 5:
		p := make([]byte, rng.IntN(6))
		for i := range p {
			p[i] = byte(rng.IntN(256))
		}
		return abi.AppendBinary(b, p)
	case 6, 7:
		n := rng.IntN(4)
		b = abi.AppendArrayHeader(b, n)
		for i := 0; i < n; i++ {
			b = randValue(rng, b, depth-1)
		}
		return b
	}
	n := rng.IntN(4)
	b = abi.AppendMapHeader(b, n)
	for i := 0; i < n; i++ {
		b = abi.AppendString(b, []string{"a", "b", "c", "é", ""}[rng.IntN(5)])
		b = randValue(rng, b, depth-1)
	}
	return b
}

// TestWordcountSameBytes compares the cross-language benchmark plugin with
// plugins/wordcount.
func TestWordcountSameBytes(t *testing.T) {
	build(t)
	as := sdktest.Load(t, filepath.Join(root, "plugins/wordcount/assemblyscript/wordcount.wasm"))
	goRef := sdktest.Load(t, filepath.Join(root, "plugins/wordcount/wordcount.wasm"))
	sample, err := os.ReadFile(filepath.Join(root, "plugins/wordcount/sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := abi.AppendArrayHeader(nil, 0)
	n := 0
	var body []byte
	for _, l := range strings.Split(string(sample), "\n") {
		body = abi.AppendString(body, l)
		n++
	}
	lines = append(abi.AppendArrayHeader(lines[:0], n), body...)
	same(t, as, goRef, "split-words", lines)
	same(t, as, goRef, "split-words", sdktest.JSON(t, `["a  b", "", 1, null]`))
	same(t, as, goRef, "pair-with-one", sdktest.JSON(t, `["a", "b", "", 1]`))
	same(t, as, goRef, "sum", sdktest.JSON(t, `[[1, 1, 1], [1], [1, 2.5], ["x", 1]]`))
}

// TestCalls covers the ABI around the functions: unknown ids, input outside
// the alloc buffer, buffers reused across calls, memory reclaimed by the GC
// between calls, and abort reaching the log.
func TestCalls(t *testing.T) {
	build(t)
	as := sdktest.Load(t, filepath.Join(root, "plugins/conformance/assemblyscript/conformance.wasm"))
	goRef := sdktest.Load(t, filepath.Join(root, "plugins/conformance/conformance.wasm"))

	for _, fn := range []int{-1, len(as.Manifest.Functions), 1 << 20} {
		got := as.CallID(fn, sdktest.JSON(t, `[1]`))
		want := goRef.CallID(fn, sdktest.JSON(t, `[1]`))
		if !bytes.Equal(got, want) {
			t.Errorf("function %d: %s, want %s", fn, render(got), render(want))
		}
	}

	// Input outside the alloc buffer is bad input; an empty one is empty.
	ptr := uint32(as.Export(abi.ExportAlloc, 16))
	resp := as.Read(as.Export(abi.ExportCall, 0, uint64(ptr+60), 16)) // the buffer is 64 bytes
	if want := `[1,"input is not inside the wstream_alloc buffer",[]]`; render(resp) != want {
		t.Errorf("outside: %s", render(resp))
	}
	resp = as.Read(as.Export(abi.ExportCall, 0, 0, 0))
	want := goRef.Read(goRef.Export(abi.ExportCall, 0, 0, 0))
	if !bytes.Equal(resp, want) {
		t.Errorf("empty input: %s, want %s", render(resp), render(want))
	}

	// The alloc buffer is kept while big enough, and replaced when not.
	if p2 := uint32(as.Export(abi.ExportAlloc, 8)); p2 != ptr {
		t.Errorf("alloc(8) after alloc(16) moved the buffer: %d -> %d", ptr, p2)
	}

	// Many batches: memory stays flat because each call ends with a collection.
	batch := abi.AppendArrayHeader(nil, 2000)
	for i := 0; i < 2000; i++ {
		batch = abi.AppendString(batch, "the quick brown fox jumps over the lazy dog")
	}
	id := as.ID("split-words")
	first := as.CallID(id, batch)
	as.CallID(id, batch)
	pages := as.Module.Memory().Size()
	start := time.Now()
	for i := 0; i < 50; i++ {
		if got := as.CallID(id, batch); !bytes.Equal(got, first) {
			t.Fatalf("call %d returned different bytes", i)
		}
	}
	if grown := as.Module.Memory().Size(); grown > pages {
		t.Errorf("memory grew from %d to %d bytes over 50 identical calls", pages, grown)
	}
	t.Logf("split-words on 2000 lines: %v per call, memory %d KiB", time.Since(start)/50, as.Module.Memory().Size()>>10)
}

// BenchmarkWordcount runs the three wordcount stages on a batch of 1000
// lines, in AssemblyScript and in Go.
func BenchmarkWordcount(b *testing.B) {
	build(b)
	for _, lang := range []string{"assemblyscript", "go"} {
		b.Run(lang, func(b *testing.B) {
			path := filepath.Join(root, "plugins/wordcount/wordcount.wasm")
			if lang == "assemblyscript" {
				path = filepath.Join(root, "plugins/wordcount/assemblyscript/wordcount.wasm")
			}
			g := sdktest.Load(b, path)
			lines := abi.AppendArrayHeader(nil, 1000)
			for i := 0; i < 1000; i++ {
				lines = abi.AppendString(lines, "the quick brown fox jumps over the lazy dog and the cat")
			}
			split, pair, sum := g.ID("split-words"), g.ID("pair-with-one"), g.ID("sum")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp := g.CallID(split, lines)
				res, err := abi.DecodeResponse(resp, 1000, nil)
				if err != nil {
					b.Fatal(err)
				}
				var words []abi.Raw
				for _, r := range res.Results {
					words, _, _ = abi.SplitArray(words, r)
				}
				pairs := g.CallID(pair, abi.AppendArray(nil, words))
				_ = pairs
				groups := abi.AppendArrayHeader(nil, 12)
				for k := 0; k < 12; k++ {
					groups = abi.AppendArrayHeader(groups, 100)
					for j := 0; j < 100; j++ {
						groups = append(groups, 1)
					}
				}
				g.CallID(sum, groups)
			}
		})
	}
}

// TestSDK drives testdata/probe, which uses the rest of the SDK's API.
func TestSDK(t *testing.T) {
	build(t)
	sdktest.Run(t, "testdata/probe", "make", "-s")
	g := sdktest.Load(t, "testdata/probe/probe.wasm")
	if g.Manifest.Name != "probe" || g.Manifest.Language != "assemblyscript" || g.Manifest.Pipeline != "" {
		t.Errorf("manifest %+v", g.Manifest)
	}
	tests := []struct{ fn, in, want string }{
		{"log-echo", `["a"]`, `[0,["a"],[]]`},
		{"null", `[1]`, `[0,[null],[[0,"null returned null without fail()"]]]`},
		{"utf8", `["ünï", "日本"]`, `[0,["ünï!","日本!"],[]]`},
		{"map", `[0]`, `[0,[[{"a":2,"b":3},3,"a,b",2]],[]]`},
		{"get", `[{"k": [1]}, {"j": 1}, 5, {"k": null}]`, `[0,[[1],"none","none",null],[]]`},
		{"kinds", `[null, 2.5, -3, "ab", [1, 2, 3], {"a": 1}, true]`, `[0,[` +
			`[true,false,false,false,false,false,false,false,false,0,"NaN",0],` +
			`[false,false,false,true,true,false,false,false,false,0,2.5,0],` +
			`[false,false,true,false,true,false,false,false,false,0,-3.0,18446744073709551613],` +
			`[false,false,false,false,false,true,false,false,false,2,"NaN",0],` +
			`[false,false,false,false,false,false,false,true,false,3,"NaN",0],` +
			`[false,false,false,false,false,false,false,false,true,1,"NaN",0],` +
			`[false,true,false,false,false,false,false,false,false,0,"NaN",0]],[]]`},
		{"split-comma", `["a, b,c, ", "", ", "]`, `[0,[["a","b,c",""],[""],["",""]],[]]`},
		{"fail-twice", `[1, 2]`, `[0,[null,null],[[0,"first"],[1,"first"]]]`},
		{"keep-nil", `[5, [["k", [], []], ["j", [1], [5]]]]`, `[0,[[],[null]],[]]`},
	}
	for _, tt := range tests {
		if got := render(g.CallID(g.ID(tt.fn), sdktest.JSON(t, tt.in))); got != tt.want {
			t.Errorf("%s(%s) = %s, want %s", tt.fn, tt.in, got, tt.want)
		}
	}
	if got := g.CallID(g.ID("bytes"), sdktest.JSON(t, `["ab"]`)); !bytes.Equal(got, sdktest.Hex(t, "93 00 91 c4 02 61 62 90")) {
		t.Errorf("bytes: % x", got)
	}
	if len(g.Logs()) != 1 || (g.Logs())[0] != "1:got a" {
		t.Errorf("logs %q", g.Logs())
	}

	// An abort (a throw) logs at error level and traps.
	in := sdktest.JSON(t, `["x"]`)
	if _, err := g.Try(abi.ExportCall, uint64(g.ID("abort")), uint64(g.Input(in)), uint64(len(in))); err == nil {
		t.Fatal("abort did not trap")
	}
	if n := len(g.Logs()); n != 2 || !strings.HasPrefix((g.Logs())[1], "3:abort: boom x at ") {
		t.Errorf("logs after abort %q", g.Logs())
	}
}
