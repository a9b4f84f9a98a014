package pysdk_test

// These tests build the Python runtime (make, cached) and plugins from
// source and drive them as the host does: through the runtime package on
// both engines, and through the wstream binary. The Go plugins are the
// reference: the Python vocabulary must answer with the same values and
// record errors (Python's messages add the exception type and the line).

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/guest-sdk/python/pybuild"
	"github.com/wstream/wstream/guest-sdk/sdktest"
	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wasmtime"
	"github.com/wstream/wstream/runtime/wazero"
)

var (
	root, _ = filepath.Abs("../..") // the repository
	// tmp holds what the tests build; like the runtime's build, it is kept
	// (and ignored by git) so that a second run reuses it.
	tmp     = filepath.Join(root, "guest-sdk/python/_build/test")
	builds  sync.Map
	buildMu sync.Mutex
)

// once builds something at most once per test run, and fails every test
// that needs it if that build failed.
func once(t testing.TB, key string, build func() (string, error)) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if v, ok := builds.Load(key); ok {
		if err, bad := v.(error); bad {
			t.Fatal(err)
		}
		return v.(string)
	}
	p, err := func() (string, error) {
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return "", err
		}
		return build()
	}()
	if err != nil {
		builds.Store(key, err)
		t.Fatal(err)
	}
	builds.Store(key, p)
	return p
}

