//go:build !bench

package main

import "github.com/urfave/cli/v2"

// benchCommand, without the bench build tag, says how to get the suite:
// the benchmark harness and its workloads stay out of the binary users run.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:            "bench",
		Usage:           "run the benchmark suite (needs a binary built with -tags bench: make bench)",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			return usagef("this wstream was built without the benchmark suite; run `make bench` from the repository root (it builds bin/wstream with -tags bench)")
		},
	}
}
