package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	. "github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/pipeline"
)

// fanOut passes its input through as the final stream and gives a named
// stream "firsts" the first record of each batch, skipping batches whose
// number is even (a stream that does not produce at every batch).
type fanOut struct{ shaped }

func (p *fanOut) Process(ctx context.Context, t int64, in map[string][]abi.Raw) (Batch, bool, error) {
	b, emit, err := p.shaped.Process(ctx, t, in)
	if p.n%2 == 1 && len(b.Records) > 0 {
		b.Streams = map[string][]abi.Raw{"firsts": b.Records[:1]}
	}
	return b, emit, err
}

// Every sink gets its stream: the main sink and a second sink of the final
// stream every batch, a named stream's sink only the batches that stream
// produced.
func TestRunWritesEveryOutput(t *testing.T) {
	dir := t.TempDir()
	main, second, firsts := hosttest.NewTestSink(), hosttest.NewTestSink(), hosttest.NewTestSink()
	err := Run(hosttest.Ctx(t), RunConfig{
		Sources: map[string]Source{"in": hosttest.MustSource(t, "batches:"+hosttest.WriteFile(t, dir, "in.jsonl", "[1, 2]\n[3]\n[4, 5]\n"))},
		Sink:    main,
		Outputs: []Output{
			{Name: "sink#2", Sink: second},
			{Name: "firsts", Stream: "firsts", Sink: firsts},
		},
		Processor: &fanOut{},
		Interval:  time.Second,
		Clock:     pipeline.ClockManual,
	})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"1000 1,2", "2000 3", "3000 4,5"}
	for name, c := range map[string]struct {
		sink *hosttest.TestSink
		want []string
	}{"main": {main, all}, "second": {second, all}, "firsts": {firsts, []string{"1000 1", "3000 4"}}} {
		got, closed := c.sink.Result()
		if fmt.Sprint(got) != fmt.Sprint(c.want) || !closed {
			t.Errorf("%s sink: %q (closed %v), want %q", name, got, closed, c.want)
		}
	}
}

// A run may have no main sink when named streams have sinks, and refuses
// outputs without a name of their own or with a transactional sink.
func TestRunOutputsChecked(t *testing.T) {
	src := hosttest.MustSource(t, "stdin")
	base := func() RunConfig {
		return RunConfig{Sources: map[string]Source{"in": src}, Processor: hosttest.Pass{}, Interval: time.Second}
	}
	for _, c := range []struct {
		outs []Output
		main Sink
		want string
	}{
		{nil, nil, "run: no sink"},
		{[]Output{{Name: "", Sink: hosttest.NewTestSink()}}, nil, `output name ""`},
		{[]Output{{Name: "sink", Sink: hosttest.NewTestSink()}}, hosttest.NewTestSink(), `output name "sink"`},
		{[]Output{{Name: "a", Sink: hosttest.NewTestSink()}, {Name: "a", Sink: hosttest.NewTestSink()}}, nil, `output name "a"`},
		{[]Output{{Name: "late", Sink: hosttest.NewTestSink()}}, nil, `output name "late"`},
		{[]Output{{Name: "a"}}, nil, `output "a" has no sink`},
		{[]Output{{Name: "a", Sink: committer{hosttest.NewTestSink()}}}, nil, "only the main sink"},
	} {
		cfg := base()
		cfg.Sink, cfg.Outputs = c.main, c.outs
		cfg.SideSinks = map[string]Sink{"late": hosttest.NewTestSink()}
		if err := CheckRunConfig(&cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.outs, err, c.want)
		}
	}
	cfg := base()
	cfg.Outputs = []Output{{Name: "s", Stream: "s", Sink: hosttest.NewTestSink()}}
	if err := CheckRunConfig(&cfg); err != nil {
		t.Errorf("outputs without a main sink: %v", err)
	}
}

type committer struct{ *hosttest.TestSink }

func (committer) Bind(map[string]Source) error        { return nil }
func (committer) CommitBatch(map[string][]byte) error { return nil }

