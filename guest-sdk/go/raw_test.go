package wstream

import (
	"bytes"
	"errors"
	"testing"

	"github.com/wstream/wstream/abi"
)

// rawRegistry has raw functions and their `any` twins, which must answer
// with the same bytes, plus raw functions that break their promise.
func rawRegistry() *registry {
	r := &registry{name: "raw"}
	add := func(f function) { r.add(f, true) }
	add(function{name: "pair-with-one", kind: abi.KindMap, mapRaw: func(dst []byte, x abi.Raw) ([]byte, error) {
		return abi.AppendInt(append(abi.AppendArrayHeader(dst, 2), x...), 1), nil
	}})
	add(function{name: "pair-with-one-any", kind: abi.KindMap, mapFn: func(x any) (any, error) { return Pair(x, 1), nil }})
	add(function{name: "repeat", kind: abi.KindFlatMap, flatRaw: func(dst []byte, x abi.Raw) ([]byte, int, error) {
		n, _, err := abi.ReadInt(x)
		if err != nil {
			return dst, 0, errors.New("want an int")
		}
		if n == 13 {
			panic("unlucky")
		}
		for i := int64(0); i < n; i++ {
			dst = append(dst, x...)
		}
		return dst, int(n), nil
	}})
	add(function{name: "repeat-any", kind: abi.KindFlatMap, flatFn: func(x any) ([]any, error) {
		n, ok := x.(int64)
		if !ok {
			return nil, errors.New("want an int")
		}
		if n == 13 {
			panic("unlucky")
		}
		out := make([]any, n)
		for i := range out {
			out[i] = x
		}
		return out, nil
	}})
	add(function{name: "is-str", kind: abi.KindFilter, filterRaw: func(x abi.Raw) (bool, error) {
		return abi.TypeOf(x) == abi.TypeString, nil
	}})
	add(function{name: "is-str-any", kind: abi.KindFilter, filter: func(x any) (bool, error) {
		_, ok := x.(string)
		return ok, nil
	}})
	add(function{name: "writes-two", kind: abi.KindMap, mapRaw: func(dst []byte, x abi.Raw) ([]byte, error) {
		return append(append(dst, x...), x...), nil
	}})
	add(function{name: "lies-about-count", kind: abi.KindFlatMap, flatRaw: func(dst []byte, x abi.Raw) ([]byte, int, error) {
		return append(dst, x...), 2, nil
	}})
	return r
}

func TestRawFunctions(t *testing.T) {
	r := rawRegistry()
	call := func(name, js string) []byte {
		t.Helper()
		in, err := abi.FromJSON(nil, []byte(js))
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range r.fns {
			if f.name == name {
				return r.handle(nil, i, in)
			}
		}
		t.Fatalf("no function %s", name)
		return nil
	}
	for _, c := range []struct{ fn, in string }{
		{"pair-with-one", `["a", 1, "", null, [1, 2]]`},
		{"repeat", `[0, 1, 3, 20, "x", 13, 2]`}, // 20 values need a 3-byte array header
		{"is-str", `["a", 1, [], "b"]`},
	} {
		got, want := call(c.fn, c.in), call(c.fn+"-any", c.in)
		if !bytes.Equal(got, want) {
			t.Errorf("%s(%s):\n raw %s\n any %s", c.fn, c.in, abi.Describe(got), abi.Describe(want))
		}
	}
	for _, fn := range []string{"writes-two", "lies-about-count"} {
		resp, err := abi.DecodeResponse(call(fn, `["a", "b"]`), 2, nil)
		if err != nil {
			t.Fatalf("%s: %v", fn, err)
		}
		if len(resp.Errors) != 2 {
			t.Errorf("%s: %d record errors, want 2: %+v", fn, len(resp.Errors), resp.Errors)
		}
	}
}
