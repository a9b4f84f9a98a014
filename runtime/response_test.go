package runtime_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// fakeEngine's instances return whatever response the test sets, so that
// Func.Call's handling of untrusted guest output is tested without an
// engine, and fuzzed.
type fakeEngine struct {
	mu       sync.Mutex
	manifest []byte
	response []byte
}

func (e *fakeEngine) set(resp []byte) {
	e.mu.Lock()
	e.response = resp
	e.mu.Unlock()
}

func (e *fakeEngine) Name() string                    { return "fake" }
func (e *fakeEngine) Close(ctx context.Context) error { return nil }
func (e *fakeEngine) Compile(ctx context.Context, name string, wasm []byte, cfg runtime.Config) (runtime.Module, error) {
	return e, nil
}
func (e *fakeEngine) Instantiate(ctx context.Context) (runtime.Instance, error) {
	return fakeInstance{e}, nil
}

type fakeInstance struct{ e *fakeEngine }

func (i fakeInstance) Manifest(ctx context.Context) ([]byte, error) { return i.e.manifest, nil }
func (i fakeInstance) Call(ctx context.Context, fn int, input []byte) ([]byte, error) {
	i.e.mu.Lock()
	defer i.e.mu.Unlock()
	return append([]byte(nil), i.e.response...), nil
}
func (i fakeInstance) Stderr() string                  { return "" }
func (i fakeInstance) Close(ctx context.Context) error { return nil }

var kinds = []abi.Kind{abi.KindMap, abi.KindFlatMap, abi.KindFilter, abi.KindReduce, abi.KindUpdate}

