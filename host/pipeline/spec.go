package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wstream/wstream/abi"
)

// Spec is a pipeline file (the README's "Pipelines"). Parse it with
// Parse, which checks its shape; the operator graph checks op and
// function names when it is built.
type Spec struct {
	Plugin          string   `yaml:"plugin"`
	Batch           Duration `yaml:"batch"`
	Clock           Clock    `yaml:"clock"`
	Checkpoint      string   `yaml:"checkpoint"`
	CheckpointEvery int      `yaml:"checkpointEvery"`
	Source          string   `yaml:"source"`
	Sources         Sources  `yaml:"sources"`
	Stages          []Stage  `yaml:"stages"`
	Streams         []Stream `yaml:"streams"`
	Sink            string   `yaml:"sink"`
	// Sinks fans the final stream out to several sinks, in place of sink:.
	Sinks           []string `yaml:"sinks"`
	Trigger         Trigger  `yaml:"trigger"`
	NoDataBatches   *bool    `yaml:"noDataBatches"`
	WatermarkPolicy string   `yaml:"watermarkPolicy"`
	// Late is an optional sink URI for the rows event-time aggregates drop
	// as late, so that nothing is dropped silently.
	Late    string `yaml:"late"`
	Runtime string `yaml:"runtime"`
	// DeadLetter is the sink for records that stages with onError:
	// deadletter failed on, with the error, the stage and the batch time.
	DeadLetter string `yaml:"deadLetter"`
	// ExactlyOnce makes a transactional sink (kafka) commit each batch's
	// output and its input offsets in one transaction.
	ExactlyOnce bool `yaml:"exactlyOnce"`
	// Limits bound every plugin's guests: memory, time per call, bytes per
	// response (the defaults are runtime.Config's).
	Limits Limits `yaml:"limits"`
	// Allow grants every guest capabilities it lacks by default: clock,
	// env, fs:DIR (read-only). A plugin's own default pipeline cannot.
	Allow []string `yaml:"allow"`
	// MaxRate caps sources in records per second, like Spark's
	// receiver.maxRate: a number for every source, or a map by source name.
	MaxRate Rates `yaml:"maxRate"`
	// Backpressure slows the sources down to what the pipeline processes
	// when batches take longer than the interval (Spark's
	// backpressure.enabled; off by default, as there).
	Backpressure bool `yaml:"backpressure"`
	// HTTP is the address of the run's web UI, metrics and health
	// endpoints (HOST:PORT, :PORT or PORT; a port alone is on loopback);
	// "" serves nothing. Not to be confused with http:// source and sink
	// URIs.
	HTTP string `yaml:"http"`

	// File is the path the spec was read from ("" when built in memory).
	// Read makes the relative paths in the file relative to its folder.
	File string `yaml:"-"`
}

// Stage is one operator application.
type Stage struct {
	Op         string   `yaml:"op"`
	Fn         string   `yaml:"fn"`
	Plugin     string   `yaml:"plugin"`
	Inverse    string   `yaml:"inverse"`
	Filter     string   `yaml:"filter"`
	Window     Duration `yaml:"window"`
	Slide      Duration `yaml:"slide"`
	Offset     Duration `yaml:"offset"`
	Other      string   `yaml:"other"`
	Stages     []Stage  `yaml:"stages"`
	Initial    Values   `yaml:"initial"`
	Time       string   `yaml:"time"`
	Delay      Duration `yaml:"delay"`
	OutputMode string   `yaml:"outputMode"`
	OnError    string   `yaml:"onError"`
	// Key, Value and Time name what a stage reads from a record: a field
	// path (".sensor", ".readings.0.temp") evaluated in the host, or the
	// name of a guest map function. Key may be a list: a composite key.
	Key   Keys   `yaml:"key"`
	Value string `yaml:"value"`
	// Gap is a session window's gap: rows of a key at most Gap apart share
	// a session.
	Gap Duration `yaml:"gap"`
	// Timeout is mapWithState's idle timeout: a key whose state has not
	// changed for longer is called once more as timing out, then removed.
	Timeout Duration `yaml:"timeout"`
	// Output is what mapWithState emits: mapped (the function's returns)
	// or snapshots (every key's state after the batch).
	Output string `yaml:"output"`
	// Within makes a join a stream-stream join in event time.
	Within Within `yaml:"within"`
	// N is how many rows topN keeps per window; By is the path it ranks
	// them by (default .1, the value of [key, value]).
	N  int    `yaml:"n"`
	By string `yaml:"by"`
	// Size is how many records a countWindow holds (per key); Every is how
	// many arrivals of a key make it emit (default Size: tumbling).
	Size  int `yaml:"size"`
	Every int `yaml:"every"`
	// Reset is the path whose truthy value starts a new landmarkWindow.
	Reset string `yaml:"reset"`

	// Line is the line of the stage in the pipeline file, for messages.
	Line int `yaml:"-"`
}

