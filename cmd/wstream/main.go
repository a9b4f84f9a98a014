// Command wstream runs stream pipelines whose operators are WebAssembly
// plugins. main is thin: every command lives in its own file and runs
// in-process through run, so tests drive the real CLI without a subprocess.
package main

import (
	"os"
)

func main() {
	stop := startProfile(os.Getenv("WSTREAM_CPUPROFILE"), os.Stderr)
	code := run(os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
