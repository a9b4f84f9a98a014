package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/operators/job"
	"github.com/wstream/wstream/runtime"
)

func inspectCommand() *cli.Command {
	return &cli.Command{
		Name:      "inspect",
		Usage:     "show a plugin's manifest: name, language, ABI version, functions and default pipeline",
		ArgsUsage: "FILE.wasm",
		Description: `Examples:
   wstream inspect plugins/wordcount/wordcount.wasm
   wstream inspect plugins/conformance/conformance.wasm --json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the manifest as JSON"},
			&cli.StringFlag{Name: "runtime", Usage: "WebAssembly runtime: wazero or wasmtime", Value: "wazero"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("inspect takes one plugin file, e.g. wstream inspect plugins/wordcount/wordcount.wasm")
			}
			ctx := context.Background()
			engine, err := newEngine(ctx, c.String("runtime"))
			if err != nil {
				return err
			}
			defer engine.Close(ctx)
			plugins := job.NewPlugins(engine, runtime.Config{Stderr: c.App.ErrWriter, Workers: 1})
			defer plugins.Close()
			p, err := plugins.Load(ctx, c.Args().First())
			if err != nil {
				return err
			}
			m := p.Manifest()
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(m)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "plugin:    %s %s\nlanguage:  %s\nabi:       %d\nfunctions:\n", m.Name, m.Version, m.Language, m.ABI)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, f := range m.Functions {
				fmt.Fprintf(tw, "  %s\t%s\n", f.Name, f.Kind)
			}
			tw.Flush()
			if m.Pipeline != "" {
				fmt.Fprintf(w, "default pipeline:\n%s\n", indent(m.Pipeline))
			}
			return nil
		},
	}
}

func indent(s string) string {
	out := "  "
	for i := 0; i < len(s); i++ {
		out += string(s[i])
		if s[i] == '\n' && i+1 < len(s) {
			out += "  "
		}
	}
	return out
}
