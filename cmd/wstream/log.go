package main

import (
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/wstream/wstream/host/logs"
)

// newLogger is the logger --log-level and --log-format ask for, on
// stderr. It also becomes slog's default, which the runtime adapters log
// their debug lines to.
func newLogger(c *cli.Context) (*slog.Logger, error) { return newLoggerTo(c, c.App.ErrWriter) }

// newLoggerTo is newLogger writing to w.
func newLoggerTo(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if v := c.String("log-level"); v != "" {
		l, err := logs.ParseLevel(v)
		if err != nil {
			return nil, usagef("--log-level: %v", err)
		}
		level = l
	}
	log, err := logs.New(w, c.String("log-format"), level)
	if err != nil {
		return nil, usagef("--log-format: %v", err)
	}
	slog.SetDefault(log)
	return log, nil
}
