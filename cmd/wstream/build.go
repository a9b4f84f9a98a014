package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/guest-sdk/python/pybuild"
	"github.com/wstream/wstream/runtime"
)

// buildCommand makes a plugin from a Python program: the Python runtime
// module (CPython compiled to WebAssembly once, by make) with the author's
// files embedded, so the author needs no C toolchain and no Python.
func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "make a plugin from a Python program (no C toolchain needed)",
		ArgsUsage: "APP.py",
		Description: `Embeds APP.py (and the modules of each --lib folder) into a copy of the
Python runtime module, then loads the result once to check that it starts
and registers its functions; a program that fails to load leaves no file.

Examples:
   wstream build wordcount.py                 # writes wordcount.wasm
   wstream build app.py -o app.wasm --lib vendor/`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the plugin to `FILE` (default: APP.wasm beside APP.py)"},
			&cli.StringSliceFlag{Name: "lib", Usage: "include the modules and files of `DIR` (pure-Python packages; repeatable)"},
			&cli.StringFlag{Name: "python-runtime", Usage: "the Python runtime `module` (default: $WSTREAM_PYTHON_RUNTIME, beside the wstream binary, or the checkout's build)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 || !strings.HasSuffix(c.Args().First(), ".py") {
				return usagef("build takes one Python file, e.g. wstream build app.py -o app.wasm")
			}
			app := c.Args().First()
			out := c.String("output")
			if out == "" {
				out = strings.TrimSuffix(app, ".py") + ".wasm"
			}
			rtPath := c.String("python-runtime")
			if rtPath == "" {
				exe, _ := os.Executable()
				wd, _ := os.Getwd()
				var err error
				if rtPath, err = pybuild.FindRuntime(exe, wd); err != nil {
					return err
				}
			}
			rt, err := os.ReadFile(rtPath)
			if err != nil {
				return fmt.Errorf("the Python runtime module: %w", err)
			}
			files, err := pybuild.ReadApp(app, c.StringSlice("lib")...)
			if err != nil {
				return err
			}
			module, err := pybuild.Build(rt, files)
			if err != nil {
				return fmt.Errorf("%s: %w", rtPath, err)
			}
			return writeChecked(c, out, module)
		},
	}
}

// writeChecked writes module to out only if it loads, as `wstream
// inspect` would load it.
func writeChecked(c *cli.Context, out string, module []byte) error {
	ctx := context.Background()
	engine, err := newEngine(ctx, "wazero")
	if err != nil {
		return err
	}
	defer engine.Close(ctx)
	p, err := runtime.Load(ctx, engine, out, module, runtime.Config{Stderr: c.App.ErrWriter, Workers: 1})
	if err != nil {
		return fmt.Errorf("%s does not load, so %s was not written: %w", c.Args().First(), out, err)
	}
	defer p.Close(ctx)
	if err := pybuild.WriteFile(out, module); err != nil {
		return err
	}
	m := p.Manifest()
	names := make([]string, len(m.Functions))
	for i, f := range m.Functions {
		names[i] = fmt.Sprintf("%s (%s)", f.Name, f.Kind)
	}
	fmt.Fprintf(c.App.Writer, "built %s: plugin %s, %d functions: %s\n", out, m.Name, len(names), strings.Join(names, ", "))
	return nil
}
