// Package conformance holds wstream's semantic vectors and the runner that
// checks a built wstream binary against them. A vector is data: a pipeline,
// input batches per source, and the expected output batches, taken from
// Spark's documented semantics and its own test suites. The same vectors run
// against every runtime and every guest SDK's conformance plugin.
package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Vector is one case. In a file, vectors are a YAML list.
type Vector struct {
	Name string `yaml:"name"`
	// Spark names the Spark test the case comes from, when it does.
	Spark string `yaml:"spark"`
	// Pipeline is the pipeline file body, without plugin, sources, sink and
	// clock, which the runner sets (manual clock, batch 1s unless given).
	Pipeline yaml.Node `yaml:"pipeline"`
	// Inputs maps a source name to its batches; each batch is a JSON array
	// or null (no data that interval). A single source is named input.
	Inputs map[string][]any `yaml:"inputs"`
	// Expected lists output batches in order. An entry is either an array
	// (the records of the next batch time: batch k at k × batch) or a map
	// {time: ms, records: [...]} for outputs only at some times (windows),
	// optionally with watermark: ms and noData: true|false (event time).
	Expected []any `yaml:"expected"`
	// Compare is "ordered" (default) or "unordered" (each batch compared as
	// a multiset, as Spark's tests do with useSet = true).
	Compare string `yaml:"compare"`
	// Error, instead of Expected, is a substring the run's error must hold.
	Error string `yaml:"error"`

	File string `yaml:"-"`
}

// Load reads every *.yaml vector file in dir.
func Load(dir string) ([]Vector, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var all []Vector
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var vs []Vector
		if err := dec.Decode(&vs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for i := range vs {
			vs[i].File = filepath.Base(f)
			if vs[i].Name == "" {
				return nil, fmt.Errorf("%s: vector %d has no name", f, i)
			}
		}
		all = append(all, vs...)
	}
	return all, nil
}

// Batch is one expected or actual output line. Watermark and NoData are
// compared only when the expected line gives them.
type Batch struct {
	Time      int64             `json:"time"`
	Records   []json.RawMessage `json:"records"`
	Watermark *int64            `json:"watermark,omitempty"`
	NoData    *bool             `json:"noData,omitempty"`
}

// PipelineFile renders the vector's pipeline with the runner's fields: the
// plugin, one batches: source per input, a jsonl sink, and a manual clock.
// It adds them to the YAML tree as written, so that every scalar keeps its
// text: a path such as .1 must not become the number 0.1.
func (v *Vector) PipelineFile(plugin string, inputs map[string]string, sink string) ([]byte, error) {
	body := v.Pipeline
	if body.Kind == 0 {
		body = yaml.Node{Kind: yaml.MappingNode}
	}
	if body.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("vector %s: pipeline: want a map", v.Name)
	}
	body.Content = append([]*yaml.Node(nil), body.Content...)
	find := func(key string) int {
		for i := 0; i+1 < len(body.Content); i += 2 {
			if body.Content[i].Value == key {
				return i
			}
		}
		return -1
	}
	set := func(key string, value any) error {
		var n yaml.Node
		if err := n.Encode(value); err != nil {
			return err
		}
		body.Content = append(body.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, &n)
		return nil
	}
	for _, f := range []struct {
		key   string
		value any
		force bool
	}{{"plugin", plugin, true}, {"sources", inputs, true}, {"sink", sink, true}, {"clock", "manual", false}, {"batch", "1s", false}} {
		at := find(f.key)
		if at >= 0 && f.force {
			body.Content = append(body.Content[:at], body.Content[at+2:]...)
			at = -1
		}
		if at < 0 {
			if err := set(f.key, f.value); err != nil {
				return nil, err
			}
		}
	}
	return yaml.Marshal(&body)
}

