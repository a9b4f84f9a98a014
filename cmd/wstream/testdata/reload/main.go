// Command reload is a plugin the hot-reload test builds in versions: its
// map function add turns a line holding a number n into ["total", n+step],
// where step is set at build time (-ldflags "-X main.step=2"), so the test
// can tell from the output which version ran each batch. With
// -X main.variant=missing it lacks add, which a reload must refuse.
package main

import (
	"fmt"
	"strconv"
	"strings"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

var (
	step    = "1"
	variant = ""
)

func init() {
	wstream.Plugin("reload", "step-"+step)
	if variant == "missing" {
		wstream.Map("other", func(x any) (any, error) { return x, nil })
		return
	}
	n, _ := strconv.ParseInt(step, 10, 64)
	wstream.Map("add", func(x any) (any, error) {
		line, _ := x.(string)
		v, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("not a number: %q", line)
		}
		return wstream.Pair("total", v+n), nil
	})
}

func main() {}
