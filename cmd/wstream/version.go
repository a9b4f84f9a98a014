package main

import (
	"fmt"
	goruntime "runtime"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/abi"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the wstream version, the ABI version and the compiled-in runtimes",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "wstream %s (batch ABI v%d, %s, runtimes: %s)\n",
				version, abi.Version, goruntime.Version(), runtimeNames())
			return nil
		},
	}
}