func command(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// runtimeModule is the Python runtime module, built by its Makefile.
func runtimeModule(t testing.TB) string {
	return once(t, "runtime", func() (string, error) {
		_, err := command(filepath.Join(root, "guest-sdk/python"), nil, "make", "-s", "runtime")
		return filepath.Join(root, "guest-sdk/python/_build", pybuild.RuntimeFile), err
	})
}

// pyPlugin is plugins/NAME/python/NAME.wasm, built by its Makefile.
func pyPlugin(t testing.TB, name string) string {
	runtimeModule(t)
	return once(t, "py/"+name, func() (string, error) {
		dir := filepath.Join(root, "plugins", name, "python")
		_, err := command(dir, nil, "make", "-s")
		return filepath.Join(dir, name+".wasm"), err
	})
}

// goPlugin is the Go reference plugin, built from the current source.
func goPlugin(t testing.TB, name string) string {
	return once(t, "go/"+name, func() (string, error) {
		out := filepath.Join(tmp, name+"-go.wasm")
		_, err := command(root, []string{"GOOS=wasip1", "GOARCH=wasm"},
			"go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./plugins/"+name)
		return out, err
	})
}

// testPlugin builds testdata/NAME.py with pybuild, as `wstream build` does.
func testPlugin(t testing.TB, name string) string {
	rt := runtimeModule(t)
	return once(t, "test/"+name, func() (string, error) {
		module, err := os.ReadFile(rt)
		if err != nil {
			return "", err
		}
		files, err := pybuild.ReadApp(filepath.Join("testdata", name+".py"))
		if err != nil {
			return "", err
		}
		wasm, err := pybuild.Build(module, files)
		if err != nil {
			return "", err
		}
		out := filepath.Join(tmp, name+".wasm")
		return out, os.WriteFile(out, wasm, 0o644)
	})
}

// wstreamBin is the wstream binary, built from the current source.
func wstreamBin(t testing.TB) string {
	return once(t, "bin", func() (string, error) {
		out := filepath.Join(tmp, "wstream")
		_, err := command(root, nil, "go", "build", "-o", out, "./cmd/wstream")
		return out, err
	})
}

var (
	enginesOnce sync.Once
	allEngines  []runtime.Engine
	loaded      sync.Map // engine name + "\x00" + path -> *plugin
)

// engines are the runtimes compiled into this test binary, shared by the
// tests (as the plugins they load are: loading a 15 MB module is slow).
func engines(t testing.TB) []runtime.Engine {
	enginesOnce.Do(func() {
		allEngines = []runtime.Engine{newEngine(t, "wazero")}
		if e := newEngine(t, "wasmtime"); e != nil {
			allEngines = append(allEngines, e)
		}
	})
	if len(allEngines) == 1 {
		t.Log("wasmtime is not compiled in (no cgo): wazero only")
	}
	return allEngines
}

// newEngine makes the named engine, or returns nil if it is not compiled in.
func newEngine(t testing.TB, name string) runtime.Engine {
	ctx := context.Background()
	if name == "wazero" {
		return wazero.New(ctx)
	}
	e, err := wasmtime.New(ctx)
	if errors.Is(err, runtime.ErrUnavailable) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type plugin struct {
	p      *runtime.Plugin
	stderr *bytes.Buffer // written by calls, which run on the caller's goroutine
}

// load loads a plugin once per engine for the whole test run.
func load(t testing.TB, e runtime.Engine, path string) *plugin {
	t.Helper()
	key := e.Name() + "\x00" + path
	if p, ok := loaded.Load(key); ok {
		return p.(*plugin)
	}
	stderr := &bytes.Buffer{}
	p, err := runtime.LoadFile(context.Background(), e, path, runtime.Config{Workers: 1, Stderr: stderr})
	if err != nil {
		t.Fatalf("%s on %s: %v", path, e.Name(), err)
	}
	pl := &plugin{p, stderr}
	loaded.Store(key, pl)
	return pl
}

// items is how many results a call input asks for (ABI.md §6).
func items(kind abi.Kind, in []byte) int {
	n, rest, err := abi.ArrayHeader(in)
	if err != nil {
		return 0
	}
	if (kind == abi.KindUpdate || kind == abi.KindMapState) && n == 2 {
		if _, rest, err = abi.ReadInt(rest); err == nil {
			n, _, _ = abi.ArrayHeader(rest)
		}
	}
	return n
}

// call runs fn on a JSON input ("hex:..." for raw msgpack).
func (p *plugin) call(t testing.TB, fn, input string) (abi.Response, error) {
	t.Helper()
	f, err := p.p.Func(fn)
	if err != nil {
		t.Fatal(err)
	}
	in := msgpack(t, input)
	return f.Call(context.Background(), in, items(f.Kind(), in))
}

func msgpack(t testing.TB, s string) []byte {
	t.Helper()
	if h, ok := strings.CutPrefix(s, "hex:"); ok {
		b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		return b
	}
	b, err := abi.FromJSON(nil, []byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return b
}

func showResponse(r abi.Response, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	b.WriteString("[")
	for i, x := range r.Results {
		if i > 0 {
			b.WriteString(", ")
		}
		j, jerr := abi.AppendJSON(nil, x)
		if jerr != nil || x == nil {
			j = []byte("null")
		}
		b.Write(j)
	}
	b.WriteString("]")
	for _, e := range r.Errors {
		fmt.Fprintf(&b, " #%d: %s", e.Index, e.Message)
	}
	return b.String()
}

// vocabulary: every function of the conformance vocabulary, its type
// errors and what a Python value cannot hold as every SDK does.
var vocabulary = []struct{ fn, in string }{
	{"identity", `[0, -1, 127, 128, -33, 65536, -2147483649, 9223372036854775807, -9223372036854775808, 18446744073709551615]`},
	{"identity", `[null, true, 0.25, -0.0, 1e-310, "", "ünïcode", [[], {}], {"z": 1, "a": {"b": [null]}}]`},
	{"identity", `hex:93 ca40400000 cc05 c403000102`}, // float32, a wide int, bin
	{"identity", `hex:92 a2c328 a3e282ac`},            // not UTF-8: passed through
	{"identity", `hex:92 81 01 02 d5010203`},          // an int map key, an ext
	{"to-string", `[7, -7, "s", 0.1, 100.0, 1e7, 1.5e-4, 1e21, [1, ["a", 2.5]], {"k": null}, true, null, 18446744073709551615]`},
	{"pair-with-one", `["a", 2, null, ["x"]]`},
	{"pair-with-x", `["a", {"k": 1}]`},
	{"add-4", `[1, -4, 0.5, 9223372036854775807, "four", null, [1], true]`},
	{"add-8", `[-8, 1.25]`},
	{"add-10", `[0, {"k": "v"}]`},
	{"x-and-double", `[2, -1.5, "x", 4611686018427387904]`},
	{"v-and-v-plus-10", `[5, 0.5, "v"]`},
	{"is-even", `[0, 1, -2, 3.0, "2", null, false]`},
	{"split-words", `["the river  runs ", "", " ", "one", "a\tb c", 7]`},
	{"split-words", `hex:91 a461ff2062`},
	{"first", `[["k", "v"], [1, 2, 3], "kv", [[1, 2], 3]]`},
	{"int-seconds", `[1, 0, -5, 9223372036854775, 2.5, "1"]`},
	{"sum", `[[1, 2], [5], [0.5, 0.25, 1], [1, "x"], [9223372036854775807, 2], [[1], [2]]]`},
	{"subtract", `[[10, 3, 2], [1, 0.5], ["a", 1]]`},
	{"value-nonzero", `[["k", 0], ["k", 2], ["k", -0.0], ["k", true], ["k", "0"], ["k"], 5]`},
	{"sum-into-state", `[5000, [["a", [1, 2], []], ["b", [], [4]], ["c", [0.5], [1]], ["d", ["x"], []], ["e", [1], ["s"]]]]`},
	{"add-batch-time-if-values", `[2000, [["a", [1], []], ["b", [], [3]], ["c", [], []], ["d", [1], [0.5]], ["e", [1], ["s"]]]]`},
	{"count-expire-after-2-idle", `[0, [["a", [2], []], ["a", [], [[2, 0]]], ["a", [], [[2, 1]]], ["a", [1, 2], [[2, 1]]], ["a", [], ["bad"]], ["a", [], [[1, "x"]]], ["a", [0], [[1, 0]]]]]`},
	{"identity", `[]`},
	{"sum-into-state", `[]`},
	{"identity", `"not a batch"`},
	{"sum", `[[]]`},
	{"sum-into-state", `[1, [["k", [1]]]]`},
}

// TestVocabularyMatchesGo: the Python conformance plugin gives the Go
// plugin's results and fails the same records, on every engine; each of
// its messages contains the Go one. The mapState cases are every SDK's.
func TestVocabularyMatchesGo(t *testing.T) {
	cases := vocabulary
	for _, c := range sdktest.MapStateCases {
		cases = append(cases, struct{ fn, in string }{c.Fn, c.In})
	}
	for _, e := range engines(t) {
		t.Run(e.Name(), func(t *testing.T) {
			want := load(t, e, goPlugin(t, "conformance"))
			got := load(t, e, pyPlugin(t, "conformance"))
			for _, c := range cases {
				w, werr := want.call(t, c.fn, c.in)
				g, gerr := got.call(t, c.fn, c.in)
				if !sameResponse(w, werr, g, gerr) {
					t.Errorf("%s(%s):\n got  %s\n want %s", c.fn, c.in, showResponse(g, gerr), showResponse(w, werr))
				} else if testing.Verbose() {
					t.Logf("%s(%s) = %s", c.fn, c.in, showResponse(g, gerr))
				}
			}
		})
	}
}

func sameResponse(w abi.Response, werr error, g abi.Response, gerr error) bool {
	if werr != nil || gerr != nil {
		return werr != nil && gerr != nil
	}
	if len(w.Results) != len(g.Results) || len(w.Errors) != len(g.Errors) {
		return false
	}
	for i, e := range w.Errors {
		if g.Errors[i].Index != e.Index || !strings.Contains(g.Errors[i].Message, e.Message) {
			return false
		}
	}
	for i := range w.Results {
		if !bytes.Equal(w.Results[i], g.Results[i]) {
			return false
		}
	}
	return true
}

// TestManifests: the Python plugins name the Go plugins' functions, kinds
// and default pipelines, and say they are Python.
func TestManifests(t *testing.T) {
	e := engines(t)[0]
	for _, name := range []string{"conformance", "wordcount"} {
		want := load(t, e, goPlugin(t, name)).p.Manifest()
		got := load(t, e, pyPlugin(t, name)).p.Manifest()
		if got.Language != "python" || got.Name != want.Name || got.Version != want.Version ||
			strings.TrimSpace(got.Pipeline) != strings.TrimSpace(want.Pipeline) ||
			fmt.Sprint(got.Functions) != fmt.Sprint(want.Functions) {
			t.Errorf("%s:\n got  %+v\n want %+v (language python)", name, got, want)
		}
	}
}

// TestPythonValues: how Python values and exceptions cross the ABI.
func TestPythonValues(t *testing.T) {
	cases := []struct{ fn, in, want string }{
		{"same", `[1, -1, 1.5, "s", null, true, [1, [2]], {"b": 1, "a": 2}, 18446744073709551615]`,
			`[1, -1, 1.5, "s", null, true, [1,[2]], {"a":2,"b":1}, 18446744073709551615]`},
		{"as-tuple", `["k"]`, `[["k",[1,2.5]]]`},
		{"big", `[1, 16777216, -16777216, 16777217]`,
			`[1099511627776, null, null, null]
			#1: OverflowError: int 18446744073709551616 does not fit in 64 bits
			#2: OverflowError: int -18446744073709551616 does not fit in 64 bits
			#3: OverflowError: int 18446745173221179392 does not fit in 64 bits`},
		{"unsendable", `[1]`, `[null] #0: TypeError: cannot send a value of type set (use None, bool, int, float, str, bytes, list, tuple or dict)`},
		{"int-keys", `[1]`, `[null] #0: TypeError: a dict sent to wstream needs str keys, not int`},
		{"self-list", `[1]`, `[null] #0: ValueError: nesting deeper than 512 (a list that contains itself?)`},
		{"upto", `[3, 0, "x"]`, `[[0,1,2], [], null] #2: TypeError: 'str' object cannot be interpreted as an integer (rules.py:`},
		{"chars", `["ab"]`, `[null] #0: TypeError: a flatMap function returns a list or another iterable of values, not str`},
		{"truthy", `[0, 1, "", "x", [], [0], null, 0.0]`, `[false, true, false, true, false, true, false, false]`},
		{"concat", `[["a", "b", "c"], [[1], [2]], [1, 2, 3], [1, "x"]]`,
			`["abc", [1,2], 6, null] #3: TypeError: unsupported operand type(s) for +: 'int' and 'str' (rules.py:`},
		{"count", `[1000, [["a", [1, 2], []], ["b", [], [5]]]]`, `[[2], [5]]`},
		{"keyed", `[1000, [["a", [1, 2], []], [[1, 2], [], [5]]]]`, `[[["a",2]], [[[1,2],0]]]`},
		{"drop-when-empty", `[1000, [["a", [1], []], ["b", [], [5]]]]`, `[[1000], []]`},
		// mapState: [outs, change] per key (abi/ABI.md §6.1).
		{"count-with-time", `[1000, [["a", [], [5, 6], false], [[1], [2], [null], false]]]`,
			`[[[[[1000,"a",5,1]],[[1000,"a",6,2]]],[2]], [[[[1000,[1],null,3]]],[3]]]`},
		{"emit-none", `[1, [["a", [], [1, 0, null], false], ["b", [4], [], true]]]`, `[[[[null],[],[]],null], [[[]],null]]`},
		{"keep-text", `[1, [["a", [], ["x", "churn"], false], ["b", ["s"], ["churn"], false]]]`,
			`[[[[],[2000]],[{"b":"x","l":["xxx"],"s":"x!"}]], [[[2000]],null]]`},
		{"change-anyway", `[1, [["a", ["remove"], [], true], ["b", [1], [], true], ["c", [], [7, "remove"], false]]]`,
			`[null, null, [[["after"],["after"]],[]]]
			#0: cannot remove the state of a key that is timing out
			#1: cannot update the state of a key that is timing out`},
		{"bad-state", `[1, [["a", [0], [1, "set"], false], ["b", [0], ["raise"], false], ["c", [0], [2], false]]]`,
			`[null, null, [[[2]],[2]]]
			#0: TypeError: cannot send a value of type set (use None, bool, int, float, str, bytes, list, tuple or dict)
			#1: ValueError: no (rules.py:`},
		{"fail", `[1, "x"]`, `[null, null] #0: ValueError: bad record 1 (rules.py:94 in fail) #1: ValueError: bad record 'x' (rules.py:94 in fail)`},
		{"exit", `[1]`, `[null] #0: SystemExit: 3 (rules.py:99 in exit_)`},
		{"stdlib", `[1]`, `[["{\"x\": 1}","a#b##","3.3","2024-02-28","2d711642",2.5]]`},
		{"lambda-named", `[1]`, `[[1]]`},
		// String hashing is fixed: a set's order is the same everywhere.
		{"unique", `[["pear", "fig", "apple", "kiwi", "plum", "date", "lime"]]`, `[[false,["kiwi","apple","plum","pear","fig","date","lime"]]]`},
	}
	for _, e := range engines(t) {
		t.Run(e.Name(), func(t *testing.T) {
			p := load(t, e, testPlugin(t, "rules"))
			for _, c := range cases {
				r, err := p.call(t, c.fn, c.in)
				got := showResponse(r, err)
				want := strings.Join(strings.Fields(c.want), " ")
				if !matches(got, want) {
					t.Errorf("%s(%s):\n got  %s\n want %s", c.fn, c.in, got, want)
				}
			}
			// A timeout call's misuse fails the key with every SDK's words, exactly.
			r, err := p.call(t, "change-anyway", `[1, [["a", [1], [], true]]]`)
			if err != nil || len(r.Errors) != 1 || r.Errors[0].Message != "cannot update the state of a key that is timing out" {
				t.Errorf("change-anyway while timing out = %s", showResponse(r, err))
			}
			// A state's strings and bytes outlive the objects they came from.
			r, err = p.call(t, "keep-text", `[1, [["a", [], ["x", "churn"], false]]]`)
			if err != nil || !bytes.Contains(r.Results[0], []byte{0xa1, 'b', 0xc4, 1, 'x'}) {
				t.Errorf("keep-text = %s", showResponse(r, err))
			}
			// Strings that are not UTF-8 and binaries come back byte for byte.
			r, err = p.call(t, "same", `hex:92 a2c328 c4020102`)
			if err != nil || !bytes.Equal(r.Results[0], []byte{0xa2, 0xc3, 0x28}) || !bytes.Equal(r.Results[1], []byte{0xc4, 2, 1, 2}) {
				t.Errorf("same(bad UTF-8, bin) = %s", showResponse(r, err))
			}
			r, err = p.call(t, "bytes-of", `hex:92 a361ff62 01`)
			if err != nil || !bytes.Equal(r.Results[0], []byte{0xc4, 3, 0x61, 0xff, 0x62}) || !bytes.Equal(r.Results[1], []byte{0xc4, 2, 'a', 'b'}) {
				t.Errorf("bytes-of = %s", showResponse(r, err))
			}
			// print goes to stderr and log to the host's log, both shown with the plugin's name.
			if _, err := p.call(t, "chatty", `["hi"]`); err != nil {
				t.Fatal(err)
			}
			if s := p.stderr.String(); !strings.Contains(s, "[rules.wasm] saw hi") || !strings.Contains(s, "logged hi") {
				t.Errorf("stderr: %q", s)
			}
		})
	}
}

// matches compares a response text with a wanted one, where each record
// error's wanted message may stop short (after "(rules.py:").
func matches(got, want string) bool {
	gp, wp := strings.Split(got, " #"), strings.Split(want, " #")
	if len(gp) != len(wp) || gp[0] != wp[0] {
		return false
	}
	for i := 1; i < len(wp); i++ {
		if !strings.HasPrefix(gp[i], wp[i]) {
			return false
		}
	}
	return true
}

// TestLimitsEndCleanly: a Python infinite loop, a memory bomb and runaway
// recursion (in Python frames and in C) each end the run through the
// wstream binary, on every runtime: exit 1, the plugin and the cause
// named, no Go stack trace, the loop within its time limit.
func TestLimitsEndCleanly(t *testing.T) {
	bin := wstreamBin(t)
	plugin := testPlugin(t, "hostile")
	out, err := command(root, nil, bin, "version")
	if err != nil {
		t.Fatal(err)
	}
	runtimes := []string{"wazero"}
	if strings.Contains(out, "wasmtime") {
		runtimes = append(runtimes, "wasmtime")
	}
	// The loop gets a short time limit; the others a long one, so that on
	// a loaded machine it is their own limit that stops them.
	cases := []struct {
		fn, timeout string
		want        []string
	}{
		{"spin", "2s", []string{"plugin hostile.wasm", `function "spin"`, "guest exceeded its time limit of 2s"}},
		{"bomb", "60s", []string{"plugin hostile.wasm", `function "bomb"`, "guest exceeded its memory limit of 1024 pages (64 MiB)", "out of memory (MemoryError)"}},
		// A record error names the stage and the author's file and line.
		{"recurse", "60s", []string{"(map recurse, line 4) failed on record 1", "RecursionError: maximum recursion depth exceeded (hostile.py:21 in recurse)"}},
		{"nest-repr", "60s", []string{"(map nest-repr, line 4) failed on record 1", "hostile.py:30 in nest_repr", "RecursionError: maximum recursion depth exceeded while getting the repr of an object"}},
		{"big-string", "60s", []string{"plugin hostile.wasm", `function "big-string"`, "guest exceeded its memory limit"}},
	}
	for _, rt := range runtimes {
		for _, c := range cases {
			t.Run(rt+"/"+c.fn, func(t *testing.T) {
				dir := t.TempDir()
				in := filepath.Join(dir, "in.jsonl")
				os.WriteFile(in, []byte("[1]\n[100]\n"), 0o644)
				pipeline := filepath.Join(dir, "p.yaml")
				os.WriteFile(pipeline, []byte("plugin: "+plugin+"\nclock: manual\nsource: batches:"+in+
					"\nstages: [{op: map, fn: "+c.fn+"}]\nsink: jsonl:"+filepath.Join(dir, "out.jsonl")+"\n"), 0o644)
				ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, bin, "run", "--pipeline", pipeline, "--runtime", rt,
					"--call-timeout", c.timeout, "--memory-limit", "64MiB")
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				start := time.Now()
				cmd.Run()
				if ctx.Err() != nil {
					t.Fatalf("still running after 120s; stderr: %s", stderr.String())
				}
				msg := stderr.String()
				t.Logf("exit %d after %v: %s", cmd.ProcessState.ExitCode(), time.Since(start).Round(time.Millisecond), msg)
				if code := cmd.ProcessState.ExitCode(); code != 1 {
					t.Errorf("exit %d, want 1", code)
				}
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("stderr does not say %q", w)
					}
				}
				for _, s := range []string{"panic:", "goroutine ", ".go:"} {
					if strings.Contains(msg, s) {
						t.Errorf("stderr shows a Go panic or stack trace")
					}
				}
			})
		}
	}
}

