package wstream

import (
	"errors"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
)

// testRegistry is a small plugin with one function of each kind, plus the
// misbehaving ones the error paths need.
func testRegistry(reduceCalls *int) *registry {
	r := &registry{name: "test", version: "1.2.3", pipeline: "stages: []\n"}
	add := func(f function) { r.add(f, true) }
	add(function{name: "pair-with-one", kind: abi.KindMap, mapFn: func(x any) (any, error) { return Pair(x, 1), nil }})
	add(function{name: "x-and-double", kind: abi.KindFlatMap, flatFn: func(x any) ([]any, error) {
		d, err := Add(x, x)
		if err != nil {
			return nil, err
		}
		return []any{x, d}, nil
	}})
	add(function{name: "is-even", kind: abi.KindFilter, filter: func(x any) (bool, error) {
		i, ok := ToInt(x)
		if !ok {
			return false, errors.New("not an int")
		}
		return i%2 == 0, nil
	}})
	add(function{name: "sum", kind: abi.KindReduce, reduce: func(a, b any) (any, error) {
		*reduceCalls++
		return Add(a, b)
	}})
	add(function{name: "sum-into-state", kind: abi.KindUpdate, updateF: func(k any, vs []any, s Option, t int64) (Option, error) {
		acc := s.Or(int64(0))
		for _, v := range vs {
			var err error
			if acc, err = Add(acc, v); err != nil {
				return None, err
			}
		}
		if acc == int64(-1) {
			return None, nil
		}
		return Some(acc), nil
	}})
	add(function{name: "describe-state", kind: abi.KindUpdate, updateF: func(k any, vs []any, s Option, t int64) (Option, error) {
		return Some([]any{k, int64(len(vs)), s.OK, s.Value, t}), nil
	}})
	add(function{name: "running-sum", kind: abi.KindMapState, mapSt: func(t int64, k any, v Option, s *State) (Option, error) {
		if k == "read-only" {
			return Some([]any{s.Exists(), s.Get().Value, s.IsTimingOut(), t}), nil
		}
		if k == "update-timing-out" {
			s.Update(int64(1))
			return None, nil
		}
		acc, err := Add(s.Get().Or(int64(0)), v.Or(int64(0)))
		if err != nil {
			return None, err
		}
		if acc == int64(-1) {
			s.Remove()
			return None, nil
		}
		s.Update(acc)
		return Some(acc), nil
	}})
	add(function{name: "panics", kind: abi.KindMap, mapFn: func(x any) (any, error) {
		if x == "boom" {
			panic("boom!")
		}
		var m map[string]int
		if x == "nil-map" {
			m["a"] = 1 // a runtime error, recovered the same way
		}
		return x, nil
	}})
	add(function{name: "unencodable", kind: abi.KindMap, mapFn: func(x any) (any, error) {
		if x == "struct" {
			return struct{}{}, nil
		}
		return x, nil
	}})
	add(function{name: "flat-unencodable", kind: abi.KindFlatMap, flatFn: func(x any) ([]any, error) {
		return []any{x, struct{}{}}, nil
	}})
	return r
}

// call runs fn on the JSON input and returns the JSON response.
func call(t *testing.T, r *registry, fn int, inJSON string) string {
	t.Helper()
	in, err := abi.FromJSON(nil, []byte(inJSON))
	if err != nil {
		t.Fatalf("input %s: %v", inJSON, err)
	}
	return callRaw(t, r, fn, in)
}

func callRaw(t *testing.T, r *registry, fn int, in []byte) string {
	t.Helper()
	resp := r.handle(nil, fn, in)
	out, err := abi.AppendJSON(nil, resp)
	if err != nil {
		t.Fatalf("response % x does not decode: %v", resp, err)
	}
	// Every OK response must also pass the host's own validation.
	if resp[1] == byte(abi.CodeOK) {
		n, rest, _ := abi.ArrayHeader(in)
		if k := r.fns[fn].kind; (k == abi.KindUpdate || k == abi.KindMapState) && n == 2 { // [time, entries]
			_, rest, _ = abi.ReadInt(rest)
			n, _, _ = abi.ArrayHeader(rest)
		}
		if _, err := abi.DecodeResponse(resp, n, nil); err != nil {
			t.Errorf("host would reject response %s: %v", out, err)
		}
	}
	return string(out)
}

func id(t *testing.T, r *registry, name string) int {
	t.Helper()
	for i, f := range r.fns {
		if f.name == name {
			return i
		}
	}
	t.Fatalf("no function %q", name)
	return -1
}

