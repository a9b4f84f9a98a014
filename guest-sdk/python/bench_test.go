package pysdk_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

// The Python word count per input line, against the same work in native
// Go and the same Python functions on a normal CPython (python3), all in
// one run:
//
//	go test -run - -bench . -benchtime 20x ./guest-sdk/python/
//
// Times are CPU time: the machine may be shared. A WASM iteration is one
// batch: split-words over its lines and pair-with-one over their words,
// one call per stage as the host makes them; ns/line is the CPU time of
// those two calls (the Python functions, msgpack in and out, the host's
// copy and check of each response) per line. The native rows do the whole
// word count: Go with strings.Split and a map; CPython calling the same
// two Python functions and counting in a dict. x-native-go and x-cpython
// say how many times slower a row is than those.

const benchBatch = 1000

// benchLines are ~100-byte lines of words drawn Zipf-like from a
// vocabulary of 10000, like bench/'s word count input.
func benchLines(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, 9999)
	lines := make([]string, n)
	var b strings.Builder
	for i := range lines {
		b.Reset()
		for b.Len() < 100 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("w" + strconv.FormatUint(z.Uint64(), 36))
		}
		lines[i] = b.String()
	}
	return lines
}

func nativeGo(lines []string) int {
	counts := map[string]int{}
	for _, l := range lines {
		for _, w := range strings.Split(l, " ") {
			counts[w]++
		}
	}
	return len(counts)
}

// cpythonNsPerLine runs testdata/cpython_wordcount.py on lines.
func cpythonNsPerLine(b *testing.B, lines []string) float64 {
	py := python(b)
	f := filepath.Join(b.TempDir(), "lines.txt")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(py, "testdata/cpython_wordcount.py", f, strconv.Itoa(benchBatch), "5").Output()
	if err != nil {
		b.Fatalf("cpython_wordcount.py: %v", err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("cpython_wordcount.py printed %q", out)
	}
	return ns
}

func BenchmarkWordcount(b *testing.B) {
	lines := benchLines(20 * benchBatch)
	start := cpuTime()
	for i := 0; i < 5; i++ {
		nativeGo(lines)
	}
	goNs := float64((cpuTime() - start).Nanoseconds()) / float64(5*len(lines))
	cpyNs := cpythonNsPerLine(b, lines)
	b.Logf("native Go %.0f ns/line, native CPython %.0f ns/line", goNs, cpyNs)

	batch, err := abi.Append(nil, toAny(lines[:benchBatch]))
	if err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, cpu time.Duration) {
		ns := float64(cpu.Nanoseconds()) / float64(b.N*benchBatch)
		b.ReportMetric(ns, "ns/line")
		b.ReportMetric(1e9/ns, "lines/s")
		b.ReportMetric(ns/goNs, "x-native-go")
		b.ReportMetric(ns/cpyNs, "x-cpython")
	}
	b.Run("native-go", func(b *testing.B) {
		start := cpuTime()
		for i := 0; i < b.N; i++ {
			nativeGo(lines[:benchBatch])
		}
		report(b, cpuTime()-start)
	})
	for _, e := range engines(b) {
		for _, guest := range []struct{ name, path string }{
			{"go-wasm", goPlugin(b, "wordcount")},
			{"python-wasm", pyPlugin(b, "wordcount")},
		} {
			b.Run(guest.name+"/"+e.Name(), func(b *testing.B) {
				p := load(b, e, guest.path)
				split, _ := p.p.Func("split-words")
				pair, _ := p.p.Func("pair-with-one")
				wordcountBatch(b, split, pair, batch) // the instance is made here
				b.ResetTimer()
				var inCalls time.Duration
				for i := 0; i < b.N; i++ {
					inCalls += wordcountBatch(b, split, pair, batch)
				}
				report(b, inCalls)
			})
		}
	}
}

// wordcountBatch does what the host does with a batch of lines: one call
// of each stage, the words of every line as the next stage's input, the
// pairs counted. It returns the CPU time of the two calls: the functions,
// their msgpack in and out and the host's copy and check of each response.
func wordcountBatch(b *testing.B, split, pair *runtime.Func, batch []byte) time.Duration {
	ctx := context.Background()
	start := cpuTime()
	r, err := split.Call(ctx, batch, benchBatch)
	took := cpuTime() - start
	if err != nil {
		b.Fatal(err)
	}
	var words []byte
	n := 0
	for _, ws := range r.Results {
		items, _, err := abi.SplitArray(nil, ws)
		if err != nil {
			b.Fatal(err)
		}
		for _, w := range items {
			words = append(words, w...)
		}
		n += len(items)
	}
	in := append(abi.AppendArrayHeader(make([]byte, 0, len(words)+5), n), words...)
	start = cpuTime()
	pr, err := pair.Call(ctx, in, n)
	took += cpuTime() - start
	if err != nil {
		b.Fatal(err)
	}
	counts := map[string]int64{}
	for _, kv := range pr.Results {
		k, v, err := abi.SplitPair(kv)
		if err != nil {
			b.Fatal(err)
		}
		one, _, _ := abi.ReadInt(v)
		counts[string(k)] += one
	}
	return took
}

// cpuTime is the CPU time this process has used: on a shared machine,
// wall-clock time mostly measures the other processes.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func toAny(lines []string) []any {
	out := make([]any, len(lines))
	for i, l := range lines {
		out[i] = l
	}
	return out
}

// BenchmarkStartup: what a Python plugin costs before its first batch, per
// engine: compiling the module with no cache, compiling it again from the
// on-disk cache (what every later `wstream run` pays), and making one
// instance (the interpreter's start and the import of the author's file).
func BenchmarkStartup(b *testing.B) {
	wasm, err := os.ReadFile(pyPlugin(b, "wordcount"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range engines(b) {
		b.Run(e.Name()+"/compile-cold", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				fresh := newEngine(b, e.Name()) // an engine keeps compiled modules in memory
				m, err := fresh.Compile(ctx, "wordcount.wasm", wasm, runtime.Config{CacheDir: "-"}.Defaults())
				if err != nil {
					b.Fatal(err)
				}
				m.Close(ctx)
				fresh.Close(ctx)
			}
		})
		b.Run(e.Name()+"/compile-cached", func(b *testing.B) {
			cfg := runtime.Config{CacheDir: b.TempDir()}.Defaults()
			m, err := e.Compile(ctx, "wordcount.wasm", wasm, cfg) // fills the cache
			if err != nil {
				b.Fatal(err)
			}
			m.Close(ctx)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m, err := e.Compile(ctx, "wordcount.wasm", wasm, cfg)
				if err != nil {
					b.Fatal(err)
				}
				m.Close(ctx)
			}
		})
		b.Run(e.Name()+"/instantiate", func(b *testing.B) {
			m, err := e.Compile(ctx, "wordcount.wasm", wasm, runtime.Config{}.Defaults())
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close(ctx)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				in, err := m.Instantiate(ctx)
				if err != nil {
					b.Fatal(err)
				}
				in.Close(ctx)
			}
		})
	}
}