// Stream is a named chain of stages reading from a source or another stream.
type Stream struct {
	Name   string  `yaml:"name"`
	From   string  `yaml:"from"`
	Stages []Stage `yaml:"stages"`
	// Sink and Sinks write this stream's batches, besides the final
	// stream's sink.
	Sink  string   `yaml:"sink"`
	Sinks []string `yaml:"sinks"`
}

// Within is the event-time range of a stream-stream join: a left row at
// lt matches a right row at rt when rt − Before ≤ lt ≤ rt + After (both
// ends inclusive, Spark's BETWEEN). `within: D` sets both to D;
// `within: {before: D1, after: D2}` sets them apart.
type Within struct {
	Before, After Duration
	Set           bool // the stage gave within:
}

// UnmarshalYAML accepts a duration or a map {before: D1, after: D2}.
func (w *Within) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var d Duration
		if err := d.UnmarshalYAML(n); err != nil {
			return fmt.Errorf("within: %w", err)
		}
		*w = Within{Before: d, After: d, Set: true}
		return nil
	}
	var m struct {
		Before *Duration `yaml:"before"`
		After  *Duration `yaml:"after"`
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: within: want a duration (10m) or {before: D1, after: D2}", n.Line)
	}
	if err := n.Decode(&m); err != nil {
		return fmt.Errorf("line %d: within: %v (want {before: D1, after: D2})", n.Line, err)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; k != "before" && k != "after" {
			return fmt.Errorf("line %d: within: unknown field %q (want {before: D1, after: D2})", n.Content[i].Line, k)
		}
	}
	if m.Before == nil || m.After == nil {
		return fmt.Errorf("line %d: within: give both before: and after: (0s for no slack on that side): a left row at lt matches a right row at rt when rt - before <= lt <= rt + after", n.Line)
	}
	*w = Within{Before: *m.Before, After: *m.After, Set: true}
	return nil
}

// String is the range as the pipeline file would give it.
func (w Within) String() string {
	if !w.Set {
		return ""
	}
	return fmt.Sprintf("{before: %s, after: %s}", w.Before.D(), w.After.D())
}

// Keys is a stage's key: one path or function, or a list of them (a
// composite key). In YAML it is a string or a list of strings.
type Keys []string

// UnmarshalYAML accepts a string or a list of strings.
func (k *Keys) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			return fmt.Errorf("line %d: key: is empty; give a path such as .sensor or a function name", n.Line)
		}
		*k = Keys{n.Value}
		return nil
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return fmt.Errorf("line %d: key: is an empty list; give one path or function or more", n.Line)
		}
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Value == "" {
				return fmt.Errorf("line %d: key: want a list of paths (.sensor) or function names", e.Line)
			}
			*k = append(*k, e.Value)
		}
		return nil
	}
	return fmt.Errorf("line %d: key: want a path (.sensor), a function name, or a list of them", n.Line)
}

