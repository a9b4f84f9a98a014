package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/wstream/wstream/host/pipeline"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// usageError marks a mistake in how the command was called (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// run executes the CLI with explicit streams and returns the exit code:
// 0 success, 1 a failed run, 2 a usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := &cli.App{
		Name:      "wstream",
		Usage:     "stream processing with WebAssembly operators, in the lineage of Spark Streaming",
		Reader:    stdin,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			runCommand(),
			demoCommand(),
			lintCommand(),
			inspectCommand(),
			checkCommand(),
			newCommand(),
			buildCommand(),
			versionCommand(),
			benchCommand(),
		},
		// Errors are printed once, below, without a stack trace or usage dump.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		HideHelpCommand: true,
	}
	if len(args) > 1 && !strings.HasPrefix(args[1], "-") && args[1] != "help" && app.Command(args[1]) == nil {
		var names []string
		for _, c := range app.VisibleCommands() {
			names = append(names, c.Name)
		}
		fmt.Fprintf(stderr, "wstream: unknown command %q%s; the commands are %s\nRun 'wstream --help' for usage.\n",
			args[1], pipeline.Suggest(args[1], names), strings.Join(names, ", "))
		return 2
	}
	err := app.Run(flagsFirst(app, args))
	if err == nil {
		return 0
	}
	msg := strings.TrimSpace(err.Error())
	fmt.Fprintf(stderr, "wstream: %s\n", msg)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(msg, "flag provided but not defined") {
		fmt.Fprintf(stderr, "Run 'wstream --help' for usage.\n")
		return 2
	}
	return 1
}

// flagsFirst moves a command's flags before its arguments, so that
// `wstream inspect FILE.wasm --json` works as well as `inspect --json FILE`
// (urfave/cli stops parsing flags at the first argument).
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	at := -1
	for i, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			cmd, at = app.Command(a), i+1
			break
		}
	}
	if cmd == nil {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, rest []string
	tail := args[at+1:]
	for i := 0; i < len(tail); i++ {
		a := tail[i]
		if a == "--" {
			rest = append(rest, tail[i:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(tail) {
			i++
			flags = append(flags, tail[i])
		}
	}
	out := append([]string{}, args[:at+1]...)
	out = append(out, flags...)
	return append(out, rest...)
}