func TestDispatch(t *testing.T) {
	var reduceCalls int
	r := testRegistry(&reduceCalls)
	tests := []struct{ fn, in, want string }{
		// ABI.md §8, the worked example.
		{"pair-with-one", `["a","b"]`, `[0,[["a",1],["b",1]],[]]`},
		{"pair-with-one", `[]`, `[0,[],[]]`},
		{"pair-with-one", `[null,[1,2.5],{"k":true}]`, `[0,[[null,1],[[1,2.5],1],[{"k":true},1]],[]]`},
		{"x-and-double", `[1,2.5,"s",3]`, `[0,[[1,2],[2.5,5.0],null,[3,6]],[[2,"cannot compute \"s\" (string) + \"s\" (string): want numbers"]]]`},
		{"x-and-double", `[]`, `[0,[],[]]`},
		{"is-even", `[1,2,"x",4]`, `[0,[false,true,null,true],[[2,"not an int"]]]`},
		{"sum", `[[1],[1,2,3],[1,2.5],["a",1,2],[7,8]]`, `[0,[1,6,3.5,null,15],[[3,"cannot compute \"a\" (string) + 1 (int64): want numbers"]]]`},
		{"sum", `[]`, `[0,[],[]]`},
		{"sum-into-state", `[5000,[["a",[1,2],[]],["b",[],[10]],["c",[1],[2.5]],["d",[],[]],["e",["x"],[1]],["gone",[-1],[]]]]`,
			`[0,[[3],[10],[3.5],[0],null,[]],[[4,"cannot compute 1 (int64) + \"x\" (string): want numbers"]]]`},
		{"sum-into-state", `[]`, `[0,[],[]]`},
		{"sum-into-state", `[5000,[]]`, `[0,[],[]]`},
		// A nil state is some(nil), not none.
		{"describe-state", `[7,[[["k",1],[1,2],[null]],["j",[],[]]]]`, `[0,[[[["k",1],2,true,null,7]],[["j",0,false,null,7]]],[]]`},
		// ABI.md §6.1, the worked example.
		{"running-sum", `[2000,[["a",[1],[2,3],false],["b",[],[5],false]]]`, `[0,[[[[3],[6]],[6]],[[[5]],[5]]],[]]`},
		// Reading only leaves the state unchanged (nil); removing then
		// setting reports the last; a timing-out key gets one call.
		{"running-sum", `[9,[["read-only",[null],[1,2],false],["c",[1],[-2,5],false],["d",[2],[-3],false],["read-only",[4],[],true]]]`,
			`[0,[[[[[true,null,false,9]],[[true,null,false,9]]],null],[[[],[5]],[5]],[[[]],[]],[[[[true,4,true,9]]],null]],[]]`},
		{"running-sum", `[9,[["update-timing-out",[4],[],true],["e",[],["x"],false],["f",[],[],false]]]`,
			`[0,[null,null,null],[[0,"cannot update the state of a key that is timing out"],[1,"cannot compute 0 (int64) + \"x\" (string): want numbers"],[2,"a key with no values that is not timing out"]]]`},
		{"running-sum", `[]`, `[0,[],[]]`},
		{"panics", `["ok","boom","nil-map",1]`, `[0,["ok",null,null,1],[[1,"panic: boom!"],[2,"panic: assignment to entry in nil map"]]]`},
		{"unencodable", `["struct","fine"]`, `[0,[null,"fine"],[[0,"msgpack: cannot encode a struct {}"]]]`},
		{"flat-unencodable", `[1,2]`, `[0,[null,null],[[0,"msgpack: cannot encode a struct {}"],[1,"msgpack: cannot encode a struct {}"]]]`},
	}
	for _, tt := range tests {
		if got := call(t, r, id(t, r, tt.fn), tt.in); got != tt.want {
			t.Errorf("%s(%s)\n got %s\nwant %s", tt.fn, tt.in, got, tt.want)
		}
	}
	// [1] and the single-value group in [[1]] were not folded: 2 calls for
	// [1,2,3], 1 for [1,2.5], 1 for ["a",1,...] (it stops at the error), 1 for [7,8].
	if reduceCalls != 5 {
		t.Errorf("reduce called %d times, want 5", reduceCalls)
	}
}