// String is the key as written; a list of one is the same as its element.
func (k Keys) String() string {
	if len(k) == 1 {
		return k[0]
	}
	return "[" + strings.Join(k, ", ") + "]"
}

// Sources names a pipeline's inputs. A value is a source URI, or a map
// with the URI under uri: and its parameters beside it, which is the same
// as writing them after a '?':
//
//	sources:
//	  readings: {uri: "file:readings.csv", format: csv, onError: deadletter}
//	  clicks: "socket://127.0.0.1:7777?format=json"
type Sources map[string]string

// UnmarshalYAML accepts a URI or {uri: URI, PARAM: VALUE, ...} per name.
func (s *Sources) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: sources: want a map from names to source URIs", n.Line)
	}
	out := Sources{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		name, v := n.Content[i].Value, n.Content[i+1]
		if _, dup := out[name]; dup {
			return fmt.Errorf("line %d: sources: %s is given twice", n.Content[i].Line, name)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			out[name] = v.Value
		case yaml.MappingNode:
			uri, err := sourceMap(name, v)
			if err != nil {
				return err
			}
			out[name] = uri
		default:
			return fmt.Errorf("line %d: sources: %s: want a URI or {uri: URI, PARAM: VALUE}", v.Line, name)
		}
	}
	*s = out
	return nil
}

// sourceMap folds {uri: U, a: 1, b: 2} into U?a=1&b=2, parameters in the
// order written. The connector checks the parameters as it checks any URI's.
func sourceMap(name string, m *yaml.Node) (string, error) {
	var uri string
	params := url.Values{}
	var order []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return "", fmt.Errorf("line %d: sources: %s: %s: want a single value", v.Line, name, k.Value)
		}
		if k.Value == "uri" {
			uri = v.Value
			continue
		}
		if params.Has(k.Value) {
			return "", fmt.Errorf("line %d: sources: %s: %s is given twice", k.Line, name, k.Value)
		}
		params.Set(k.Value, v.Value)
		order = append(order, k.Value)
	}
	if uri == "" {
		return "", fmt.Errorf("line %d: sources: %s: the map form needs uri: (the source URI), e.g. {uri: \"file:in.csv\", format: csv}", m.Line, name)
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	for _, k := range order {
		uri += sep + url.QueryEscape(k) + "=" + url.QueryEscape(params.Get(k))
		sep = "&"
	}
	return uri, nil
}

// Duration is a Go duration in a pipeline file ("500ms", "1s").
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration such as 500ms or 1s", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write it like 500ms, 1s or 2m)", n.Line, s)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Values is a list of arbitrary YAML/JSON values, kept encoded as msgpack.
type Values []abi.Raw

// UnmarshalYAML encodes each element of a YAML sequence as msgpack.
func (v *Values) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("line %d: want a list", n.Line)
	}
	for _, e := range n.Content {
		raw, err := YAMLToMsgpack(nil, e)
		if err != nil {
			return err
		}
		*v = append(*v, raw)
	}
	return nil
}

// YAMLToMsgpack encodes a YAML value as msgpack, with JSON's typing: plain
// integers are ints, other numbers floats.
func YAMLToMsgpack(dst []byte, n *yaml.Node) ([]byte, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return YAMLToMsgpack(dst, n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return YAMLToMsgpack(dst, n.Content[0])
		}
	case yaml.SequenceNode:
		var err error
		dst = abi.AppendArrayHeader(dst, len(n.Content))
		for _, e := range n.Content {
			if dst, err = YAMLToMsgpack(dst, e); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case yaml.MappingNode:
		var err error
		dst = abi.AppendMapHeader(dst, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			dst = abi.AppendString(dst, n.Content[i].Value)
			if dst, err = YAMLToMsgpack(dst, n.Content[i+1]); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return abi.AppendNil(dst), nil
		case "!!bool":
			return abi.AppendBool(dst, n.Value == "true" || n.Value == "True" || n.Value == "TRUE"), nil
		case "!!int":
			if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
				return abi.AppendInt(dst, v), nil
			}
			f, _ := strconv.ParseFloat(n.Value, 64)
			return abi.AppendFloat(dst, f), nil
		case "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				switch strings.ToLower(n.Value) {
				case ".nan":
					f = math.NaN()
				case ".inf", "+.inf":
					f = math.Inf(1)
				case "-.inf":
					f = math.Inf(-1)
				}
			}
			return abi.AppendFloat(dst, f), nil
		default:
			return abi.AppendString(dst, n.Value), nil
		}
	}
	return dst, fmt.Errorf("line %d: unsupported YAML value", n.Line)
}

