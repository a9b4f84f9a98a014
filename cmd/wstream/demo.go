package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

// demoCommand runs the word count over the bundled sample text, building
// the Go word count plugin first: on a fresh checkout it needs Go alone
// (no make, clang, npm or rustc).
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:      "demo",
		Usage:     "build the Go word count plugin and count the words of the bundled sample text (run it from the repository root)",
		ArgsUsage: " ",
		Description: `From the root of a wstream checkout, with Go alone:

   go run ./cmd/wstream demo

It builds plugins/wordcount/wordcount.wasm from source and runs
   wstream run --plugin plugins/wordcount/wordcount.wasm --clock manual < plugins/wordcount/sample.txt`,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("demo takes no arguments (got %q)", c.Args().First())
			}
			dir := filepath.Join("plugins", "wordcount")
			sample := filepath.Join(dir, "sample.txt")
			if _, err := os.Stat(sample); err != nil {
				return usagef("demo runs from the root of a wstream checkout (no %s here); cd there first", sample)
			}
			plugin := filepath.Join(dir, "wordcount.wasm")
			build := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", plugin, "./"+dir)
			build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			build.Stdout, build.Stderr = c.App.ErrWriter, c.App.ErrWriter
			if err := build.Run(); err != nil {
				return fmt.Errorf("building %s: %v (go build needs Go 1.24 or later for GOOS=wasip1 -buildmode=c-shared)", plugin, err)
			}
			in, err := os.Open(sample)
			if err != nil {
				return err
			}
			defer in.Close()
			if code := run([]string{"wstream", "run", "--plugin", plugin, "--clock", "manual"}, in, c.App.Writer, c.App.ErrWriter); code != 0 {
				return fmt.Errorf("the word count exited with status %d", code)
			}
			return nil
		},
	}
}
