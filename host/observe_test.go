package host_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/pipeline"
)

// recorder is an Observer that renders what it is told, one line per
// batch, and records when BeforeBatch ran.
type recorder struct {
	info  RunInfo
	lines []string
}

func (r *recorder) Started(info RunInfo) { r.info = info }

func (r *recorder) Batch(b *BatchStats) {
	line := fmt.Sprintf("%d in=%v out=%d emitted=%v delay=%v", b.Time, b.Sources, b.Out, b.Emitted, b.SchedulingDelay)
	if b.Checkpoint != nil {
		line += fmt.Sprintf(" checkpoint=%v", b.Checkpoint.Bytes > 0)
	}
	if b.Processing < 0 || b.Start.IsZero() {
		line += " bad-times"
	}
	r.lines = append(r.lines, line)
}

// The Observer hears of every batch, after its sink write and checkpoint,
// with each source's records and the output; BeforeBatch runs before each.
func TestObserverSeesEveryBatch(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenCheckpoints(dir+"/ckpt", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	sink := hosttest.NewTestSink()
	err = Run(hosttest.Ctx(t), RunConfig{
		Sources: map[string]Source{
			"a": hosttest.MustSource(t, "file:"+hosttest.WriteFile(t, dir, "a.txt", "a1\na2\na3\n")),
			"b": hosttest.MustSource(t, "batches:"+hosttest.WriteFile(t, dir, "b.jsonl", "[\"x\", 1]\nnull\n")),
		},
		Sink:            sink,
		Processor:       &shaped{shape: "s"},
		Interval:        time.Second,
		Clock:           pipeline.ClockManual,
		Checkpoint:      store,
		CheckpointEvery: 2,
		Observer:        rec,
		BeforeBatch: func(t int64) {
			rec.lines = append(rec.lines, fmt.Sprintf("before %d", t))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"before 1000", "1000 in=[{a 1} {b 2}] out=3 emitted=true delay=0s",
		"before 2000", "2000 in=[{a 1} {b 0}] out=1 emitted=true delay=0s checkpoint=true",
		"before 3000", "3000 in=[{a 1} {b 0}] out=1 emitted=true delay=0s",
	}
	if got := strings.Join(rec.lines, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("observed:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	if len(rec.info.Sources) != 2 || rec.info.Interval != time.Second || rec.info.Sink != Sink(sink) {
		t.Errorf("run info %+v", rec.info)
	}
}