// Read reads and parses a pipeline file.
func Read(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pipeline file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("pipeline file %s: %w", path, err)
	}
	s.File = path
	s.resolvePaths(filepath.Dir(path))
	return s, nil
}

// Parse parses pipeline YAML (or JSON) and checks its shape. Unknown
// fields are errors, so a typo never silently changes a pipeline.
func Parse(data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, parseError(data, err)
	}
	// Record stage lines for messages.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil {
		setLines(&s, &root)
	}
	return &s, s.check()
}

func setLines(s *Spec, root *yaml.Node) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	top := root.Content[0]
	var stagesLines func(stages []Stage, seq *yaml.Node)
	stagesLines = func(stages []Stage, seq *yaml.Node) {
		if seq == nil || seq.Kind != yaml.SequenceNode {
			return
		}
		for i := range stages {
			if i < len(seq.Content) {
				stages[i].Line = seq.Content[i].Line
				stagesLines(stages[i].Stages, field(seq.Content[i], "stages"))
			}
		}
	}
	stagesLines(s.Stages, field(top, "stages"))
	if streams := field(top, "streams"); streams != nil && streams.Kind == yaml.SequenceNode {
		for i := range s.Streams {
			if i < len(streams.Content) {
				stagesLines(s.Streams[i].Stages, field(streams.Content[i], "stages"))
			}
		}
	}
}

func field(m *yaml.Node, name string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return m.Content[i+1]
		}
	}
	return nil
}

// Defaults for a spec's optional fields.
const (
	DefaultBatch  = time.Second
	DefaultSource = "stdin"
	DefaultSink   = "stdout"
)

func (s *Spec) check() error {
	if s.Source != "" {
		if len(s.Sources) > 0 {
			return errors.New("give either source: or sources:, not both")
		}
		s.Sources = Sources{"input": s.Source}
		s.Source = ""
	}
	if len(s.Stages) > 0 && len(s.Streams) > 0 {
		return errors.New("give either stages: (one chain) or streams: (named streams), not both")
	}
	if err := CheckInterval(s.Batch.D()); err != nil && s.Batch != 0 {
		return fmt.Errorf("batch: %w", err)
	}
	switch s.WatermarkPolicy {
	case "", "min", "max":
	default:
		return fmt.Errorf("watermarkPolicy: %q is not a policy (use min or max)", s.WatermarkPolicy)
	}
	if s.CheckpointEvery < 0 {
		return errors.New("checkpointEvery: must be 1 or more")
	}
	if err := s.checkSinks(); err != nil {
		return err
	}
	if s.HTTP != "" {
		if _, err := HTTPAddr(s.HTTP); err != nil {
			return fmt.Errorf("http: %w", err)
		}
	}
	return s.checkLimits()
}

// Output is one sink of a pipeline.
type Output struct {
	// Name keys the sink's progress in checkpoints (and a database sink's
	// record of what it wrote): the final stream's sinks are sink, sink#2,
	// sink#3 in order, a named stream's are NAME, NAME#2 and so on.
	Name string
	// Stream is the named stream the sink writes; "" is the final stream.
	Stream string
	URI    string
}

