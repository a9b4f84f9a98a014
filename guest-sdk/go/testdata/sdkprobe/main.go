// Command sdkprobe is a plugin that exercises the SDK inside WebAssembly:
// logging, panics of every sort, the GC running during a call. The SDK's
// wasm_test.go builds and drives it; it is not a real plugin.
package main

import (
	"errors"
	"runtime"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func main() {}

func init() {
	wstream.Plugin("sdkprobe", "0")
	wstream.DefaultPipeline("stages: []\n")
	wstream.Map("echo-and-log", func(x any) (any, error) {
		if s, ok := x.(string); ok && s == "hello" {
			wstream.Log(2, s)
		}
		return x, nil
	})
	wstream.Map("misbehave", func(x any) (any, error) {
		switch x {
		case "panic":
			panic("on purpose")
		case "nil-map":
			var m map[string]int
			m["a"] = 1
		case "index":
			var s []int
			return s[len(x.(string))], nil
		case "divide":
			zero := int64(len(x.(string)) - 6)
			return 1 / zero, nil
		case "nil-pointer":
			var p *int
			return *p, nil
		case "error":
			return nil, errors.New("failed on purpose")
		}
		return x, nil
	})
	wstream.Map("gc", func(x any) (any, error) {
		if x == "gc" { // grow the heap and collect, mid-call
			_ = make([]byte, 8<<20)
			runtime.GC()
		}
		return x, nil
	})
	wstream.Reduce("concat", func(a, b any) (any, error) { return a.(string) + b.(string), nil })
	wstream.Update("describe", func(k any, vs []any, s wstream.Option, t int64) (wstream.Option, error) {
		if k == "drop" {
			return wstream.None, nil
		}
		return wstream.Some([]any{k, vs, s.OK, s.Value, t}), nil
	})
	wstream.FlatMap("repeat", func(x any) ([]any, error) {
		n, ok := wstream.ToInt(x)
		if !ok || n < 0 {
			return nil, errors.New("want a count")
		}
		out := make([]any, n)
		for i := range out {
			out[i] = int64(i)
		}
		return out, nil
	})
	wstream.Filter("truthy", func(x any) (bool, error) { return x == true, nil })
}
