package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// A new plugin starts as a copy of the bundled word count in its language
// (split-words, pair-with-one, sum, and a default pipeline): small, complete
// and known to pass `wstream check`. It builds against the SDK of a
// wstream checkout, found from --sdk, the working directory or the binary.

// scaffold says how to make a plugin in one language from the word count.
type scaffold struct {
	from  string            // the word count's folder, relative to the checkout
	files map[string]string // source file in `from` -> generated file name ({{name}} is replaced)
	build string            // the one build command, for the message
	extra func(root, dir, name string) error
}

var scaffolds = map[string]scaffold{
	"go": {
		from:  "plugins/wordcount",
		files: map[string]string{"main.go": "main.go", "wordcount.go": "{{name}}.go"},
		build: "make",
		extra: goModule,
	},
	"c": {
		from:  "plugins/wordcount/c",
		files: map[string]string{"wordcount.c": "{{name}}.c", "Makefile": "Makefile"},
		build: "make",
	},
	"rust": {
		from:  "plugins/wordcount/rust",
		files: map[string]string{"wordcount.rs": "{{name}}.rs", "Makefile": "Makefile"},
		build: "make",
	},
	"assemblyscript": {
		from:  "plugins/wordcount/assemblyscript",
		files: map[string]string{"wordcount.ts": "{{name}}.ts", "Makefile": "Makefile"},
		build: "make",
	},
}

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

func newCommand() *cli.Command {
	langs := make([]string, 0, len(scaffolds))
	for l := range scaffolds {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	return &cli.Command{
		Name:      "new",
		Usage:     "create a plugin folder that builds with one command and passes wstream check",
		ArgsUsage: "NAME",
		Description: `Creates NAME/ with a starter plugin (a word count: split-words, pair-with-one,
sum) in the chosen language, a Makefile, and a README. It builds against the
SDK of this wstream checkout.

Examples:
   wstream new --lang go myplugin && make -C myplugin && wstream check myplugin/myplugin.wasm
   wstream new --lang rust --dir /tmp myplugin`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lang", Usage: "plugin language: " + strings.Join(langs, ", "), Value: "go"},
			&cli.StringFlag{Name: "dir", Usage: "create the folder inside `DIR`", Value: "."},
			&cli.StringFlag{Name: "sdk", Usage: "the wstream checkout whose SDKs to build against (default: found from the working directory or the wstream binary)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("new takes the plugin's name, e.g. wstream new --lang go myplugin")
			}
			name := c.Args().First()
			if !pluginName.MatchString(name) {
				return usagef("plugin name %q: use lower-case letters, digits, - and _, starting with a letter", name)
			}
			sc, ok := scaffolds[c.String("lang")]
			if !ok {
				return usagef("--lang %q: use one of %s", c.String("lang"), strings.Join(langs, ", "))
			}
			root, err := findCheckout(c.String("sdk"))
			if err != nil {
				return err
			}
			dir := filepath.Join(c.String("dir"), name)
			if _, err := os.Stat(dir); err == nil {
				return fmt.Errorf("%s already exists; choose another name or remove it", dir)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			for src, dst := range sc.files {
				data, err := os.ReadFile(filepath.Join(root, sc.from, src))
				if err != nil {
					return fmt.Errorf("reading the %s template: %w", c.String("lang"), err)
				}
				text := rewrite(string(data), root, name)
				dst = strings.ReplaceAll(dst, "{{name}}", name)
				if err := os.WriteFile(filepath.Join(dir, dst), []byte(text), 0o644); err != nil {
					return err
				}
			}
			if sc.extra != nil {
				if err := sc.extra(root, dir, name); err != nil {
					return err
				}
			}
			readme := fmt.Sprintf("# %s\n\nA wstream plugin in %s, started from the word count.\n\n    %s                                  # builds %s.wasm\n    wstream check %s.wasm     # checks it keeps the batch ABI\n    wstream run --plugin %s.wasm < input.txt\n\nIt builds against the SDK in %s.\n",
				name, c.String("lang"), sc.build, name, name, name, root)
			if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "created %s (%s)\nbuild it:  cd %s && %s\ncheck it:  wstream check %s\n", dir, c.String("lang"), dir, sc.build, filepath.Join(dir, name+".wasm"))
			return nil
		},
	}
}

// rewrite turns the word count's source into NAME's: the plugin name, and
// relative SDK paths made absolute (the new folder lives elsewhere).
func rewrite(text, root, name string) string {
	text = strings.ReplaceAll(text, "../../../guest-sdk/", root+"/guest-sdk/")
	text = strings.ReplaceAll(text, "wordcount", name)
	return text
}

// goModule writes the module files of a Go plugin: its own go.mod, which
// replaces the wstream module with the checkout, and a Makefile.
func goModule(root, dir, name string) error {
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		return err
	}
	mod := fmt.Sprintf("module %s\n\ngo 1.26.0\n\nrequire github.com/wstream/wstream v0.0.0\n\nreplace github.com/wstream/wstream => %s\n", name, root)
	mk := fmt.Sprintf("# Builds %[1]s.wasm: a WASI reactor with the Go SDK.\n%[1]s.wasm: $(wildcard *.go) go.mod\n\tGOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -o $@ .\n\nclean:\n\trm -f %[1]s.wasm\n\n.PHONY: clean\n", name)
	for f, body := range map[string][]byte{"go.mod": []byte(mod), "go.sum": sum, "Makefile": []byte(mk)} {
		if err := os.WriteFile(filepath.Join(dir, f), body, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// findCheckout locates a wstream checkout (the folder holding guest-sdk/):
// the flag, else upwards from the working directory, else from the binary.
func findCheckout(flag string) (string, error) {
	isRoot := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "guest-sdk", "go", "wstream.go"))
		return err == nil
	}
	if flag != "" {
		abs, _ := filepath.Abs(flag)
		if !isRoot(abs) {
			return "", fmt.Errorf("--sdk %s is not a wstream checkout (no guest-sdk/go/wstream.go there)", flag)
		}
		return abs, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(real))
		}
	}
	for _, d := range starts {
		for {
			if isRoot(d) {
				return d, nil
			}
			up := filepath.Dir(d)
			if up == d {
				break
			}
			d = up
		}
	}
	return "", fmt.Errorf("cannot find a wstream checkout with the guest SDKs; run from inside one, or pass --sdk DIR")
}
