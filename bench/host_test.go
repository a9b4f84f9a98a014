package bench

import (
	"context"
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
)

// cannedFunc is a guest function that answers with a fixed response, so
// that a benchmark measures only the host side of a stage.
type cannedFunc struct {
	name string
	kind abi.Kind
	resp []byte
}

func (f *cannedFunc) Name() string   { return f.name }
func (f *cannedFunc) Kind() abi.Kind { return f.kind }
func (f *cannedFunc) Call(_ context.Context, _ []byte, n int) (abi.Response, error) {
	return abi.DecodeResponse(f.resp, n, nil)
}

type cannedResolver map[string]*cannedFunc

func (r cannedResolver) Func(_, name string) (operators.Func, error) { return r[name], nil }

// BenchmarkFlatMapHost is the host side of word count's flatMap stage: a
// batch of 10000 lines whose guest result is the split words, canned.
//
//	go test -run - -bench FlatMapHost -benchmem ./bench/
func BenchmarkFlatMapHost(b *testing.B) {
	recs, lines := encode(lineGen(1, 100000), 10000)
	resp := abi.AppendResponseHeader(nil, len(lines))
	for _, l := range lines {
		ws := splitSpace(l)
		resp = abi.AppendArrayHeader(resp, len(ws))
		for _, w := range ws {
			resp = abi.AppendString(resp, w)
		}
	}
	resp = abi.AppendRecordErrors(resp, nil)
	spec, err := pipeline.Parse([]byte("stages:\n  - {op: flatMap, fn: split-words}\n"))
	if err != nil {
		b.Fatal(err)
	}
	spec.ApplyDefaults()
	g, err := operators.Build(spec, cannedResolver{"split-words": {name: "split-words", kind: abi.KindFlatMap, resp: resp}})
	if err != nil {
		b.Fatal(err)
	}
	in := map[string][]abi.Raw{"input": recs}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := g.Process(context.Background(), int64(i+1)*1000, in); err != nil {
			b.Fatal(err)
		}
	}
}

func splitSpace(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
