package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
)

// The pipeline examples of the README parse as written.
func TestParseSpecDesignExamples(t *testing.T) {
	s, err := Parse([]byte(`
plugin: plugins/conformance/conformance.wasm   # default module for ` + "`fn`" + ` names
batch: 1s                                      # micro-batch interval
clock: system                                  # or ` + "`manual`" + `
checkpoint: ./ckpt                             # optional
sources: {input: "socket://127.0.0.1:7777"}    # or ` + "`source: URI`" + `
stages:                                        # a linear chain from the single source
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKeyAndWindow, fn: sum, inverse: subtract, filter: value-nonzero, window: 3s, slide: 1s}
sink: stdout
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Plugin != "plugins/conformance/conformance.wasm" || s.Batch.D() != time.Second || s.Clock != "system" ||
		s.Checkpoint != "./ckpt" || s.Sources["input"] != "socket://127.0.0.1:7777" || s.Sink != "stdout" {
		t.Errorf("spec %+v", s)
	}
	if len(s.Stages) != 3 {
		t.Fatalf("stages %+v", s.Stages)
	}
	w := s.Stages[2]
	if w.Op != "reduceByKeyAndWindow" || w.Fn != "sum" || w.Inverse != "subtract" || w.Filter != "value-nonzero" ||
		w.Window.D() != 3*time.Second || w.Slide.D() != time.Second || w.Line != 10 {
		t.Errorf("window stage %+v", w)
	}

	s, err = Parse([]byte(`
sources: {input1: "batches:a.jsonl", input2: "batches:b.jsonl"}
streams:
  - {name: l,   from: input1, stages: [{op: map, fn: pair-with-one}]}
  - {name: r,   from: input2, stages: [{op: map, fn: pair-with-x}]}
  - {name: out, from: l,      stages: [{op: leftOuterJoin, other: r}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.SourceNames(); len(got) != 2 || got[0] != "input1" || got[1] != "input2" {
		t.Errorf("source names %v", got)
	}
	if len(s.Streams) != 3 || s.Streams[2].From != "l" || s.Streams[2].Stages[0].Other != "r" || s.Streams[2].Stages[0].Line != 6 {
		t.Errorf("streams %+v", s.Streams)
	}

	// source: URI is the source named input; defaults fill the rest.
	s, err = Parse([]byte("source: file:in.txt\nstages: [{op: updateStateByKey, fn: sum-into-state, initial: [[a, 1]]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.ApplyDefaults()
	if s.Sources["input"] != "file:in.txt" || s.Batch.D() != DefaultBatch || s.Sink != DefaultSink || s.Clock != "system" {
		t.Errorf("defaults %+v", s)
	}
	if got, err := abi.AppendJSON(nil, s.Stages[0].Initial[0]); len(s.Stages[0].Initial) != 1 || err != nil || string(got) != `["a",1]` {
		t.Errorf("initial %q", got)
	}
}

func TestParseSpecErrors(t *testing.T) {
	for input, want := range map[string]string{
		"batch: 1s\nbacth: 2s\n":                                            "line 2: unknown field bacth (did you mean batch?)",
		"stages: [{op: map, fnn: x}]\n":                                     "line 1: unknown field fnn in a stage (did you mean fn?)",
		"batch: fast\n":                                                     `line 1: "fast" is not a duration (write it like 500ms, 1s or 2m)`,
		"stages: [{op: window, window: -1s}]\n":                             `duration "-1s" is negative`,
		"clock: wall\n":                                                     `clock: "wall" is not a clock (use system or manual)`,
		"source: stdin\nsources: {a: stdin}\n":                              "give either source: or sources:, not both",
		"stages: [{op: map}]\nstreams: [{name: x}]":                         "give either stages: (one chain) or streams: (named streams), not both",
		"stages: [{op: join, within: {before: 1s}}]":                        "line 1: within: give both before: and after:",
		"stages: [{op: join, within: {before: 1s, after: 1s, around: 2s}}]": `within: unknown field "around"`,
		"stages: [{op: join, within: [1s]}]":                                "within: want a duration (10m) or {before: D1, after: D2}",
		"stages: [{op: join, within: soon}]":                                `"soon" is not a duration`,
	} {
		_, err := Parse([]byte(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", input, err, want)
		}
	}
}

// within: is one duration for both ends, or each end apart.
func TestWithin(t *testing.T) {
	for input, want := range map[string]string{
		"stages: [{op: join, within: 10m}]":                        "{before: 10m0s, after: 10m0s}",
		"stages: [{op: join, within: {before: 1s, after: 0s}}]":    "{before: 1s, after: 0s}",
		"stages: [{op: join, within: {after: 500ms, before: 2m}}]": "{before: 2m0s, after: 500ms}",
		"stages: [{op: join}]":                                     "",
	} {
		s, err := Parse([]byte(input))
		if err != nil {
			t.Errorf("%s: %v", input, err)
		} else if got := s.Stages[0].Within.String(); got != want {
			t.Errorf("%s: %q, want %q", input, got, want)
		}
	}
}

// Every relative path in a pipeline file is relative to the file's folder,
// whatever the working directory; absolute paths and server URIs stay.
func TestReadResolvesPathsBesideTheFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "jobs", "p.yaml")
	os.MkdirAll(filepath.Dir(p), 0o777)
	os.WriteFile(p, []byte(`plugin: plugins/wc.wasm
checkpoint: ckpt
sources: {a: "file:in.csv?format=csv", b: "socket://127.0.0.1:7777", c: "batches:/abs/b.jsonl", d: stdin}
stages: [{op: map, fn: f, plugin: ../other.wasm}, {op: transform, stages: [{op: map, fn: g, plugin: nested.wasm}]}]
sink: jsonl:out/counts.jsonl
late: jsonl:late.jsonl
deadLetter: kafka://k:9092/dead
allow: ["fs:data", clock]
`), 0o666)
	s, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	j := filepath.Join(dir, "jobs")
	for got, want := range map[string]string{
		s.Plugin: j + "/plugins/wc.wasm", s.Checkpoint: j + "/ckpt", s.Sources["a"]: "file:" + j + "/in.csv?format=csv",
		s.Sources["b"]: "socket://127.0.0.1:7777", s.Sources["c"]: "batches:/abs/b.jsonl", s.Sources["d"]: "stdin",
		s.Stages[0].Plugin: dir + "/other.wasm", s.Stages[1].Stages[0].Plugin: j + "/nested.wasm",
		s.Sink: "jsonl:" + j + "/out/counts.jsonl", s.Late: "jsonl:" + j + "/late.jsonl", s.DeadLetter: "kafka://k:9092/dead",
		s.Allow[0]: "fs:" + j + "/data", s.Allow[1]: "clock",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

// A source may be a map with its URI under uri: and its parameters beside
// it; key: is a path, a function or a list of them.
func TestParseSourceMapsAndKeys(t *testing.T) {
	s, err := Parse([]byte(`
sources:
  readings: {uri: "file:readings.csv", format: csv, header: false, onError: deadletter}
  more: {uri: "socket://127.0.0.1:7777?format=json", maxLine: 4MiB}
  plain: stdin
stages:
  - {op: keyBy, key: .sensor}
  - {op: dropDuplicates, key: [.id, .ts]}
  - {op: aggregateBySession, gap: 30s, key: first, value: .1.amount, fn: sum}
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Sources["readings"] != "file:readings.csv?format=csv&header=false&onError=deadletter" ||
		s.Sources["more"] != "socket://127.0.0.1:7777?format=json&maxLine=4MiB" || s.Sources["plain"] != "stdin" {
		t.Errorf("sources %v", s.Sources)
	}
	if k := s.Stages[0].Key; len(k) != 1 || k[0] != ".sensor" {
		t.Errorf("key %v", k)
	}
	if k := s.Stages[1].Key; len(k) != 2 || k.String() != "[.id, .ts]" {
		t.Errorf("composite key %v", k)
	}
	if st := s.Stages[2]; st.Gap.D() != 30*time.Second || st.Value != ".1.amount" || st.Key.String() != "first" {
		t.Errorf("session stage %+v", st)
	}

	for input, want := range map[string]string{
		"sources: {a: {format: csv}}\n":                   "sources: a: the map form needs uri:",
		"sources: {a: {uri: x, format: [csv]}}\n":         "sources: a: format: want a single value",
		"sources: [stdin]\n":                              "sources: want a map from names to source URIs",
		"stages: [{op: dropDuplicates, key: []}]\n":       "key: is an empty list",
		"stages: [{op: dropDuplicates, key: {a: 1}}]\n":   "key: want a path (.sensor), a function name, or a list of them",
		"stages: [{op: dropDuplicates, key: [[.a]]}]\n":   "key: want a list of paths (.sensor) or function names",
		"stages: [{op: aggregateBySession, gap: soon}]\n": `"soon" is not a duration`,
	} {
		_, err := Parse([]byte(input))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", input, err, want)
		}
	}
}

// Every sink of a pipeline, with the name its progress is kept under: the
// final stream's sinks (top-level, then the last stream's own) first.
func TestSpecOutputs(t *testing.T) {
	s, err := Parse([]byte(`
sources: {in: stdin}
streams:
  - {name: words, from: in, sinks: ["jsonl:w1.jsonl", "jsonl:w2.jsonl"]}
  - {name: quiet, from: words}
  - {name: counts, from: words, sink: "postgres://u@h:5432/db?table=t"}
sinks: [stdout, "jsonl:all.jsonl"]
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range s.Outputs() {
		got = append(got, o.Name+"="+o.Stream+">"+o.URI)
	}
	want := "[sink=>stdout sink#2=>jsonl:all.jsonl sink#3=>postgres://u@h:5432/db?table=t words=words>jsonl:w1.jsonl words#2=words>jsonl:w2.jsonl]"
	if g := "[" + strings.Join(got, " ") + "]"; g != want {
		t.Errorf("outputs\n%s\nwant\n%s", g, want)
	}
	s.SetSink("jsonl:only.jsonl")
	if o := s.Outputs(); len(o) != 3 || o[0].URI != "jsonl:only.jsonl" || o[1].Name != "words" {
		t.Errorf("after SetSink: %+v", o)
	}
	s.ApplyDefaults()
	if s.Sink != "jsonl:only.jsonl" {
		t.Errorf("defaults replaced the sink: %q", s.Sink)
	}
	// Streams with sinks of their own: no stdout added for the final one.
	s, _ = Parse([]byte("sources: {in: stdin}\nstreams: [{name: a, from: in, sink: \"jsonl:a.jsonl\"}, {name: b, from: a}]\n"))
	if s.ApplyDefaults(); s.Sink != "" || len(s.Outputs()) != 1 {
		t.Errorf("defaults: sink %q, outputs %+v", s.Sink, s.Outputs())
	}
	for _, bad := range []struct{ yaml, want string }{
		{"sink: stdout\nsinks: [stdout]\n", "the pipeline: give either sink: or sinks:"},
		{"sinks: [\"jsonl:a\", \"jsonl:a\"]\n", "sink jsonl:a is also a sink of the pipeline"},
		{"sinks: [\"\"]\n", "empty URI"},
		{"sources: {in: stdin}\nstreams: [{name: a, from: in, sink: \"jsonl:x\"}]\nsink: \"jsonl:x\"\n", "stream a: sink jsonl:x is also a sink of the pipeline"},
	} {
		if _, err := Parse([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

// A run's web server listens where http: says; a port alone stays on
// loopback, and a URL or a bad port is refused naming the forms.
func TestHTTPAddr(t *testing.T) {
	for in, want := range map[string]string{
		"4040":            "127.0.0.1:4040",
		":4040":           "127.0.0.1:4040",
		"127.0.0.1:4040":  "127.0.0.1:4040",
		"0.0.0.0:80":      "0.0.0.0:80",
		"[::1]:0":         "[::1]:0",
		"localhost:04040": "localhost:4040",
		"http://x:1":      "is a URL",
		"x":               "is not an address",
		"x:99999":         "not a number from 0 to 65535",
		"x:y":             "not a number",
	} {
		got, err := HTTPAddr(in)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, want) {
			t.Errorf("HTTPAddr(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := Parse([]byte("http: nowhere\n")); err == nil || !strings.Contains(err.Error(), `http: "nowhere" is not an address`) {
		t.Errorf("a pipeline with a bad http: parsed: %v", err)
	}
}