// Outputs lists every sink of the pipeline: the final stream's first (the
// top-level sink: or sinks:, then those the last stream names itself), then
// each other named stream's, in the order the streams are listed.
func (s *Spec) Outputs() []Output {
	var outs []Output
	add := func(stream, base string, uris []string) {
		for _, u := range uris {
			name := base
			if k := countStream(outs, stream) + 1; k > 1 {
				name = fmt.Sprintf("%s#%d", base, k)
			}
			outs = append(outs, Output{Name: name, Stream: stream, URI: u})
		}
	}
	add("", "sink", sinkList(s.Sink, s.Sinks))
	if n := len(s.Streams); n > 0 {
		add("", "sink", sinkList(s.Streams[n-1].Sink, s.Streams[n-1].Sinks))
		for _, st := range s.Streams[:n-1] {
			add(st.Name, st.Name, sinkList(st.Sink, st.Sinks))
		}
	}
	return outs
}

func countStream(outs []Output, stream string) int {
	n := 0
	for _, o := range outs {
		if o.Stream == stream {
			n++
		}
	}
	return n
}

func sinkList(one string, many []string) []string {
	if one != "" {
		return append([]string{one}, many...)
	}
	return many
}

// SetSink makes uri the final stream's only sink (the --sink flag).
func (s *Spec) SetSink(uri string) {
	s.Sink, s.Sinks = uri, nil
	if n := len(s.Streams); n > 0 {
		s.Streams[n-1].Sink, s.Streams[n-1].Sinks = "", nil
	}
}

// checkSinks refuses sink: with sinks: in one place, empty URIs, and a
// URI named twice (two writers of one file would interleave).
func (s *Spec) checkSinks() error {
	seen := map[string]string{}
	check := func(where, one string, many []string) error {
		if one != "" && len(many) > 0 {
			return fmt.Errorf("%s: give either sink: or sinks:, not both", where)
		}
		for _, u := range sinkList(one, many) {
			if strings.TrimSpace(u) == "" {
				return fmt.Errorf("%s: sinks: has an empty URI", where)
			}
			if prev, dup := seen[u]; dup {
				return fmt.Errorf("%s: sink %s is also a sink of %s; each sink URI may be written by one place only", where, u, prev)
			}
			seen[u] = where
		}
		return nil
	}
	if err := check("the pipeline", s.Sink, s.Sinks); err != nil {
		return err
	}
	for _, st := range s.Streams {
		if err := check("stream "+st.Name, st.Sink, st.Sinks); err != nil {
			return err
		}
	}
	return nil
}

// CheckInterval checks a batch interval: a whole number of milliseconds,
// 1ms or more, since batch times are milliseconds.
func CheckInterval(d time.Duration) error {
	switch {
	case d < time.Millisecond:
		return fmt.Errorf("batch interval %v is too short: the smallest is 1ms", d)
	case d%time.Millisecond != 0:
		return fmt.Errorf("batch interval %v is not a whole number of milliseconds", d)
	}
	return nil
}

// Clock says what drives batch times.
type Clock string

const (
	// ClockSystem cuts a batch every interval of real time.
	ClockSystem Clock = "system"
	// ClockManual makes one input line (one unit of each source) one batch,
	// at time k × interval, run as fast as possible: for tests and replays.
	ClockManual Clock = "manual"
)

// UnmarshalYAML accepts system or manual.
func (c *Clock) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseClock(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: clock: %v", n.Line, err)
	}
	*c = v
	return nil
}

// ParseClock reads a clock name.
func ParseClock(s string) (Clock, error) {
	switch c := Clock(s); c {
	case ClockSystem, ClockManual:
		return c, nil
	}
	return "", fmt.Errorf("%q is not a clock (use system or manual)", s)
}

// Trigger says when a batch runs under the system clock (Structured
// Streaming's triggers).
type Trigger string

