// Command guest is the Go guest of the benchmark suite: the per-record logic
// of bench/logic behind the wstream Go SDK. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bench.wasm ./bench/guest
//
// (the suite does this itself).
package main

import (
	"fmt"
	"unsafe"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/bench/logic"
	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func init() {
	wstream.Plugin("bench", "1.0.0")
	// The raw API (guest-sdk/go/raw.go) where the logic takes a string:
	// no decoding of each record into an any.
	wstream.FilterRaw("is-click", func(x abi.Raw) (bool, error) {
		s, err := str(x, "is-click wants a JSON string")
		if err != nil {
			return false, err
		}
		return logic.IsClick(unsafe.String(unsafe.SliceData(s), len(s))), nil
	})
	wstream.Map("event-to-pair", func(x any) (any, error) {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("event-to-pair wants a JSON string, got %T", x)
		}
		u, a := logic.EventPair(s)
		return wstream.Pair(u, a), nil
	})
	wstream.MapRaw("pair-with-one", func(dst []byte, x abi.Raw) ([]byte, error) {
		if abi.TypeOf(x) == abi.TypeString { // the workloads' keys: copied as they are
			return abi.AppendInt(append(abi.AppendArrayHeader(dst, 2), x...), 1), nil
		}
		v, err := abi.Decode(x)
		if err != nil {
			return dst, err
		}
		return abi.Append(dst, wstream.Pair(v, int64(1)))
	})
	wstream.Reduce("add", wstream.Add)
	wstream.Reduce("sub", wstream.Sub)
	wstream.Update("sum-into-state", func(_ any, vs []any, s wstream.Option, _ int64) (wstream.Option, error) {
		acc := s.Or(int64(0))
		for _, v := range vs {
			var err error
			if acc, err = wstream.Add(acc, v); err != nil {
				return wstream.None, err
			}
		}
		return wstream.Some(acc), nil
	})
	// mapWithState: the running count of a key, emitted per record.
	wstream.MapState("running-count", func(_ int64, _ any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
		n, err := wstream.Add(st.Get().Or(int64(0)), v.Or(int64(0)))
		if err != nil {
			return wstream.None, err
		}
		st.Update(n)
		return wstream.Some(n), nil
	})
	// The stream-stream join's rows [id, time_ms]: keyed by id, timed by time.
	wstream.MapRaw("key-by-first", func(dst []byte, x abi.Raw) ([]byte, error) {
		k, _, err := abi.SplitPair(x)
		if err != nil {
			return dst, err
		}
		return append(append(abi.AppendArrayHeader(dst, 2), k...), x...), nil
	})
	wstream.MapRaw("second", func(dst []byte, x abi.Raw) ([]byte, error) {
		_, v, err := abi.SplitPair(x)
		if err != nil {
			return dst, err
		}
		return append(dst, v...), nil
	})
	wstream.MapRaw("upper", func(dst []byte, x abi.Raw) ([]byte, error) {
		s, err := str(x, "upper wants a string")
		if err != nil {
			return dst, err
		}
		// logic.Upper in place: the same loop without its allocation.
		dst = abi.AppendStringBytes(dst, s)
		body := dst[len(dst)-len(s):]
		for i, c := range body {
			if c >= 'a' && c <= 'z' {
				body[i] = c - ('a' - 'A')
			}
		}
		return dst, nil
	})
}

// str reads a string record, or says what it got instead.
func str(x abi.Raw, want string) ([]byte, error) {
	if abi.TypeOf(x) != abi.TypeString {
		v, _ := abi.Decode(x)
		return nil, fmt.Errorf("%s, got %T", want, v)
	}
	s, _, err := abi.ReadStringBytes(x)
	return s, err
}
