// Package job assembles and runs one pipeline: it resolves the plugins its
// stages name, builds the operator graph, opens the connectors its URIs
// name, and runs it on the host's scheduler, in one process or, for a
// keyed pipeline on a Kafka consumer group, partitioned across processes.
// The CLI, the benchmarks and the tests all run pipelines through it.
package job

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/kafka"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
	"github.com/wstream/wstream/operators/job/monitor"

	// The connectors a pipeline's URIs can name.
	_ "github.com/wstream/wstream/host/httpio"
	_ "github.com/wstream/wstream/host/mqtt"
	_ "github.com/wstream/wstream/host/nats"
	_ "github.com/wstream/wstream/host/postgres"
	_ "github.com/wstream/wstream/host/textio"
)

// Config is what a run needs besides its spec.
type Config struct {
	// Plugins resolves the spec's functions; Run points it at the spec's
	// plugin: and limits.
	Plugins *Plugins
	// Stdin and Stdout are the stdin source's and stdout sink's streams;
	// nil is the process's.
	Stdin  io.Reader
	Stdout io.Writer
	// Log receives operational messages; nil is slog.Default().
	Log *slog.Logger
	// Monitor, when set, watches the run (metrics, the UI, the summary);
	// one with Web is made when the spec names an http: address.
	Monitor *monitor.Monitor
	// Watch reloads a plugin whose file changes, between two batches,
	// keeping all state.
	Watch bool
}