func TestReduceSingleGroupIsForwarded(t *testing.T) {
	var calls int
	r := testRegistry(&calls)
	// A group of one is its own result, even for a value f could not add.
	if got := call(t, r, id(t, r, "sum"), `[["x"],[{"a":[1]}]]`); got != `[0,["x",{"a":[1]}],[]]` {
		t.Errorf("got %s", got)
	}
	if calls != 0 {
		t.Errorf("reduce called %d times for groups of one", calls)
	}
}

func TestCanonicalOutput(t *testing.T) {
	r := testRegistry(new(int))
	// 1 as int8 (0xd0 0x01) and 300 as int64: results use the host's
	// canonical form (abi.AppendInt), so keys derived from them compare
	// equal to the keys the host encodes itself.
	in := []byte{0x92, 0xd0, 0x01, 0xd3, 0, 0, 0, 0, 0, 0, 0x01, 0x2c}
	resp := r.handle(nil, id(t, r, "pair-with-one"), in)
	want := []byte{0x93, 0x00, 0x92, 0x92, 0x01, 0x01, 0x92}
	want = append(abi.AppendInt(want, 300), 0x01, 0x90)
	if string(resp) != string(want) {
		t.Errorf("got % x\nwant % x", resp, want)
	}
	// Floats stay float64 (0xcb) even when they came as float32.
	in = []byte{0x91, 0xca, 0x3f, 0xc0, 0, 0} // [1.5f]
	resp = r.handle(nil, id(t, r, "x-and-double"), in)
	if got, _ := abi.AppendJSON(nil, resp); string(got) != `[0,[[1.5,3.0]],[]]` || resp[4] != 0xcb {
		t.Errorf("got %s (% x)", got, resp)
	}
}

// An element the SDK cannot turn into a Go value (a map with int keys) fails
// that record only.
func TestUndecodableElementIsARecordError(t *testing.T) {
	r := testRegistry(new(int))
	in := []byte{0x93, 0x01, 0x81, 0x01, 0x02, 0x03} // [1, {1: 2}, 3]
	got := callRaw(t, r, id(t, r, "pair-with-one"), in)
	if got != `[0,[[1,1],null,[3,1]],[[1,"map key: msgpack: want string, got int"]]]` {
		t.Errorf("got %s", got)
	}
}

func TestBadInput(t *testing.T) {
	r := testRegistry(new(int))
	tests := []struct {
		fn string
		in []byte
	}{
		{"pair-with-one", nil},
		{"pair-with-one", []byte{0x01}},             // not an array
		{"pair-with-one", []byte{0x92, 0x01}},       // truncated
		{"pair-with-one", []byte{0x91, 0x01, 0x02}}, // trailing bytes
		{"is-even", []byte{0xc1}},                   // never-used byte
		{"sum", []byte{0x91, 0x90}},                 // an empty group
		{"sum", []byte{0x91, 0x01}},                 // a group that is not an array
		{"sum", []byte{0x91, 0x92, 0x01}},           // a truncated group
		{"sum-into-state", []byte{0x91, 0x01}},      // [time] only
		{"sum-into-state", []byte{0x92, 0xa1, 'x', 0x90}},
		{"sum-into-state", []byte{0x92, 0x01, 0x91, 0x92, 0x01, 0x90}},       // entry of 2
		{"sum-into-state", []byte{0x92, 0x01, 0x91, 0x93, 0x01, 0x01, 0x90}}, // values not an array
		{"sum-into-state", []byte{0x92, 0x01, 0x91, 0x93, 0x01, 0x90, 0x01}}, // state not an option
		{"sum-into-state", []byte{0x92, 0x01, 0x91, 0x93, 0x01, 0x90, 0x92, 0x01, 0x02}},
	}
	for _, tt := range tests {
		resp := r.handle(nil, id(t, r, tt.fn), tt.in)
		_, err := abi.DecodeResponse(resp, 0, nil)
		var ge *abi.GuestError
		if !errors.As(err, &ge) || ge.Code != abi.CodeBadInput || !errors.Is(err, abi.ErrBadInput) {
			j, _ := abi.AppendJSON(nil, resp)
			t.Errorf("%s(% x): got %s, want a bad_input response", tt.fn, tt.in, j)
			continue
		}
		if !strings.HasPrefix(ge.Message, tt.fn+": ") {
			t.Errorf("message %q does not name the function", ge.Message)
		}
	}
}