// BatchesFiles writes each input as a batches: file in dir and returns the
// source URIs by name.
func (v *Vector) BatchesFiles(dir string) (map[string]string, error) {
	uris := map[string]string{}
	for name, batches := range v.Inputs {
		var buf bytes.Buffer
		for _, b := range batches {
			line, err := json.Marshal(b)
			if err != nil {
				return nil, err
			}
			buf.Write(line)
			buf.WriteByte('\n')
		}
		path := filepath.Join(dir, name+".jsonl")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		uris[name] = "batches:" + path
	}
	return uris, nil
}

// ExpectedBatches turns Expected into batches with times; interval is the
// batch interval in ms.
func (v *Vector) ExpectedBatches(interval int64) ([]Batch, error) {
	var out []Batch
	for i, e := range v.Expected {
		b := Batch{Time: int64(i+1) * interval}
		var recs any = e
		if m, ok := e.(map[string]any); ok {
			t, ok := m["time"].(int)
			if !ok {
				return nil, fmt.Errorf("vector %s: expected[%d]: want time: <ms>", v.Name, i)
			}
			b.Time, recs = int64(t), m["records"]
			if w, ok := m["watermark"].(int); ok {
				wm := int64(w)
				b.Watermark = &wm
			}
			if nd, ok := m["noData"].(bool); ok {
				b.NoData = &nd
			}
		}
		list, ok := recs.([]any)
		if !ok && recs != nil {
			return nil, fmt.Errorf("vector %s: expected[%d]: want a list of records", v.Name, i)
		}
		for _, r := range list {
			j, err := json.Marshal(r)
			if err != nil {
				return nil, err
			}
			b.Records = append(b.Records, j)
		}
		out = append(out, b)
	}
	return out, nil
}

// ParseOutput reads a jsonl: sink file.
func ParseOutput(data []byte) ([]Batch, error) {
	var out []Batch
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var b Batch
		if err := json.Unmarshal(line, &b); err != nil {
			return nil, fmt.Errorf("output line %d: %w", i+1, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// Diff compares actual with expected batches and describes the first
// difference, or returns "" when they match.
func Diff(expected, actual []Batch, unordered bool) string {
	for i := 0; i < len(expected) || i < len(actual); i++ {
		if i >= len(actual) {
			return fmt.Sprintf("batch %d (time %d): missing; want %s", i+1, expected[i].Time, show(expected[i].Records))
		}
		if i >= len(expected) {
			return fmt.Sprintf("batch %d (time %d): unexpected %s", i+1, actual[i].Time, show(actual[i].Records))
		}
		e, a := expected[i], actual[i]
		if e.Time != a.Time {
			return fmt.Sprintf("batch %d: time %d, want %d", i+1, a.Time, e.Time)
		}
		if e.Watermark != nil && (a.Watermark == nil || *a.Watermark != *e.Watermark) {
			return fmt.Sprintf("batch %d (time %d): watermark %s, want %d", i+1, a.Time, showInt(a.Watermark), *e.Watermark)
		}
		if e.NoData != nil && *e.NoData != (a.NoData != nil && *a.NoData) {
			return fmt.Sprintf("batch %d (time %d): noData %v, want %v", i+1, a.Time, a.NoData != nil && *a.NoData, *e.NoData)
		}
		es, as := canon(e.Records), canon(a.Records)
		if unordered {
			sort.Strings(es)
			sort.Strings(as)
		}
		if strings.Join(es, ",") != strings.Join(as, ",") {
			return fmt.Sprintf("batch %d (time %d):\n  got  %s\n  want %s", i+1, a.Time, show(a.Records), show(e.Records))
		}
	}
	return ""
}

// canon renders records so that numerically equal JSON compares equal
// (1 and 1.0 differ in msgpack type but Spark's tests compare values).
func canon(recs []json.RawMessage) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			out[i] = string(r)
			continue
		}
		b, _ := json.Marshal(v)
		out[i] = string(b)
	}
	return out
}

func show(recs []json.RawMessage) string {
	parts := make([]string, len(recs))
	for i, r := range recs {
		parts[i] = string(r)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func showInt(p *int64) string {
	if p == nil {
		return "absent"
	}
	return fmt.Sprint(*p)
}
