package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
	wstreamwazero "github.com/wstream/wstream/runtime/wazero"
)

// BenchmarkTermination measures what wazero's WithCloseOnContextDone(true),
// which the safety rules require so that a runaway guest cannot freeze the host,
// costs inside guest code: with it, wazero (v1.12) compiles a call back into
// Go at every loop header of the guest. It calls split-words of each word
// count guest on 1000 100-byte lines, with the option off and on:
//
//	go test -run - -bench Termination ./bench/
func BenchmarkTermination(b *testing.B) {
	root, _ := filepath.Abs("..")
	recs, _ := encode(lineGen(1, 100000), 1000)
	in := abi.AppendArray(nil, recs)
	for _, lang := range []string{"go", "c", "rust", "assemblyscript"} {
		rel := map[string]string{"go": "plugins/wordcount/wordcount.wasm", "c": "plugins/wordcount/c/wordcount.wasm",
			"rust": "plugins/wordcount/rust/wordcount.wasm", "assemblyscript": "plugins/wordcount/assemblyscript/wordcount.wasm"}[lang]
		wasm, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			continue // not built: make plugins
		}
		b.Run(lang+"/metered-wstream-engine", func(b *testing.B) {
			ctx := context.Background()
			e := wstreamwazero.New(ctx)
			defer e.Close(ctx)
			p, err := runtime.Load(ctx, e, rel, wasm, runtime.Config{Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(ctx)
			f, err := p.Func("split-words")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(in)))
			for i := 0; i < b.N; i++ {
				if _, err := f.Call(ctx, in, len(recs)); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, closeOnDone := range []bool{false, true} {
			name := lang + "/close-on-context-done=" + map[bool]string{false: "off", true: "on"}[closeOnDone]
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(closeOnDone))
				defer r.Close(ctx)
				wasi_snapshot_preview1.MustInstantiate(ctx, r)
				if _, err := r.NewHostModuleBuilder(abi.ImportModule).NewFunctionBuilder().
					WithFunc(func(int32, int32, int32) {}).Export("log").Instantiate(ctx); err != nil {
					b.Fatal(err)
				}
				m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStartFunctions("_initialize"))
				if err != nil {
					b.Fatal(err)
				}
				fn := splitWordsID(b, ctx, m)
				res, err := m.ExportedFunction(abi.ExportAlloc).Call(ctx, uint64(len(in)))
				if err != nil {
					b.Fatal(err)
				}
				ptr := uint32(res[0])
				call := m.ExportedFunction(abi.ExportCall)
				b.SetBytes(int64(len(in)))
				for i := 0; i < b.N; i++ {
					m.Memory().Write(ptr, in)
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					if _, err := call.Call(cctx, uint64(fn), uint64(ptr), uint64(len(in))); err != nil {
						b.Fatal(err)
					}
					cancel()
				}
			})
		}
	}
}

func splitWordsID(b *testing.B, ctx context.Context, m api.Module) int {
	res, err := m.ExportedFunction(abi.ExportManifest).Call(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ptr, n := abi.Unpack(res[0])
	raw, _ := m.Memory().Read(ptr, n)
	man, err := abi.DecodeManifest(raw)
	if err != nil {
		b.Fatal(err)
	}
	id, _, ok := man.Lookup("split-words")
	if !ok {
		b.Fatal("no split-words")
	}
	return id
}