// TestWordcountRunMatchesGo: `wstream run --plugin` of the Python word count
// prints what the Go one prints on the bundled sample, on every runtime.
func TestWordcountRunMatchesGo(t *testing.T) {
	bin := wstreamBin(t)
	py := pyPlugin(t, "wordcount")
	sample, err := os.ReadFile(filepath.Join(root, "plugins/wordcount/sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	run := func(plugin, rt string) string {
		cmd := exec.Command(bin, "run", "--plugin", plugin, "--clock", "manual", "--runtime", rt)
		cmd.Stdin = bytes.NewReader(sample)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s on %s: %v", plugin, rt, err)
		}
		return string(out)
	}
	want := run(goPlugin(t, "wordcount"), "wazero")
	if !strings.Contains(want, "(river,") {
		t.Fatalf("the Go word count printed %q", want)
	}
	for _, e := range engines(t) {
		if got := run(py, e.Name()); got != want {
			t.Errorf("%s:\n got  %s\n want %s", e.Name(), got, want)
		}
	}
}

// TestBuildCommand: `wstream build` makes a plugin that runs, and refuses a
// program that does not load, showing its traceback and writing nothing.
func TestBuildCommand(t *testing.T) {
	bin := wstreamBin(t)
	env := []string{"WSTREAM_PYTHON_RUNTIME=" + runtimeModule(t)}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "lib/text"), 0o755)
	os.WriteFile(filepath.Join(dir, "lib/text/__init__.py"), []byte("import pkgutil\n\nMARK = pkgutil.get_data(__name__, 'mark.txt').decode()\n\n\ndef shout(s):\n    return s.upper() + MARK\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "lib/text/mark.txt"), []byte("!"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("import wstream\nfrom text import shout\n\nwstream.map('shout', shout)\n"), 0o644)
	out, err := command(dir, env, bin, "build", "app.py", "--lib", "lib")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "built app.wasm: plugin app, 1 functions: shout (map)") {
		t.Errorf("build said %q", out)
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(`["hi", "there"]`+"\n"), 0o644)
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("plugin: app.wasm\nclock: manual\nsource: batches:"+in+"\nstages: [{op: map, fn: shout}]\nsink: jsonl:out.jsonl\n"), 0o644)
	if _, err := command(dir, nil, bin, "run", "--pipeline", p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out.jsonl")); !strings.Contains(string(b), `["HI!","THERE!"]`) {
		t.Errorf("out.jsonl: %s", b)
	}

	os.WriteFile(filepath.Join(dir, "broken.py"), []byte("import wstream\n\ndef f(x):\n    return x +\n"), 0o644)
	_, err = command(dir, env, bin, "build", "broken.py")
	if err == nil || !strings.Contains(err.Error(), `File "broken.py", line 4`) || !strings.Contains(err.Error(), "SyntaxError") {
		t.Errorf("a syntax error: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "empty.py"), []byte("import wstream\n"), 0o644)
	_, err = command(dir, env, bin, "build", "empty.py")
	if err == nil || !strings.Contains(err.Error(), "registers no functions") {
		t.Errorf("no functions: %v", err)
	}
	for _, f := range []string{"broken.wasm", "empty.wasm"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s was written", f)
		}
	}
	if _, err := command(dir, []string{"WSTREAM_PYTHON_RUNTIME=" + filepath.Join(dir, "app.wasm")}, bin, "build", "app.py", "-o", "again.wasm"); err == nil ||
		!strings.Contains(err.Error(), "not the Python runtime module") {
		t.Errorf("a plugin as the runtime: %v", err)
	}
}

