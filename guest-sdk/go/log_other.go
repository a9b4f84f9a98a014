//go:build !wasip1

package wstream

import (
	"fmt"
	"os"
)

var levelNames = [...]string{"debug", "info", "warn", "error"}

// Log writes a line to the host's log: level 0 debug, 1 info, 2 warn,
// 3 error (abi.LogDebug…). Natively, where there is no host, it writes to
// stderr so that plugin code runs unchanged in native tests.
func Log(level int, msg string) {
	name := "level " + fmt.Sprint(level)
	if level >= 0 && level < len(levelNames) {
		name = levelNames[level]
	}
	fmt.Fprintf(os.Stderr, "wstream %s: %s\n", name, msg)
}
