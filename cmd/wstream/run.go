package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators/job"
	"github.com/wstream/wstream/operators/job/monitor"
	"github.com/wstream/wstream/runtime"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a pipeline until its sources are drained or it is interrupted",
		ArgsUsage: " ",
		Description: `Runs a pipeline file, or a plugin's own default pipeline. Flags override the file.

Examples:
   # word count over standard input, results per 1s batch on stdout
   wstream run --plugin plugins/wordcount/wordcount.wasm < plugins/wordcount/sample.txt

   # the seed's socket word count (start 'nc -lk 7777' in another terminal first)
   wstream run --plugin plugins/wordcount/wordcount.wasm --source socket://127.0.0.1:7777 --batch 1s

   # a pipeline file, output as JSON lines
   wstream run --pipeline pipeline.yaml --sink jsonl:out.jsonl

Sources:
` + job.SourceForms() + `Sinks:
` + job.SinkForms() + `
SIGINT or SIGTERM finishes the batch in flight, flushes the sink and exits 0.

Guests run sandboxed: no files, network, environment or real clock unless
--allow grants them, and each plugin instance is held to --memory-limit
(default 256MiB), each call to --call-timeout (default 10s) and
--max-output bytes of response (default 64MiB). runtime/THREATS.md says
what a plugin can and cannot do.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "pipeline", Aliases: []string{"p"}, Usage: "pipeline `FILE` (YAML or JSON)"},
			&cli.StringFlag{Name: "plugin", Usage: "plugin `FILE.wasm`: the default module for fn names; alone, runs its default pipeline"},
			&cli.StringFlag{Name: "source", Usage: "source `URI` (named input), replacing the file's sources"},
			&cli.StringFlag{Name: "sink", Usage: "sink `URI`"},
			&cli.StringFlag{Name: "batch", Usage: "batch interval `DURATION` (e.g. 10ms, 500ms, 1s)"},
			&cli.StringFlag{Name: "clock", Usage: "`system` (real time) or manual (one input line = one batch, as fast as possible)"},
			&cli.StringFlag{Name: "checkpoint", Usage: "checkpoint `DIR`"},
			&cli.StringFlag{Name: "runtime", Usage: "WebAssembly runtime: wazero or wasmtime", Value: "wazero"},
			&cli.StringFlag{Name: "memory-limit", Usage: "memory `SIZE` per guest instance, e.g. 64MiB (default 256MiB; limits.memory)"},
			&cli.StringFlag{Name: "call-timeout", Usage: "time `DURATION` per guest call, e.g. 5s (default 10s; limits.timeout)"},
			&cli.StringFlag{Name: "max-output", Usage: "response `SIZE` per guest call, e.g. 16MiB (default 64MiB; limits.maxOutput)"},
			&cli.StringSliceFlag{Name: "allow", Usage: "grant guests a `CAPABILITY`: clock, env or fs:DIR (read-only); repeatable, replaces the file's allow:"},
			&cli.Float64Flag{Name: "max-rate", Usage: "cap every source at `N` records per second (maxRate)"},
			&cli.BoolFlag{Name: "backpressure", Usage: "slow sources down when batches take longer than the interval (backpressure: true)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "check the pipeline as wstream lint does, with these flags applied, and exit without running it"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "`LEVEL` of the messages logged: debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "`FORMAT` of log lines on stderr: text (one line for people) or json"},
			&cli.StringFlag{Name: "http", Usage: "serve the live UI, /metrics, /ready, /healthz and /api/ on `ADDR` (e.g. 127.0.0.1:4040; a port alone listens on loopback; http: in the file)"},
			&cli.StringFlag{Name: "summary", Usage: "write the run's summary as JSON to `FILE` when it ends"},
			&cli.BoolFlag{Name: "watch", Usage: "reload a plugin when its .wasm file changes, between two batches, keeping all state"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("run takes no arguments (got %q); name the pipeline with --pipeline FILE", c.Args().First())
			}
			return runPipeline(c)
		},
	}
}

func runPipeline(c *cli.Context) error {
	if c.Bool("dry-run") {
		return checkPipeline(c, c.String("pipeline"))
	}
	if err := checkSummaryPath(c.String("summary")); err != nil {
		return err
	}
	line := newProgressLine(c.App.ErrWriter)
	log, err := newLoggerTo(c, line)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(context.Background(), log)
	defer stop()

	engine, err := newEngine(ctx, c.String("runtime"))
	if err != nil {
		return err
	}
	defer engine.Close(context.Background())
	plugins := job.NewPlugins(engine, runtime.Config{Stderr: c.App.ErrWriter})
	defer plugins.Close()

	spec, err := loadSpec(ctx, c, plugins, log)
	var mon *monitor.Monitor
	if err == nil {
		mon = monitor.New(monitor.Config{Log: log, Web: spec.HTTP != "", Version: version})
		done := line.follow(mon)
		err = job.Run(ctx, spec, job.Config{Plugins: plugins, Stdin: c.App.Reader, Stdout: c.App.Writer, Log: log, Monitor: mon, Watch: c.Bool("watch")})
		done()
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Stopped while starting (a plugin still initializing): a stop,
		// not a failure; nothing had run.
		err = nil
	}
	if mon == nil {
		return err
	}
	return summarize(c, mon, log, err)
}

// loadSpec builds the spec from --pipeline, or the plugin's default
// pipeline, then applies flags and defaults.
func loadSpec(ctx context.Context, c *cli.Context, plugins *job.Plugins, log *slog.Logger) (*pipeline.Spec, error) {
	return loadSpecFrom(ctx, c, plugins, log, c.String("pipeline"))
}

// loadSpecFrom is loadSpec with the pipeline file given ("" for none).
func loadSpecFrom(ctx context.Context, c *cli.Context, plugins *job.Plugins, log *slog.Logger, file string) (*pipeline.Spec, error) {
	// The sandbox flags hold for a plugin loaded to read its default
	// pipeline, which may not change them.
	var spec *pipeline.Spec
	var err error
	flagsOnly := &pipeline.Spec{}
	if err := sandboxFlags(c, flagsOnly); err != nil {
		return nil, err
	}
	if err := plugins.Sandbox(flagsOnly); err != nil {
		return nil, usagef("%v", err)
	}
	switch {
	case file != "":
		if spec, err = pipeline.Read(file); err != nil {
			return nil, err
		}
		if p := c.String("plugin"); p != "" {
			spec.Plugin = p
		}

	case c.String("plugin") != "":
		p, err := plugins.Load(ctx, c.String("plugin"))
		if err != nil {
			return nil, err
		}
		text := p.Manifest().Pipeline
		if text == "" {
			return nil, usagef("plugin %s has no default pipeline; give one with --pipeline FILE", c.String("plugin"))
		}
		if spec, err = pipeline.Parse([]byte(text)); err != nil {
			return nil, fmt.Errorf("plugin %s: its default pipeline: %w", c.String("plugin"), err)
		}
		if err := untrustedPipeline(c, spec); err != nil {
			return nil, fmt.Errorf("plugin %s: its default pipeline %w; write a pipeline file for it", c.String("plugin"), err)
		}
		spec.Plugin = c.String("plugin")
	default:
		return nil, usagef("give --pipeline FILE or --plugin FILE.wasm")
	}
	if v := c.String("source"); v != "" {
		spec.Sources = map[string]string{"input": v}
	}
	if v := c.String("sink"); v != "" {
		spec.SetSink(v)
	}
	if v := c.String("batch"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, usagef("--batch %q is not a duration; write it like 10ms, 500ms or 1s", v)
		}
		if err := pipeline.CheckInterval(d); err != nil {
			return nil, usagef("--batch: %v", err)
		}
		spec.Batch = pipeline.Duration(d)
	}
	if v := c.String("clock"); v != "" {
		clock, err := pipeline.ParseClock(v)
		if err != nil {
			return nil, usagef("--clock: %v", err)
		}
		spec.Clock = clock
	}
	if v := c.String("checkpoint"); v != "" {
		spec.Checkpoint = v
	}
	if v := c.String("http"); v != "" {
		if _, err := pipeline.HTTPAddr(v); err != nil {
			return nil, usagef("--http: %v", err)
		}
		spec.HTTP = v
	}
	if err := sandboxFlags(c, spec); err != nil {
		return nil, err
	}
	if spec.File != "" && len(spec.Stages) == 0 && len(spec.Streams) == 0 && spec.Plugin != "" {
		if err := plugins.Sandbox(spec); err != nil {
			return nil, err
		}
		if err := defaultStages(ctx, plugins, spec, log); err != nil {
			return nil, err
		}
	}
	spec.ApplyDefaults()
	if err := spec.CheckSandbox(); err != nil {
		return nil, err
	}
	return spec, nil
}

// defaultStages gives a pipeline file that names a plugin but no stages
// the plugin's own default stages, and says so: a file that sets only the
// source, sink and checkpoint is the plugin's job with them, never a
// silent pass-through.
func defaultStages(ctx context.Context, plugins *job.Plugins, spec *pipeline.Spec, log *slog.Logger) error {
	p, err := plugins.Load(ctx, spec.Plugin)
	if err != nil {
		return err
	}
	text := p.Manifest().Pipeline
	if text == "" {
		return usagef("pipeline %s has no stages, and plugin %s has no default pipeline to take them from; add stages: to the file", spec.File, spec.Plugin)
	}
	def, err := pipeline.Parse([]byte(text))
	if err != nil {
		return fmt.Errorf("plugin %s: its default pipeline: %w", spec.Plugin, err)
	}
	spec.Stages, spec.Streams = def.Stages, def.Streams
	var ops []string
	for _, s := range def.Stages {
		ops = append(ops, strings.TrimSpace(s.Op+" "+s.Fn))
	}
	log.Info(fmt.Sprintf("pipeline %s has no stages: running plugin %s's default stages (%s)", spec.File, spec.Plugin, strings.Join(ops, ", ")))
	return nil
}

// signalContext is cancelled by the first SIGINT or SIGTERM, which lets the
// run finish the batch in flight; a signal after that exits at once. The
// first is acknowledged in the log (a batch in flight may take up to the
// plugins' time limit), and signals already waiting by then are part of
// the same stop: coreutils timeout signals the process and then its whole
// process group, so a run under it receives two at once.
func signalContext(parent context.Context, log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		log.Info("stopping after the batch in flight (a second signal exits at once)")
		for drained := false; !drained; {
			select {
			case <-ch:
			default:
				drained = true
			}
		}
		<-ch
		log.Warn("second signal, exiting now")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}