func TestUnknownFunction(t *testing.T) {
	r := testRegistry(new(int))
	for _, fn := range []int{-1, len(r.fns), 1 << 30} {
		got := call(t, r, fn, `[1]`)
		want := `[2,"plugin \"test\" has no function ` + itoa(fn) + ` (it has 10)",[]]`
		if got != want {
			t.Errorf("fn %d: got %s, want %s", fn, got, want)
		}
	}
}

func itoa(i int) string { s, _ := abi.AppendJSON(nil, abi.AppendInt(nil, int64(i))); return string(s) }

// The response is appended to dst, so the wasm shim can reuse one buffer,
// and a failed call leaves what was in dst before it alone.
func TestHandleAppends(t *testing.T) {
	r := testRegistry(new(int))
	dst := []byte("prefix")
	resp := r.handle(dst, id(t, r, "pair-with-one"), []byte{0x91, 0x01})
	if string(resp[:6]) != "prefix" || string(resp[6:]) != "\x93\x00\x91\x92\x01\x01\x90" {
		t.Errorf("got %q", resp)
	}
	resp = r.handle(dst, id(t, r, "pair-with-one"), []byte{0x92, 0x01})
	if string(resp[:6]) != "prefix" || resp[7] != byte(abi.CodeBadInput) {
		t.Errorf("got %q", resp)
	}
}

func TestManifest(t *testing.T) {
	r := testRegistry(new(int))
	b := abi.AppendManifest(nil, r.manifest())
	m, err := abi.DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "test" || m.Version != "1.2.3" || m.Language != "go" || m.ABI != 1 || m.Pipeline != "stages: []\n" {
		t.Errorf("manifest %+v", m)
	}
	wantKinds := []abi.Kind{"map", "flatMap", "filter", "reduce", "update", "update", "mapState", "map", "map", "flatMap"}
	if len(m.Functions) != len(wantKinds) {
		t.Fatalf("functions %v", m.Functions)
	}
	for i, f := range m.Functions {
		if f.Name != r.fns[i].name || f.Kind != wantKinds[i] {
			t.Errorf("function %d: %+v", i, f)
		}
	}
	j, _ := abi.AppendJSON(nil, b)
	if !strings.HasPrefix(string(j), `{"abi":1,"name":"test","version":"1.2.3","language":"go","functions":[{"name":"pair-with-one","kind":"map"},`) {
		t.Errorf("manifest JSON %s", j)
	}
}

// The exported registration functions fill the package registry in order
// and refuse mistakes at init time, where they are easy to see.
func TestRegister(t *testing.T) {
	saved := plugin
	defer func() { plugin = saved }()
	plugin = registry{}
	Plugin("p", "v1")
	DefaultPipeline("x: 1")
	Map("m", func(x any) (any, error) { return x, nil })
	FlatMap("fm", func(x any) ([]any, error) { return nil, nil })
	Filter("f", func(x any) (bool, error) { return true, nil })
	Reduce("r", func(a, b any) (any, error) { return a, nil })
	Update("u", func(k any, vs []any, s Option, t int64) (Option, error) { return s, nil })
	MapState("ms", func(t int64, k any, v Option, s *State) (Option, error) { return v, nil })
	m := plugin.manifest()
	j, _ := abi.AppendJSON(nil, abi.AppendManifest(nil, m))
	want := `{"abi":1,"name":"p","version":"v1","language":"go","functions":[{"name":"m","kind":"map"},{"name":"fm","kind":"flatMap"},{"name":"f","kind":"filter"},{"name":"r","kind":"reduce"},{"name":"u","kind":"update"},{"name":"ms","kind":"mapState"}],"pipeline":"x: 1"}`
	if string(j) != want {
		t.Errorf("got  %s\nwant %s", j, want)
	}
	// A nil []any from flatMap is no results.
	if got := call(t, &plugin, 1, `[1,2]`); got != `[0,[[],[]],[]]` {
		t.Errorf("flatMap nil: %s", got)
	}
	for name, reg := range map[string]func(){
		"duplicate": func() { Map("m", func(x any) (any, error) { return x, nil }) },
		"nil":       func() { Reduce("nil", nil) },
		"unnamed":   func() { Filter("", func(x any) (bool, error) { return true, nil }) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registration did not panic", name)
				}
			}()
			reg()
		}()
	}
}

func BenchmarkPairWithOne(b *testing.B) {
	r := testRegistry(new(int))
	in, _ := abi.FromJSON(nil, []byte(`["a","bb","ccc","a","bb","ccc","a","bb","ccc","dddd"]`))
	var out []byte
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		out = r.handle(out[:0], 0, in)
	}
}
