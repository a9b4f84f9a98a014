// Command pybuild embeds Python files into the Python runtime module; the
// Makefiles use it where a user runs `wstream build`.
//
//	pybuild -runtime python-runtime.wasm -o app.wasm [-lib DIR]... app.py   # a plugin
//	pybuild -stdlib DIR -o python-runtime.wasm python-shim.wasm              # the runtime
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/wstream/wstream/guest-sdk/python/pybuild"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var libs list
	out := flag.String("o", "", "write the module to `FILE`")
	runtime := flag.String("runtime", "", "the Python runtime `module` (default: found as wstream build finds it)")
	stdlib := flag.String("stdlib", "", "fill the stdlib slot of the input module from `DIR` (building the runtime)")
	flag.Var(&libs, "lib", "a `folder` of modules to include (repeatable)")
	flag.Parse()
	if err := run(*out, *runtime, *stdlib, libs, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "pybuild:", err)
		os.Exit(1)
	}
}

func run(out, runtime, stdlib string, libs, args []string) error {
	if out == "" || len(args) != 1 {
		return fmt.Errorf("usage: pybuild -o OUT.wasm [-runtime R.wasm] [-lib DIR]... APP.py, or pybuild -stdlib DIR -o OUT.wasm IN.wasm")
	}
	var module []byte
	var err error
	if stdlib != "" {
		files, err := pybuild.ReadDir(stdlib)
		if err != nil {
			return err
		}
		in, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		if module, err = pybuild.Embed(in, pybuild.SlotStdlib, files); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
	} else {
		if runtime == "" {
			exe, _ := os.Executable()
			wd, _ := os.Getwd()
			if runtime, err = pybuild.FindRuntime(exe, wd); err != nil {
				return err
			}
		}
		rt, err := os.ReadFile(runtime)
		if err != nil {
			return err
		}
		files, err := pybuild.ReadApp(args[0], libs...)
		if err != nil {
			return err
		}
		if module, err = pybuild.Build(rt, files); err != nil {
			return fmt.Errorf("%s: %w", runtime, err)
		}
	}
	return pybuild.WriteFile(out, module)
}
