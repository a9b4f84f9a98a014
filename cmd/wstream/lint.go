package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/operators/job"
	"github.com/wstream/wstream/runtime"
)

func lintCommand() *cli.Command {
	return &cli.Command{
		Name:      "lint",
		Usage:     "check a pipeline file without running it: every problem, one per line",
		ArgsUsage: "PIPELINE",
		Description: `Parses the pipeline, loads its plugins and finds its functions, checks
each stage's settings (window multiples, output modes), the URIs of its
sources and sinks, and whether its checkpoint belongs to it; it opens no
source or sink and writes nothing. Exit status 0 when there is no problem,
1 when there are (each listed), 2 for a usage mistake.

   wstream lint pipeline.yaml
   wstream run --pipeline pipeline.yaml --dry-run    # the same, with run's flags applied`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plugin", Usage: "plugin `FILE.wasm`: the default module for fn names"},
			&cli.StringFlag{Name: "runtime", Usage: "WebAssembly runtime: wazero or wasmtime", Value: "wazero"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("lint takes one pipeline file, e.g. wstream lint pipeline.yaml")
			}
			return checkPipeline(c, c.Args().First())
		},
	}
}

// checkPipeline is lint and run --dry-run: load the spec as run does, then
// check it without running it.
func checkPipeline(c *cli.Context, file string) error {
	ctx := context.Background()
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	engine, err := newEngine(ctx, c.String("runtime"))
	if err != nil {
		return err
	}
	defer engine.Close(ctx)
	plugins := job.NewPlugins(engine, runtime.Config{Stderr: c.App.ErrWriter})
	defer plugins.Close()
	spec, err := loadSpecFrom(ctx, c, plugins, log, file)
	if err == nil {
		err = job.Check(ctx, spec, job.Config{Plugins: plugins, Log: log})
	}
	if err != nil {
		lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
		for _, l := range lines {
			fmt.Fprintf(c.App.Writer, "%s: %s\n", file, l)
		}
		problems := "problems"
		if len(lines) == 1 {
			problems = "problem"
		}
		return fmt.Errorf("%s: %d %s", file, len(lines), problems)
	}
	fmt.Fprintf(c.App.Writer, "%s: OK\n", file)
	return nil
}