// TestSparkExamplesMatchGo: Spark's network, stateful and windowed word
// counts written in Python (plugins/spark-examples/python, their default
// pipelines built with wstream.stream()) print what the same pipelines
// print with the Go conformance plugin's functions, on the bundled sample.
func TestSparkExamplesMatchGo(t *testing.T) {
	bin := wstreamBin(t)
	runtimeModule(t)
	dir := filepath.Join(root, "plugins/spark-examples/python")
	if _, err := command(dir, nil, "make", "-s"); err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile(filepath.Join(root, "plugins/wordcount/sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	conformance := goPlugin(t, "conformance")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"run", "--clock", "manual"}, args...)...)
		cmd.Stdin = bytes.NewReader(sample)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("wstream run %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	goPipeline := func(last string) string {
		p := filepath.Join(t.TempDir(), "p.yaml")
		os.WriteFile(p, []byte("plugin: "+conformance+"\nstages:\n  - {op: flatMap, fn: split-words}\n  - {op: map, fn: pair-with-one}\n  - "+last+"\n"), 0o644)
		return p
	}
	for _, c := range []struct{ program, goStage, batch string }{
		{"network_wordcount", "{op: reduceByKey, fn: sum}", "1s"},
		{"stateful_network_wordcount", "{op: updateStateByKey, fn: sum-into-state}", "1s"},
		{"windowed_network_wordcount", "{op: reduceByKeyAndWindow, fn: sum, inverse: subtract, window: 30s, slide: 10s}", "10s"},
	} {
		t.Run(c.program, func(t *testing.T) {
			got := run("--plugin", filepath.Join(dir, c.program+".wasm"), "--batch", c.batch)
			want := run("--pipeline", goPipeline(c.goStage), "--batch", c.batch)
			if got != want || !strings.Contains(got, "(river,") {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestMapWithStateDefaultPipeline: a program's own mapWithState stage
// (testdata/word_activity.py: a running count with an initial state and a
// 2 s timeout) runs under `wstream run --plugin`, on every runtime. A key
// last changed at t times out in the first batch after t + 2000; the
// initial states count as changed at the first batch.
func TestMapWithStateDefaultPipeline(t *testing.T) {
	bin := wstreamBin(t)
	plugin := testPlugin(t, "word_activity")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(`["a hello", "a"]`+"\n"+`["b"]`+"\n[]\n[]\nnull\n"), 0o644)
	want := `{"time":1000,"records":[["a",1],["hello",2],["a",2]]}
{"time":2000,"records":[["b",1]]}
{"time":3000,"records":[]}
{"time":4000,"records":[["hello","idle",2],["world","idle",1],["a","idle",2]]}
{"time":5000,"records":[["b","idle",1]]}
`
	for _, e := range engines(t) {
		out := filepath.Join(dir, e.Name()+".jsonl")
		if _, err := command(dir, nil, bin, "run", "--plugin", plugin, "--clock", "manual", "--runtime", e.Name(),
			"--source", "batches:"+in, "--sink", "jsonl:"+out); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); string(got) != want {
			t.Errorf("%s:\n got  %s\n want %s", e.Name(), got, want)
		}
	}
}

// TestStartFailureShowsTraceback: a program that fails at import is
// refused on both engines, and the error carries its traceback.
func TestStartFailureShowsTraceback(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "fails.py")
	os.WriteFile(app, []byte("import wstream\n\n\ndef setup():\n    raise KeyError('config')\n\n\nsetup()\n"), 0o644)
	module, err := os.ReadFile(runtimeModule(t))
	if err != nil {
		t.Fatal(err)
	}
	files, err := pybuild.ReadApp(app)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := pybuild.Build(module, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines(t) {
		_, err := runtime.Load(context.Background(), e, "fails.wasm", wasm, runtime.Config{Workers: 1})
		msg := fmt.Sprint(err)
		for _, want := range []string{"_initialize", "guest stderr:", `File "fails.py", line 8, in <module>`,
			`File "fails.py", line 5, in setup`, "KeyError: 'config'", "the plugin's module failed to load"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: the error does not say %q:\n%s", e.Name(), want, msg)
			}
		}
	}
}

// python is a native CPython: python3, or the build python that
// .ci/toolchains installs for the runtime.
func python(t testing.TB) string {
	for _, name := range []string{"python3", "python3.11"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no python3 or python3.11 (apt-get install -y python3.11; .ci/toolchains does)")
	return ""
}

// TestPackageOnCPython runs the wstream package's own tests (tests/) on
// the machine's python3, where authors unit-test their functions.
func TestPackageOnCPython(t *testing.T) {
	if out, err := command(".", nil, python(t), "-m", "unittest", "discover", "-s", "tests"); err != nil {
		t.Fatal(err)
	} else if testing.Verbose() {
		t.Log(out)
	}
}