// Each jsonl: output resumes at the length the checkpoint committed for it,
// by name: output written after the last commit is cut back on restart.
func TestRunOutputsProgress(t *testing.T) {
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.jsonl", "[1]\n[2]\n")
	ckpt := filepath.Join(dir, "ckpt")
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	run := func() {
		store, _ := OpenCheckpoints(ckpt, nil)
		err := Run(hosttest.Ctx(t), RunConfig{
			Sources:    map[string]Source{"in": hosttest.MustSource(t, "batches:"+in)},
			Outputs:    []Output{{Name: "a", Sink: mustSink(t, "jsonl:"+a)}, {Name: "b", Sink: mustSink(t, "jsonl:"+b)}},
			Processor:  &shaped{shape: "s"},
			Interval:   time.Second,
			Clock:      pipeline.ClockManual,
			Checkpoint: store,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	run()
	want := "{\"time\":1000,\"records\":[1]}\n{\"time\":2000,\"records\":[2]}\n"
	f, _ := os.OpenFile(b, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{\"time\":3000,\"records\":[\"not committed\"]}\n")
	f.Close()
	run()
	for _, p := range []string{a, b} {
		if got, _ := os.ReadFile(p); string(got) != want {
			t.Errorf("%s after a restart:\n%s\nwant\n%s", filepath.Base(p), got, want)
		}
	}
	store, _ := OpenCheckpoints(ckpt, nil)
	ck, err := store.Load()
	if err != nil || ck.Sinks["a"] != int64(len(want)) || ck.Sinks["b"] != int64(len(want)) || ck.Sink != -1 {
		t.Errorf("checkpoint progress: main %d, outputs %v (%v); want %d each", ck.Sink, ck.Sinks, err, len(want))
	}
}

func mustSink(t *testing.T, uri string) Sink {
	t.Helper()
	s, err := OpenSink(uri)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ledger is what a database would hold: every delivered batch, and the
// last batch time delivered per pipeline and sink (the progress row).
type ledger struct {
	mu       sync.Mutex
	rows     []string
	progress map[string]int64
}

// stagingSink is a StagingSink over a ledger, the way a database sink is
// built: Write stages, Deliver writes the rows and the progress row
// together, and a batch time already in the progress row is skipped.
type stagingSink struct {
	db       *ledger
	failAt   int64 // Deliver fails when the last staged batch has this time
	id, name string
	staged   []string
	resumed  bool
}

func (s *stagingSink) URI() string { return "staging-test" }

func (s *stagingSink) Resume(id, name string, staged []byte) error {
	s.id, s.name, s.resumed = id, name, true
	if staged != nil {
		s.staged = strings.Split(string(staged), "\n")
	}
	return nil
}

func (s *stagingSink) Open(ctx context.Context, _ int64) error { return s.Deliver(ctx) }

func (s *stagingSink) Write(b Batch) error {
	s.staged = append(s.staged, fmt.Sprintf("%d %s", b.Time, strings.Join(hostTexts(b.Records), ",")))
	return nil
}

func hostTexts(recs []abi.Raw) []string {
	var out []string
	for _, r := range recs {
		j, _ := abi.AppendJSON(nil, r)
		out = append(out, string(j))
	}
	return out
}

func (s *stagingSink) Staged() []byte {
	if len(s.staged) == 0 {
		return nil
	}
	return []byte(strings.Join(s.staged, "\n"))
}

func (s *stagingSink) Deliver(context.Context) error {
	if len(s.staged) == 0 {
		return nil
	}
	var last int64
	fmt.Sscan(s.staged[len(s.staged)-1], &last)
	if last == s.failAt {
		s.failAt = 0
		return errors.New("the database went away")
	}
	s.db.mu.Lock()
	defer s.db.mu.Unlock()
	key := s.id + "/" + s.name
	if s.id == "" || s.db.progress[key] < last {
		s.db.rows = append(s.db.rows, s.staged...)
		if s.id != "" {
			s.db.progress[key] = last
		}
	}
	s.staged = nil
	return nil
}

func (s *stagingSink) Close() error { return nil }

// A StagingSink's output reaches its store only once the checkpoint that
// holds it is durable, and a delivery that fails is made by the next run
// from the checkpoint, under the same pipeline id: every batch exactly
// once.
func TestRunStagingSink(t *testing.T) {
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.jsonl", "[1]\n[2]\n[3]\n[4]\n")
	db := &ledger{progress: map[string]int64{}}
	run := func(failAt int64) (*stagingSink, error) {
		store, _ := OpenCheckpoints(filepath.Join(dir, "ckpt"), nil)
		sink := &stagingSink{db: db, failAt: failAt}
		err := Run(hosttest.Ctx(t), RunConfig{
			Sources:    map[string]Source{"in": hosttest.MustSource(t, "batches:"+in)},
			Outputs:    []Output{{Name: "counts", Stream: "", Sink: sink}},
			Processor:  &shaped{shape: "s"},
			Interval:   time.Second,
			Clock:      pipeline.ClockManual,
			Checkpoint: store,
		})
		return sink, err
	}
	first, err := run(2000)
	if err == nil || !strings.Contains(err.Error(), "the database went away") || !strings.Contains(err.Error(), "staging-test") {
		t.Fatalf("first run: %v, want the delivery error naming the sink", err)
	}
	if fmt.Sprint(db.rows) != "[1000 1]" {
		t.Fatalf("after the failed delivery the store holds %q, want only batch 1000", db.rows)
	}
	second, err := run(0)
	if err != nil {
		t.Fatal(err)
	}
	if !first.resumed || first.id == "" || second.id != first.id || second.name != "counts" {
		t.Errorf("pipeline id %q then %q, name %q: want the same id from the checkpoint", first.id, second.id, second.name)
	}
	if want := "[1000 1 2000 2 3000 3 4000 4]"; fmt.Sprint(db.rows) != want {
		t.Errorf("store %q, want %s: each batch once", db.rows, want)
	}
	// Delivering what a checkpoint holds again is skipped by the sink's
	// progress record: a crash after the delivery and before the next
	// checkpoint repeats nothing.
	again := &stagingSink{db: db}
	again.Resume(first.id, "counts", []byte("4000 4"))
	again.Open(context.Background(), -1)
	if want := "[1000 1 2000 2 3000 3 4000 4]"; fmt.Sprint(db.rows) != want {
		t.Errorf("store after a repeated delivery %q, want %s", db.rows, want)
	}
}

// Without a checkpoint, a StagingSink delivers after every batch, with no
// pipeline id.
func TestRunStagingSinkWithoutCheckpoint(t *testing.T) {
	dir := t.TempDir()
	db := &ledger{progress: map[string]int64{}}
	sink := &stagingSink{db: db}
	err := Run(hosttest.Ctx(t), RunConfig{
		Sources:   map[string]Source{"in": hosttest.MustSource(t, "batches:"+hosttest.WriteFile(t, dir, "in.jsonl", "[1]\n[2]\n"))},
		Sink:      sink,
		Processor: hosttest.Pass{},
		Interval:  time.Second,
		Clock:     pipeline.ClockManual,
	})
	if err != nil || sink.resumed || fmt.Sprint(db.rows) != "[1000 1 2000 2]" {
		t.Fatalf("rows %q, resumed %v, err %v", db.rows, sink.resumed, err)
	}
}

// A sink that changed places in the list keeps its own progress: the
// checkpoint knows each name's URI.
func TestRunOutputsFollowTheirURI(t *testing.T) {
	dir := t.TempDir()
	in := hosttest.WriteFile(t, dir, "in.jsonl", "[1, 2]\n[3]\n[4, 5]\n")
	ckpt := filepath.Join(dir, "ckpt")
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	run := func(first, second string) {
		store, _ := OpenCheckpoints(ckpt, nil)
		var log hosttest.SyncBuffer
		err := Run(hosttest.Ctx(t), RunConfig{
			Sources:    map[string]Source{"in": hosttest.MustSource(t, "batches:"+in)},
			Sink:       mustSink(t, "jsonl:"+first),
			Outputs:    []Output{{Name: "firsts", Stream: "firsts", Sink: mustSink(t, "jsonl:"+second)}},
			Processor:  &fanOut{shaped{shape: "s"}},
			Interval:   time.Second,
			Clock:      pipeline.ClockManual,
			Checkpoint: store,
			Log:        hosttest.Logger(&log),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	run(a, b)
	wantA, _ := os.ReadFile(a)
	wantB, _ := os.ReadFile(b)
	if len(wantA) == len(wantB) {
		t.Fatal("the two outputs must differ in length for this test")
	}
	for _, p := range []string{a, b} {
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("{\"time\":9000,\"records\":[\"not committed\"]}\n")
		f.Close()
	}
	run(b, a) // swapped: each must still be cut back to its own length
	if got, _ := os.ReadFile(a); string(got) != string(wantA) {
		t.Errorf("a.jsonl after the swap:\n%s\nwant\n%s", got, wantA)
	}
	if got, _ := os.ReadFile(b); string(got) != string(wantB) {
		t.Errorf("b.jsonl after the swap:\n%s\nwant\n%s", got, wantB)
	}
}
