package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/runtime"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "check that a plugin keeps the batch ABI: exports, manifest, empty, large and malformed batches, determinism",
		ArgsUsage: "FILE.wasm",
		Description: `Runs every function of the plugin through the checks a host relies on and
prints PASS or FAIL with the reason for each. Exit status 0 when all pass.

Examples:
   wstream check plugins/wordcount/wordcount.wasm
   wstream check myplugin/myplugin.wasm --runtime wasmtime`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "runtime", Usage: "WebAssembly runtime: wazero or wasmtime", Value: "wazero"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("check takes one plugin file, e.g. wstream check plugins/wordcount/wordcount.wasm")
			}
			ctx := context.Background()
			engine, err := newEngine(ctx, c.String("runtime"))
			if err != nil {
				return err
			}
			defer engine.Close(ctx)
			failed := checkPlugin(ctx, engine, c.Args().First(), c.App.Writer, c.App.ErrWriter)
			if failed > 0 {
				return fmt.Errorf("%d checks failed", failed)
			}
			return nil
		},
	}
}

// probes are the sample values functions are called with: every msgpack
// family, and pairs and groups the way the host sends them.
var probes = []string{`1`, `-7`, `300`, `2.5`, `"a b"`, `""`, `true`, `null`, `["k", 1]`, `["k", "v"]`, `[1, 2]`, `{"x": 1}`}

// checkPlugin runs the checks and returns how many failed.
func checkPlugin(ctx context.Context, engine runtime.Engine, path string, out, stderr io.Writer) int {
	failed := 0
	report := func(ok bool, name, format string, args ...any) bool {
		status := "PASS"
		if !ok {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(out, "%s  %-40s %s\n", status, name, fmt.Sprintf(format, args...))
		return ok
	}
	cfg := runtime.Config{Stderr: stderr, Workers: 1, CallTimeout: 10 * time.Second}
	p1, err := runtime.LoadFile(ctx, engine, path, cfg)
	if !report(err == nil, "load: exports, ABI version, manifest", "%s", errText(err, "ok")) {
		return failed
	}
	defer p1.Close(ctx)
	p2, err := runtime.LoadFile(ctx, engine, path, cfg)
	if !report(err == nil, "load a second instance", "%s", errText(err, "ok")) {
		return failed
	}
	defer p2.Close(ctx)
	m := p1.Manifest()
	report(m.Name != "" && m.Language != "", "manifest names plugin and language", "name %q, language %q, version %q", m.Name, m.Language, m.Version)
	report(len(m.Functions) > 0, "manifest lists functions", "%d functions", len(m.Functions))

	for _, fn := range m.Functions {
		f1, _ := p1.Func(fn.Name)
		f2, _ := p2.Func(fn.Name)
		label := fmt.Sprintf("%s (%s)", fn.Name, fn.Kind)

		// Empty batch: a valid, empty response.
		empty := emptyInput(fn.Kind)
		resp, err := f1.Call(ctx, empty, 0)
		report(err == nil && len(resp.Results) == 0, label+": empty batch", "%s", errText(err, "[0, [], []]"))

		// Each probe alone: a result or a record error, never a trap.
		var accepted []abi.Raw
		trapped := ""
		for _, js := range probes {
			v, _ := abi.FromJSON(nil, []byte(js))
			item := itemFor(fn.Kind, v)
			r, err := f1.Call(ctx, inputFor(fn.Kind, []abi.Raw{item}), 1)
			if err != nil {
				trapped = fmt.Sprintf("input %s: %v", js, err)
				break
			}
			if len(r.Errors) == 0 {
				accepted = append(accepted, item)
			}
		}
		if !report(trapped == "", label+": sample values", "%s", orText(trapped, fmt.Sprintf("%d of %d sample values accepted, the rest reported as record errors", len(accepted), len(probes)))) {
			continue
		}

		// A large batch of accepted values.
		if len(accepted) > 0 {
			var items []abi.Raw
			for len(items) < 20000 {
				items = append(items, accepted...)
			}
			input := inputFor(fn.Kind, items)
			start := time.Now()
			r1, err := f1.Call(ctx, input, len(items))
			ok := err == nil && len(r1.Errors) == 0
			report(ok, label+": large batch", "%s", errText(err, fmt.Sprintf("%d items, %d bytes, in %v", len(items), len(input), time.Since(start).Round(time.Millisecond))))

			// Determinism: same input, same bytes, on this instance and another.
			if ok {
				a := encodeResults(r1)
				r2, err1 := f1.Call(ctx, input, len(items))
				r3, err2 := f2.Call(ctx, input, len(items))
				same := err1 == nil && err2 == nil && bytes.Equal(a, encodeResults(r2)) && bytes.Equal(a, encodeResults(r3))
				report(same, label+": deterministic", "%s", orText(boolText(!same, "the same batch gave different results across calls or instances"), "identical across calls and instances"))
			}
		}

		// Malformed input: the guest must say bad_input, not trap.
		problem := ""
		for _, bad := range [][]byte{{0xc1}, {0x92, 0x01}, []byte("not msgpack at all")} {
			_, err := f1.Call(ctx, bad, 1)
			var ge *abi.GuestError
			if !errors.As(err, &ge) || ge.Code != abi.CodeBadInput {
				problem = fmt.Sprintf("input %x: want a bad_input (code 1) response, got: %v", bad, err)
				break
			}
		}
		report(problem == "", label+": malformed input", "%s", orText(problem, "answered bad_input (3 inputs)"))
	}
	fmt.Fprintf(out, "\n%s: %d checks failed\n", path, failed)
	return failed
}

// emptyInput is the call input of a batch with no items.
func emptyInput(k abi.Kind) []byte { return inputFor(k, nil) }

// itemFor shapes a sample value as one item of the kind's call input.
func itemFor(k abi.Kind, v abi.Raw) abi.Raw {
	switch k {
	case abi.KindReduce: // a group of two values
		return abi.AppendArray(nil, []abi.Raw{v, v})
	case abi.KindUpdate: // [key, [values], no state]
		e := append([]byte{0x93}, abi.AppendString(nil, "k")...)
		e = abi.AppendArray(e, []abi.Raw{v})
		return append(e, 0x90)
	case abi.KindMapState: // [key, no state, [values], not timing out]
		e := append([]byte{0x94}, abi.AppendString(nil, "k")...)
		e = append(e, 0x90)
		e = abi.AppendArray(e, []abi.Raw{v})
		return abi.AppendBool(e, false)
	}
	return v
}

// inputFor encodes items as a call input of the kind.
func inputFor(k abi.Kind, items []abi.Raw) []byte {
	var dst []byte
	if k == abi.KindUpdate || k == abi.KindMapState {
		dst = abi.AppendInt([]byte{0x92}, 1000)
	}
	return abi.AppendArray(dst, items)
}

func encodeResults(r abi.Response) []byte {
	var b []byte
	for _, x := range r.Results {
		b = append(b, x...)
	}
	return b
}

func errText(err error, ok string) string {
	if err != nil {
		return err.Error()
	}
	return ok
}

func orText(s, alt string) string {
	if s != "" {
		return s
	}
	return alt
}

func boolText(b bool, s string) string {
	if b {
		return s
	}
	return ""
}
