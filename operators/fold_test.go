package operators

import (
	"bytes"
	"context"
	"testing"

	"github.com/wstream/wstream/abi"
)

// TestFoldByKey checks that reduceByKey's one-pass fold of the built-ins
// gives the same records as grouping then reducing, and refuses (so the
// grouping path reports the error) what that path fails on.
func TestFoldByKey(t *testing.T) {
	batches := map[string]string{
		"ints":    `[["a",1],["b",2],["a",3],["c",-4],["b",5]]`,
		"floats":  `[["a",1],["a",2.5],["a",3],["b",0.1],["b",0.2]]`,
		"strings": `[["a","x"],["a","b"],["b","z"]]`,
		"mixed":   `[["a",1],["a","x"]]`,
		"notpair": `[["a",1],5]`,
		"nan":     `[["a",1],["b","x"]]`,
	}
	for _, name := range []string{"sum", "count", "min", "max"} {
		b := builtins[name]
		for what, js := range batches {
			raw, err := abi.FromJSON(nil, []byte(js))
			if err != nil {
				t.Fatal(err)
			}
			in, _, err := abi.SplitArray(nil, raw)
			if err != nil {
				t.Fatal(err)
			}
			var want []abi.Raw
			g, gerr := groupPairs(in, "test")
			if gerr == nil {
				var red []abi.Raw
				if red, gerr = b.reduce(context.Background(), g.vals); gerr == nil {
					want = pairs(g.keys, red)
				}
			}
			got, ok := b.foldByKey(in)
			if ok != (gerr == nil) {
				t.Errorf("%s %s: fold ok=%v, grouping err=%v", name, what, ok, gerr)
				continue
			}
			if !ok {
				continue
			}
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d records, want %d", name, what, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Errorf("%s %s: record %d = %s, want %s", name, what, i, abi.Describe(got[i]), abi.Describe(want[i]))
				}
			}
		}
	}
}
