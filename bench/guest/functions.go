// Command guest is the Go guest of the benchmark suite: the per-record logic
// of bench/logic behind the wstream Go SDK. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bench.wasm ./bench/guest
//
// (the suite does this itself).
package main

import (
	"fmt"

	"github.com/wstream/wstream/bench/logic"
	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func init() {
	wstream.Plugin("bench", "1.0.0")
	wstream.Filter("is-click", func(x any) (bool, error) {
		s, ok := x.(string)
		if !ok {
			return false, fmt.Errorf("is-click wants a JSON string, got %T", x)
		}
		return logic.IsClick(s), nil
	})
	wstream.Map("event-to-pair", func(x any) (any, error) {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("event-to-pair wants a JSON string, got %T", x)
		}
		u, a := logic.EventPair(s)
		return wstream.Pair(u, a), nil
	})
	wstream.Map("pair-with-one", func(x any) (any, error) { return wstream.Pair(x, int64(1)), nil })
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
	wstream.Map("upper", func(x any) (any, error) {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("upper wants a string, got %T", x)
		}
		return string(logic.Upper([]byte(s))), nil
	})
}
