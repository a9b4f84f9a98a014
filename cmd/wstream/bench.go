//go:build bench

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/bench"
)

// benchCommand runs the benchmark suite (bench/). It re-runs this binary
// with the hidden --child flag for each measurement, so that every row's
// peak RSS is its own process's.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "run the benchmark suite: fixed workloads through WASM guests vs native Go, and Benthos's wasm processor",
		ArgsUsage: " ",
		Description: `Run it from the repository root (it builds its guests from source there),
after 'make plugins' so that every language's word count is measured:

   make bench            # = make build plugins && bin/wstream bench

Prints a Markdown report: records/s, ratio to native Go, p50/p99 latency at
10 ms batches and 1e5 records/s, peak RSS, scaling tables and the targets.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "short", Usage: "tiny sizes, a smoke test (numbers mean nothing)"},
			&cli.BoolFlag{Name: "no-benthos", Usage: "skip building and running the Benthos peer"},
			&cli.StringFlag{Name: "root", Value: ".", Usage: "the wstream repository `DIR`"},
			&cli.StringFlag{Name: "build-dir", Usage: "where to build guests (default: a wstream-bench folder in the user cache dir)"},
			&cli.StringFlag{Name: "json", Usage: "also write every result to `FILE` as JSON"},
			&cli.StringFlag{Name: "child", Hidden: true},
		},
		Action: func(c *cli.Context) error {
			ctx, stop := signalContext(context.Background(), slog.Default())
			defer stop()
			if j := c.String("child"); j != "" {
				return bench.Child(ctx, j, c.App.Writer)
			}
			if c.NArg() > 0 {
				return usagef("bench takes no arguments (got %q)", c.Args().First())
			}
			root, err := filepath.Abs(c.String("root"))
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(root, "bench", "guest")); err != nil {
				return usagef("%s is not the wstream repository root (no bench/guest); run from there or pass --root DIR", root)
			}
			dir := c.String("build-dir")
			if dir == "" {
				cache, err := os.UserCacheDir()
				if err != nil {
					cache = os.TempDir()
				}
				dir = filepath.Join(cache, "wstream-bench")
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench: cannot find this program to run children: %w", err)
			}
			return bench.Run(ctx, bench.Config{
				Root: root, BuildDir: dir, Short: c.Bool("short"), Benthos: !c.Bool("no-benthos"),
				Self: []string{self, "bench"}, Out: c.App.Writer, Log: c.App.ErrWriter, JSON: c.String("json"),
			})
		},
	}
}