const (
	// TriggerProcessingTime runs a batch every interval (the default).
	TriggerProcessingTime Trigger = "processing-time"
	// TriggerOnce runs one batch with everything available, then stops.
	TriggerOnce Trigger = "once"
	// TriggerAvailableNow runs batches back to back until the sources are
	// drained.
	TriggerAvailableNow Trigger = "available-now"
)

// UnmarshalYAML accepts processing-time, once or available-now.
func (t *Trigger) UnmarshalYAML(n *yaml.Node) error {
	switch v := Trigger(n.Value); v {
	case TriggerProcessingTime, TriggerOnce, TriggerAvailableNow:
		*t = v
		return nil
	}
	return fmt.Errorf("line %d: trigger: %q is not a trigger (use processing-time, once or available-now)", n.Line, n.Value)
}

// ApplyDefaults fills fields the user left out, after flags have been applied.
func (s *Spec) ApplyDefaults() {
	if s.Batch == 0 {
		s.Batch = Duration(DefaultBatch)
	}
	if s.Clock == "" {
		s.Clock = ClockSystem
	}
	if s.Trigger == "" {
		s.Trigger = TriggerProcessingTime
	}
	if len(s.Sources) == 0 {
		s.Sources = Sources{"input": DefaultSource}
	}
	if len(s.Outputs()) == 0 {
		s.Sink = DefaultSink
	}
	if s.CheckpointEvery == 0 {
		s.CheckpointEvery = 1
	}
	if s.WatermarkPolicy == "" {
		s.WatermarkPolicy = "min"
	}
}

// NoData reports whether a trigger that moved the watermark is followed at
// once by one without data (Spark's default; never with trigger: once).
func (s *Spec) NoData() bool {
	return (s.NoDataBatches == nil || *s.NoDataBatches) && s.Trigger != TriggerOnce
}

// SourceNames returns the source names in sorted order.
func (s *Spec) SourceNames() []string {
	names := make([]string, 0, len(s.Sources))
	for n := range s.Sources {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// resolvePaths makes every relative path in the spec relative to dir,
// the pipeline file's folder, so that a pipeline reads and writes the same
// files from whatever folder it is run: plugins, the checkpoint, fs:
// grants, and the path of every URI of the form SCHEME:PATH (file:, dir:,
// batches:, jsonl:; a URI with SCHEME:// names a server, not a path).
func (s *Spec) resolvePaths(dir string) {
	if dir == "" || dir == "." {
		return
	}
	path := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	uri := func(u string) string {
		scheme, rest, ok := strings.Cut(u, ":")
		if !ok || strings.HasPrefix(rest, "//") || strings.ContainsAny(scheme, "/.") {
			return u
		}
		p, query, hasQuery := strings.Cut(rest, "?")
		if hasQuery {
			query = "?" + query
		}
		return scheme + ":" + path(p) + query
	}
	s.Plugin, s.Checkpoint = path(s.Plugin), path(s.Checkpoint)
	s.Sink, s.Late, s.DeadLetter = uri(s.Sink), uri(s.Late), uri(s.DeadLetter)
	for i, u := range s.Sinks {
		s.Sinks[i] = uri(u)
	}
	for i := range s.Streams {
		st := &s.Streams[i]
		st.Sink = uri(st.Sink)
		for j, u := range st.Sinks {
			st.Sinks[j] = uri(u)
		}
	}
	for name, u := range s.Sources {
		s.Sources[name] = uri(u)
	}
	for i, a := range s.Allow {
		if d, ok := strings.CutPrefix(a, "fs:"); ok {
			s.Allow[i] = "fs:" + path(d)
		}
	}
	var stages func([]Stage)
	stages = func(st []Stage) {
		for i := range st {
			st[i].Plugin = path(st[i].Plugin)
			stages(st[i].Stages)
		}
	}
	stages(s.Stages)
	for _, st := range s.Streams {
		stages(st.Stages)
	}
}
