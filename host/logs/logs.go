// Package logs makes the slog handlers wstream logs through: one line per
// event for people (text), or JSON for log collectors.
package logs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// New returns a logger writing to w in format "text" or "json" at level
// and above.
func New(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	switch format {
	case "", "text":
		return slog.New(NewText(w, level)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", format)
}

// ParseLevel reads debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// Discard is a logger that writes nothing.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// text writes "wstream: MESSAGE key=value ...", with "warning: " or
// "error: " before the message above info: no timestamp, since a
// terminal and a service manager both add their own.
type text struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
	group string
}

// NewText returns the text handler.
func NewText(w io.Writer, level slog.Leveler) slog.Handler {
	return &text{mu: &sync.Mutex{}, w: w, level: level}
}

func (h *text) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *text) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("wstream: ")
	switch {
	case r.Level >= slog.LevelError:
		b.WriteString("error: ")
	case r.Level >= slog.LevelWarn:
		b.WriteString("warning: ")
	case r.Level < slog.LevelInfo:
		b.WriteString("debug: ")
	}
	b.WriteString(r.Message)
	for _, a := range h.attrs {
		writeAttr(&b, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(b, join(group, a.Key), g)
		}
		return
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	b.WriteString(" " + join(group, a.Key) + "=" + v)
}

func join(group, key string) string {
	if group == "" {
		return key
	}
	return group + "." + key
}

func (h *text) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr{}, h.attrs...)
	for _, a := range as {
		if h.group != "" {
			a.Key = h.group + "." + a.Key
		}
		c.attrs = append(c.attrs, a)
	}
	return &c
}

func (h *text) WithGroup(name string) slog.Handler {
	c := *h
	c.group = join(h.group, name)
	return &c
}