// loadFake loads a plugin "fake.wasm" with one function per kind, named
// after its kind.
func loadFake(t testing.TB, cfg runtime.Config) (*fakeEngine, *runtime.Plugin) {
	t.Helper()
	m := &abi.Manifest{ABI: abi.Version, Name: "fake", Language: "test"}
	for _, k := range kinds {
		m.Functions = append(m.Functions, abi.Function{Name: string(k), Kind: k})
	}
	e := &fakeEngine{manifest: abi.AppendManifest(nil, m)}
	cfg.Workers = 1
	p, err := runtime.Load(context.Background(), e, "fake.wasm", []byte("\x00asm\x01\x00\x00\x00"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, p
}

func fromJSON(t testing.TB, s string) []byte {
	t.Helper()
	b, err := abi.FromJSON(nil, []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUntrustedResponses: every malformed response is a CallError naming
// the plugin and the function and wrapping abi.ErrBadResponse (or the
// output limit), never a panic and never a result.
func TestUntrustedResponses(t *testing.T) {
	e, p := loadFake(t, runtime.Config{MaxOutput: 1 << 10})
	ext := []byte{0x93, 0x00, 0x91, 0xd4, 0x01, 0x00, 0x90} // [0, [ext], []]
	for _, tc := range []struct {
		kind abi.Kind
		resp []byte
		want string
	}{
		{abi.KindMap, []byte{0xc1}, "want [code, results, errors]"},
		{abi.KindMap, []byte{0x93, 0x00, 0x91, 0xc1, 0x90}, "results: element 0"},
		{abi.KindMap, fromJSON(t, `[0, [1, 2], []]`), "2 results for 1 inputs"},
		{abi.KindMap, fromJSON(t, `[0, [1], [[5, "x"]]]`), "index out of range"},
		{abi.KindMap, append(fromJSON(t, `[0, [1], []]`), 0x00), "1 trailing bytes"},
		{abi.KindMap, ext, "ext value"},
		{abi.KindReduce, []byte{}, "want [code"},
		{abi.KindFilter, fromJSON(t, `[0, [1], []]`), "a filter result must be a bool, got int"},
		{abi.KindFlatMap, fromJSON(t, `[0, ["x"], []]`), "a flatMap result must be an array, got string"},
		{abi.KindFlatMap, []byte{0x93, 0x00, 0x91, 0x92, 0x01, 0xd4, 0x01, 0x00, 0x90}, "ext value"},
		{abi.KindUpdate, fromJSON(t, `[0, [[1, 2]], []]`), "must be an option"},
		{abi.KindUpdate, fromJSON(t, `[0, [3], []]`), "must be an option"},
		{abi.KindMap, fromJSON(t, `[0, ["`+strings.Repeat("x", 2000)+`"], []]`), "over the limit of 1024"},
	} {
		e.set(tc.resp)
		f, err := p.Func(string(tc.kind))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Call(context.Background(), fromJSON(t, `[1]`), 1)
		var ce *runtime.CallError
		if !errors.As(err, &ce) || ce.Plugin != "fake.wasm" || ce.Func != string(tc.kind) ||
			!(errors.Is(err, abi.ErrBadResponse) || errors.Is(err, runtime.ErrOutputLimit)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %x: err = %v, want a CallError saying %q", tc.kind, tc.resp[:min(len(tc.resp), 16)], err, tc.want)
		}
	}
	// Well-formed responses of each kind pass, failed records included.
	for kind, resp := range map[abi.Kind]string{
		abi.KindMap:     `[0, [{"a": [1, {"b": null}]}, null], [[1, "bad record"]]]`,
		abi.KindFilter:  `[0, [true, false], []]`,
		abi.KindFlatMap: `[0, [[], [1, [2]]], []]`,
		abi.KindReduce:  `[0, [1.5, "s"], []]`,
		abi.KindUpdate:  `[0, [[], [[1, 2]]], []]`,
	} {
		e.set(fromJSON(t, resp))
		f, _ := p.Func(string(kind))
		if r, err := f.Call(context.Background(), fromJSON(t, `[1, 2]`), 2); err != nil || len(r.Results) != 2 {
			t.Errorf("%s %s: %v", kind, resp, err)
		}
	}
}

func TestManifestOverOutputLimit(t *testing.T) {
	m := &abi.Manifest{ABI: abi.Version, Name: strings.Repeat("n", 200), Language: "test"}
	e := &fakeEngine{manifest: abi.AppendManifest(nil, m)}
	_, err := runtime.Load(context.Background(), e, "big.wasm", []byte("\x00asm\x01\x00\x00\x00"), runtime.Config{MaxOutput: 100})
	if !errors.Is(err, runtime.ErrOutputLimit) || !strings.Contains(err.Error(), "plugin big.wasm: reading manifest") {
		t.Fatalf("err = %v, want ErrOutputLimit naming the plugin", err)
	}
}

// FuzzResponse feeds arbitrary bytes to Func.Call as a guest's response,
// for every function kind: it must return either n results or a CallError
// naming the plugin and the function, and never panic.
func FuzzResponse(f *testing.F) {
	for _, s := range []string{`[0, [1], []]`, `[0, [true], []]`, `[0, [[1]], []]`, `[0, [[]], [[0, "e"]]]`, `[3, "failed", []]`} {
		b, _ := abi.FromJSON(nil, []byte(s))
		f.Add(b, uint8(1))
	}
	f.Add([]byte{0x93, 0x00, 0x91, 0xd4, 0x01, 0x00, 0x90}, uint8(1))
	e, p := loadFake(f, runtime.Config{MaxOutput: 1 << 16})
	funcs := map[abi.Kind]*runtime.Func{}
	for _, k := range kinds {
		funcs[k], _ = p.Func(string(k))
	}
	f.Fuzz(func(t *testing.T, resp []byte, n uint8) {
		e.set(resp)
		in := abi.AppendArrayHeader(nil, int(n))
		for i := 0; i < int(n); i++ {
			in = abi.AppendInt(in, int64(i))
		}
		for _, k := range kinds {
			r, err := funcs[k].Call(context.Background(), in, int(n))
			if err != nil {
				var ce *runtime.CallError
				if !errors.As(err, &ce) || ce.Plugin != "fake.wasm" || ce.Func != string(k) {
					t.Fatalf("%s: err = %#v, want a CallError naming plugin and function", k, err)
				}
				continue
			}
			if len(r.Results) != int(n) {
				t.Fatalf("%s: %d results for %d inputs", k, len(r.Results), n)
			}
			for _, v := range r.Results {
				if v == nil {
					continue
				}
				if m, err := abi.Skip(v); err != nil || m != len(v) {
					t.Fatalf("%s: result %x is not one value", k, v)
				}
				if k == abi.KindFilter {
					if _, _, err := abi.ReadBool(v); err != nil {
						t.Fatalf("filter result %x is not a bool", v)
					}
				}
			}
		}
	})
}

func TestInert(t *testing.T) {
	for in, want := range map[string]string{
		"plain text\n\tindented ünïcode": "plain text\n\tindented ünïcode",
		"\x1b[2J\x1b]0;pwned\x07":        `\x1b[2J\x1b]0;pwned\x07`,
		"bad \xff byte, del \x7f":        `bad \xff byte, del \x7f`,
		"c1 \u009b31m":                   `c1 \u009b31m`,
	} {
		if got := runtime.Inert(in); got != want {
			t.Errorf("Inert(%q) = %q, want %q", in, got, want)
		}
	}
}
