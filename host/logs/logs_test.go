package logs

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(NewText(&b, slog.LevelInfo)).With("plugin", "wc")
	log.Debug("hidden")
	log.Info("resuming from checkpoint ckpt", "batches", 3)
	log.Warn("falling behind", "err", errors.New("a b"))
	log.WithGroup("kafka").Error("rebalanced", "partition", 2)
	want := `wstream: resuming from checkpoint ckpt plugin=wc batches=3
wstream: warning: falling behind plugin=wc err="a b"
wstream: error: rebalanced plugin=wc kafka.partition=2
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestNew(t *testing.T) {
	var b bytes.Buffer
	log, err := New(&b, "json", slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("no")
	log.Warn("yes", "n", 1)
	if s := b.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, `"msg":"yes","n":1`) {
		t.Errorf("json: %s", s)
	}
	if _, err := New(&b, "xml", 0); err == nil {
		t.Error("xml accepted")
	}
	if l, err := ParseLevel("debug"); err != nil || l != slog.LevelDebug {
		t.Errorf("debug: %v %v", l, err)
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("loud accepted")
	}
}