// Run runs spec, whose flags and defaults are applied, until its sources
// are drained or ctx is cancelled (which finishes the batch in flight).
func Run(ctx context.Context, spec *pipeline.Spec, cfg Config) (err error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Stdin == nil {
		cfg.Stdin = os.Stdin
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Monitor != nil {
		defer func() {
			if err != nil {
				cfg.Monitor.Finish(err, false) // a run refused before it started
			}
		}()
	}
	if err := cfg.Plugins.Sandbox(spec); err != nil {
		return err
	}
	cfg.Plugins.For(spec)
	if err := checkExactlyOnce(spec); err != nil {
		return err
	}
	if at, keyOf, ok, err := keyedSplit(spec, cfg.Log); err != nil {
		return err
	} else if ok {
		return runScaleOut(ctx, spec, cfg, at, keyOf)
	}
	graph, err := operators.Build(spec, cfg.Plugins)
	if err != nil {
		return err
	}
	graph.SetLog(cfg.Log)
	rc := host.RunConfig{
		Sources:         map[string]host.Source{},
		Processor:       graph,
		Interval:        spec.Batch.D(),
		Clock:           spec.Clock,
		Log:             cfg.Log,
		CheckpointEvery: spec.CheckpointEvery,
		Trigger:         spec.Trigger,
		NoDataBatches:   spec.NoData(),
		MaxRate:         map[string]float64{},
		Backpressure:    spec.Backpressure,
		Plugins:         cfg.Plugins.Digests(),
	}
	for name := range spec.Sources {
		if r := spec.MaxRate.For(name); r > 0 {
			rc.MaxRate[name] = r
		}
	}
	w, err := startWatch(ctx, spec, &cfg, rc.Plugins)
	if err != nil {
		return err
	}
	defer func() { w.finish(ctx, err) }()
	w.describe(spec, graph)
	rc.Observer, rc.BeforeBatch = w.observer(monitor.Whole, graph, 0), w.beforeBatch()
	opts := cfg.options(spec)
	for name, uri := range spec.Sources {
		src, err := host.OpenSource(uri, opts...)
		if err != nil {
			return err // names the URI
		}
		rc.Sources[name] = src
	}
	if spec.Checkpoint != "" {
		if rc.Checkpoint, err = host.OpenCheckpoints(spec.Checkpoint, nil); err != nil {
			return err
		}
	}
	if err := openSinks(spec, &rc, opts); err != nil {
		return err
	}
	err = host.Run(ctx, rc)
	if n := graph.LateRows(); n > 0 {
		where := "add late: jsonl:PATH to the pipeline to keep them"
		if spec.Late != "" {
			where = "written to " + spec.Late
		}
		rows := "rows"
		if n == 1 {
			rows = "row"
		}
		cfg.Log.Warn(fmt.Sprintf("%d %s arrived after the watermark had closed every window or join range that could take them, and were dropped (%s)", n, rows, where))
	}
	return err
}

// openSinks names every sink of spec in rc: the final stream's first sink
// as the main sink, the others as outputs, and the side sinks. Opening a
// sink by URI has no side effect, and host.Run closes what it is given; on
// an error here, what was opened is closed.
func openSinks(spec *pipeline.Spec, rc *host.RunConfig, opts []host.Option) (err error) {
	var all []host.Sink
	defer func() {
		if err != nil {
			for _, s := range all {
				s.Close()
			}
		}
	}()
	open := func(uri string) (host.Sink, error) {
		s, err := host.OpenSink(uri, opts...)
		if err == nil {
			all = append(all, s)
		}
		return s, err
	}
	for _, o := range spec.Outputs() {
		sink, err := open(o.URI)
		if err != nil {
			return err // names the URI
		}
		if o.Name == host.MainSink {
			rc.Sink = sink
			continue
		}
		rc.Outputs = append(rc.Outputs, host.Output{Name: o.Name, Stream: o.Stream, Sink: sink})
	}
	rc.SideSinks = map[string]host.Sink{}
	for name, uri := range map[string]string{"late": spec.Late, "deadLetter": spec.DeadLetter} {
		if uri == "" {
			continue
		}
		if rc.SideSinks[name], err = open(uri); err != nil {
			return err
		}
	}
	return nil
}

// options are the connector options of a run of spec.
func (cfg Config) options(spec *pipeline.Spec) []host.Option {
	return []host.Option{host.WithLog(cfg.Log), host.WithStdin(cfg.Stdin), host.WithStdout(cfg.Stdout),
		host.WithExactlyOnce(spec.ExactlyOnce), host.WithStateful(operators.Stateful(spec)), host.WithDeadLetter(spec.DeadLetter != "")}
}

// checkExactlyOnce refuses exactlyOnce: true where nothing would make it
// hold: only a transactional sink commits its output with its input's
// positions.
func checkExactlyOnce(spec *pipeline.Spec) error {
	if !spec.ExactlyOnce {
		return nil
	}
	outs := spec.Outputs()
	if len(outs) != 1 {
		return fmt.Errorf("exactlyOnce: true needs one kafka:// sink, whose transactions commit each batch's output with its input offsets; the pipeline has %d sinks. Use checkpoint: instead, which makes each of jsonl:, dir: and postgres:// exactly once, or remove exactlyOnce", len(outs))
	}
	if c, ok := host.Lookup(outs[0].URI); ok && c.Transactional {
		return nil
	}
	return fmt.Errorf("exactlyOnce: true needs a kafka:// sink, whose transactions commit each batch's output with its input offsets; the sink is %s. For file and database sinks use checkpoint: instead (exactly-once for file:, dir: and batches: sources into jsonl:, dir: and postgres:// sinks), or remove exactlyOnce", outs[0].URI)
}

// keyedSplit reports whether spec runs with its keyed state partitioned
// across a consumer group (kafka.RunScaleOut): its only source is a kafka
// source with a group, and its chain has a keyed stateful stage.
func keyedSplit(spec *pipeline.Spec, log *slog.Logger) (at int, keyOf func(abi.Raw) (abi.Raw, error), ok bool, err error) {
	if len(spec.Sources) != 1 || len(spec.Streams) > 0 {
		return 0, nil, false, nil
	}
	name, uri := onlySource(spec)
	group := kafka.Group(uri)
	if group == "" {
		return 0, nil, false, nil
	}
	at, keyOf, ok, why := operators.KeyedSplit(spec.Stages)
	if !ok {
		if why != "" {
			log.Warn(fmt.Sprintf("%s: %s, so its state stays in this process (host/kafka/kafka.md, \"Scale-out and state\")", name, why))
		}
		return 0, nil, false, nil
	}
	_, clog := kafka.ScaleOutTopics(group)
	switch {
	case len(spec.Stages[at].Initial) > 0:
		// Each partition runs its own copy of the keyed stage: every copy
		// would start with every initial key, and emit it.
		return 0, nil, false, fmt.Errorf("stage %d (%s): initial: does not apply with the kafka group source %s, whose keyed state is split across partitions and processes; write the initial pairs to the source topic ahead of the data instead", at+1, spec.Stages[at].Op, uri)
	case len(spec.Outputs()) != 1:
		return 0, nil, false, fmt.Errorf("sinks: with the kafka group source %s and keyed state, the pipeline is split across processes and writes one sink; give one sink:, or fan out downstream of it", uri)
	case spec.Checkpoint != "":
		return 0, nil, false, fmt.Errorf("checkpoint: %s: with the kafka group source %s, keyed state lives in Kafka (topic %s) and moves with its partitions between processes; remove checkpoint: from the pipeline", spec.Checkpoint, uri, clog)
	case spec.Clock == pipeline.ClockManual:
		return 0, nil, false, fmt.Errorf("clock: manual does not apply to a kafka group source with keyed state (%s); use the system clock, and ?until=end on the source to stop at the end of the topic", uri)
	case spec.Trigger == pipeline.TriggerOnce || spec.Trigger == pipeline.TriggerAvailableNow:
		return 0, nil, false, fmt.Errorf("trigger: %s does not apply to a kafka group source with keyed state (%s); add ?until=end to the source to stop at the end of the topic", spec.Trigger, uri)
	}
	return at, keyOf, true, nil
}

// runScaleOut runs spec split at stage at: the stages before it on this
// process's partitions of the source, the rest once per partition of the
// repartition topic this process owns.
func runScaleOut(ctx context.Context, spec *pipeline.Spec, cfg Config, at int, keyOf func(abi.Raw) (abi.Raw, error)) (err error) {
	first, keyed := *spec, *spec
	first.Stages, keyed.Stages = spec.Stages[:at], spec.Stages[at:]
	prefix, err := operators.Build(&first, cfg.Plugins)
	if err != nil {
		return err
	}
	// The same error every partition would meet, said once; the graph
	// also holds the counters every partition's graph adds to.
	counts, err := operators.Build(&keyed, cfg.Plugins)
	if err != nil {
		return err
	}
	prefix.SetLog(cfg.Log)
	w, err := startWatch(ctx, spec, &cfg, nil)
	if err != nil {
		return err
	}
	defer func() { w.finish(ctx, err) }()
	w.describe(spec, prefix, counts)
	name, uri := onlySource(spec)
	so := kafka.ScaleOut{
		Source: uri,
		Prefix: prefix,
		KeyOf:  keyOf,
		NewKeyed: func() (kafka.PartitionProcessor, error) {
			g, err := operators.Build(&keyed, cfg.Plugins)
			if err != nil {
				return nil, err
			}
			g.SetLog(cfg.Log)
			g.ShareStatsWith(counts)
			return g, nil
		},
		Interval:     spec.Batch.D(),
		ExactlyOnce:  spec.ExactlyOnce,
		MaxRate:      spec.MaxRate.For(name),
		Backpressure: spec.Backpressure,
		Log:          cfg.Log,

		PrefixObserver: w.observer(monitor.Prefix, prefix, 0),
		KeyedObserver:  w.observer(monitor.Keyed, counts, len(prefix.Stages())),
		BeforeBatch:    w.beforeBatch(),
	}
	opts := cfg.options(spec)
	if so.Sink, err = host.OpenSink(spec.Sink, opts...); err != nil {
		return err
	}
	if spec.DeadLetter != "" {
		if so.DeadLetter, err = host.OpenSink(spec.DeadLetter, opts...); err != nil {
			so.Sink.Close()
			return err
		}
	}
	return kafka.RunScaleOut(ctx, so)
}

// onlySource is the name and URI of a pipeline's one source.
func onlySource(spec *pipeline.Spec) (name, uri string) {
	for n, u := range spec.Sources {
		return n, u
	}
	return "", ""
}

// SourceForms and SinkForms list the URIs a pipeline can name, one per
// line, for help texts.
func SourceForms() string { return forms(false) }

// SinkForms: see SourceForms.
func SinkForms() string { return forms(true) }

func forms(sinks bool) string {
	var rows [][2]string
	width := 0
	for _, c := range host.Connectors() {
		f := c.SourceForm
		if sinks {
			f = c.SinkForm
		}
		if f == "" {
			continue
		}
		uri, what, _ := strings.Cut(f, "  ")
		rows = append(rows, [2]string{uri, strings.TrimSpace(what)})
		width = max(width, len(uri))
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "   %-*s  %s\n", width, r[0], r[1])
	}
	return b.String()
}
