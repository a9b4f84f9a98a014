package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// WallClock is wall time as the scheduler sees it, so tests can drive
// batches with a fake clock instead of sleeping.
type WallClock interface {
	Now() time.Time
	// After delivers once d has passed, like time.After.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DefaultBuffer is how many units each source may get ahead of the batches
// under the system clock when RunConfig.Buffer is 0. A text source yields a
// unit per line, and a batch takes at most what the buffer holds, so this
// caps a line source at DefaultBuffer lines per batch interval (65536 per
// 1s batch, 6.5M/s at 10ms): memory is bounded by BufferBytes, not by this.
// (It was 1024, which capped a file: source at 102k lines/s at 10ms and a
// socket at 1024 lines/s at 1s.)
const DefaultBuffer = 1 << 16

// RunConfig is what Run needs. Run takes ownership of the sources and the
// sink: it opens the sources and closes all of them before it returns.
type RunConfig struct {
	// Sources by name; the Processor sees each source's records under its
	// name. Run opens them from the start (no positions yet).
	Sources map[string]Source
	// Sink writes the final stream; it may be nil when Outputs has sinks.
	Sink Sink
	// Outputs are more sinks: of the final stream, or of named streams.
	// Run takes ownership of them as of Sink.
	Outputs   []Output
	Processor Processor
	// Interval is the batch interval, a whole number of milliseconds, 1ms
	// or more.
	Interval time.Duration
	// Clock is what drives batches: pipeline.ClockSystem (the default) or
	// pipeline.ClockManual, where batch k has time k × Interval and takes
	// exactly one unit from each source, as fast as possible, and the run
	// ends when every source is drained.
	Clock pipeline.Clock
	// Wall is the system clock's time; nil is real time.
	Wall WallClock
	// Log receives operational messages (falling behind, resuming); nil
	// is slog.Default().
	Log *slog.Logger
	// Buffer is how many units each source may get ahead of the batches
	// under the system clock before its reads block; 0 is DefaultBuffer.
	Buffer int
	// BufferBytes bounds the bytes of records those units may hold, so
	// that long lines cannot make the buffer large (a unit larger than it
	// still passes, alone); 0 is DefaultBufferBytes.
	BufferBytes int
	// Checkpoint, when set, makes the run resume from the committed
	// checkpoint and commit a new one every CheckpointEvery batches (1 when
	// 0) and at the end: the Processor's state, each source's position and
	// the sink's progress, after the sink accepted the batch. The
	// Processor must be a Snapshotter.
	Checkpoint      *CheckpointStore
	CheckpointEvery int
	// NoDataBatches runs a trigger without input right after one that moved
	// the watermark (a NoDataProcessor's), as Spark does by default.
	NoDataBatches bool
	// Plugins maps each plugin file to a digest of its contents, recorded
	// in checkpoints: a restart with a changed plugin is logged, not
	// refused.
	Plugins map[string]string
	// SideSinks receive side outputs (Batch.Side) by name, e.g. "late" and
	// "deadLetter"; a side output without a sink is not written. Run closes
	// them, and checkpoints their progress like the main sink's.
	SideSinks map[string]Sink
	// MaxRate caps sources under the system clock, in records per second
	// by source name (Spark's receiver.maxRate); a source not named is not
	// capped.
	MaxRate map[string]float64
	// Backpressure slows sources under the system clock down to the rate
	// the pipeline processes when batches take longer than the interval
	// (Spark's backpressure.enabled, with its PID rate estimator), and logs
	// when it engages and lets go (rate.go).
	Backpressure bool
	// Trigger is "" or "processing-time" (batches at the interval),
	// "available-now" (batches back to back until the sources are drained)
	// or "once" (one batch with everything available, then stop). Under the
	// manual clock each input line is one trigger whatever the mode; once
	// only turns no-data batches off.
	Trigger pipeline.Trigger
	// Observer, when set, is told about the run and each batch
	// (observe.go).
	Observer Observer
	// BeforeBatch, when set, is called on the scheduler's goroutine
	// before each batch: the point between two batches where operator
	// code can be swapped (hot reload).
	BeforeBatch func(t int64)
}

// BatchCommitter is a sink whose output commits together with its input's
// positions, outside the checkpoint (a Kafka sink's transaction also commits
// the source group's offsets). Run calls Bind once with the sources before
// opening them, and CommitBatch after each batch's writes and before its
// checkpoint, with the positions of the sources that gave the batch a unit.
type BatchCommitter interface {
	Sink
	Bind(sources map[string]Source) error
	CommitBatch(pos map[string][]byte) error
}

// Acker is a source that acknowledges input upstream once it is safe (a
// consumer group's offsets, JetStream acks): Run calls Ack with its position
// after each checkpoint commit, or after each batch without checkpoints.
type Acker interface {
	Source
	Ack(pos []byte) error
}

// Snapshotter is a Processor whose state can be checkpointed.
type Snapshotter interface {
	// Shape describes the pipeline; a checkpoint of another shape is refused.
	Shape() string
	Snapshot(dst []byte) []byte
	Restore(state []byte) error
}

// Run is the micro-batch loop. Each batch goes through Processor.Process
// and, when it emits, Sink.Write; an error from a source (other than
// io.EOF), the processor or the sink ends the run with that error, naming
// the batch time and the source or sink.
//
// Under the system clock, batch times are the multiples of Interval (ms
// since the epoch) after the start; each source has a receiver goroutine
// feeding a bounded buffer; a batch takes every unit received so far, but
// only one whole unit (a batches: line) per source. A slow batch delays the
// next ones, which then run back to back: no batch time is skipped. Once
// every source is drained, what remains still runs at its batch times, and
// the run ends when nothing remains.
//
// When ctx is cancelled (SIGINT), Run finishes the batch in flight, puts the
// units received but not yet batched in a final batch (one more per extra
// whole unit), closes the sink and returns nil. The processor is called
// with a context that is not cancelled, so the batch in flight is never cut
// in half.
func Run(ctx context.Context, cfg RunConfig) (err error) {
	if err := cfg.check(); err != nil {
		closeSinks(&cfg)
		return err
	}
	r := &runner{
		cfg:  cfg,
		outs: cfg.outputs(),
		iv:   cfg.Interval.Milliseconds(),
		pctx: context.WithoutCancel(ctx),
		log:  cfg.Log,
		clk:  cfg.Wall,
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.clk == nil {
		r.clk = realClock{}
	}
	for n := range cfg.Sources {
		r.names = append(r.names, n)
	}
	sort.Strings(r.names)

	defer func() {
		if cerr := r.closeOutputs(); err == nil {
			err = cerr
		}
	}()
	if ctx.Err() != nil {
		return nil
	}
	positions, err := r.resume()
	if err != nil {
		return err
	}
	if bc, ok := cfg.Sink.(BatchCommitter); ok {
		if err := bc.Bind(cfg.Sources); err != nil {
			return err
		}
	}
	for i, n := range r.names {
		if err := cfg.Sources[n].Open(ctx, positions[n]); err != nil {
			for _, m := range r.names[:i] {
				cfg.Sources[m].Close()
			}
			if ctx.Err() != nil {
				return nil
			}
			return r.srcErr(n, err)
		}
	}
	defer func() {
		for _, n := range r.names {
			if cerr := cfg.Sources[n].Close(); err == nil && cerr != nil {
				err = r.srcErr(n, cerr)
			}
		}
	}()
	// The sinks open last: every check that can refuse the run has passed.
	if err := r.openOutputs(ctx); err != nil {
		return err
	}
	r.started()
	if cfg.Clock == pipeline.ClockManual {
		err = r.manual(ctx)
	} else {
		err = r.system(ctx)
	}
	if err == nil && r.uncommitted > 0 {
		err = r.commit()
	}
	return err
}

// resume loads the checkpoint, if any: it restores the processor and the
// sinks' progress, and returns the source positions to open at.
func (r *runner) resume() (map[string][]byte, error) {
	store := r.cfg.Checkpoint
	if store == nil {
		return nil, nil
	}
	snap, ok := r.cfg.Processor.(Snapshotter)
	if !ok {
		return nil, errors.New("checkpoint: this pipeline's processor cannot be checkpointed")
	}
	r.snap = snap
	r.id = newPipelineID()
	ck, err := store.Load()
	if err != nil || ck == nil {
		return nil, err
	}
	if err := r.compatible(store.Path(), ck); err != nil {
		return nil, err
	}
	if err := snap.Restore(ck.State); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCheckpointCorrupt, store.Path(), err)
	}
	if ck.ID != "" {
		r.id = ck.ID
	}
	r.restoreOutputs(ck)
	r.batches, r.last = ck.Batches, ck.Time
	r.pos = ck.Sources
	r.log.Info(fmt.Sprintf("resuming from checkpoint %s: batch %d ms, %d batches done", store.Path(), ck.Time, ck.Batches))
	return ck.Sources, nil
}

// compatible refuses a checkpoint written by another pipeline, or by this
// one with a setting that changes results (an operator's window, key or
// function, the batch interval), naming the old and the new value. A
// plugin whose file changed but whose functions are the same is an upgrade
// of operator code: the state is kept, and the change logged.
func (r *runner) compatible(path string, ck *Checkpoint) error {
	if err := resumable(path, ck, r.snap, r.cfg.Interval); err != nil {
		return err
	}
	if ck.Interval == 0 {
		r.log.Info(fmt.Sprintf("checkpoint %s comes from an older wstream, which did not record the batch interval and every stage setting; they are taken as unchanged", path))
	}
	for _, p := range slices.Sorted(maps.Keys(r.cfg.Plugins)) {
		if old, ok := ck.Plugins[p]; ok && old != r.cfg.Plugins[p] {
			r.log.Info(fmt.Sprintf("plugin %s changed since the checkpoint; its functions are the same, so the state is kept (an upgrade of operator code)", p))
		}
	}
	return nil
}

// Resumable reports whether the checkpoint in store, if there is one, can
// be resumed by a processor s with batch interval iv, without changing
// anything: what a dry run checks.
func Resumable(store *CheckpointStore, s Snapshotter, iv time.Duration) error {
	ck, err := store.Load()
	if err != nil || ck == nil {
		return err
	}
	return resumable(store.Path(), ck, s, iv)
}

// resumable refuses a checkpoint that another pipeline, or this one with
// a setting that changes results, wrote.
func resumable(path string, ck *Checkpoint, s Snapshotter, iv time.Duration) error {
	shape := s.Shape()
	switch {
	case ck.Shape == shape:
	case ck.Interval == 0 && legacyShape(s) == ck.Shape:
		// Written by a wstream that did not record every setting.
	default:
		return fmt.Errorf("%w: %s was written by a pipeline whose operators differ: %s; run with the same pipeline, or start fresh with a new checkpoint directory (state and source positions then start over)",
			ErrCheckpointMismatch, path, shapeDiff(ck.Shape, shape))
	}
	if ck.Interval != 0 && ck.Interval != iv.Milliseconds() {
		was := time.Duration(ck.Interval) * time.Millisecond
		return fmt.Errorf("%w: %s was written with batch: %v and this run has batch: %v, which would cut batches and windows at other times; run with batch: %v, or start fresh with a new checkpoint directory (state and source positions then start over)",
			ErrCheckpointMismatch, path, was, iv, was)
	}
	return nil
}

// LegacyShaper is a Snapshotter that can also describe itself as wstream
// versions before the full fingerprint did, so their checkpoints resume.
type LegacyShaper interface {
	LegacyShape() string
}

func legacyShape(s Snapshotter) string {
	if l, ok := s.(LegacyShaper); ok {
		return l.LegacyShape()
	}
	return s.Shape()
}

// shapeDiff names the first operator that differs between two shapes,
// and the fields that differ when it is the same op.
func shapeDiff(old, cur string) string {
	a, b := strings.Split(old, ";"), strings.Split(cur, ";")
	stage := 0
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(b) && strings.Contains(b[i], "<") && !strings.Contains(b[i], "(") {
			stage = 0 // a stream starts
		} else {
			stage++
		}
		switch {
		case i >= len(a):
			return fmt.Sprintf("the pipeline adds %s", b[i])
		case i >= len(b):
			return fmt.Sprintf("the pipeline drops %s", a[i])
		case a[i] == b[i]:
			continue
		}
		opA, fieldsA, okA := shapeFields(a[i])
		opB, fieldsB, okB := shapeFields(b[i])
		if !okA || !okB || opA != opB {
			return fmt.Sprintf("the checkpoint has %s where the pipeline has %s", a[i], b[i])
		}
		var diffs []string
		for _, k := range slices.Sorted(maps.Keys(mergeKeys(fieldsA, fieldsB))) {
			if fieldsA[k] != fieldsB[k] {
				diffs = append(diffs, fmt.Sprintf("%s: %s in the checkpoint, %s in the pipeline", k, orNone(fieldsA[k]), orNone(fieldsB[k])))
			}
		}
		return fmt.Sprintf("stage %d (%s) %s", stage, opB, strings.Join(diffs, "; "))
	}
	return "they differ"
}

// shapeFields splits one stage of a shape, op(k=v, k=v), into its op and
// fields; values may be Go-quoted.
func shapeFields(s string) (op string, fields map[string]string, ok bool) {
	op, rest, ok := strings.Cut(s, "(")
	if !ok || !strings.HasSuffix(rest, ")") {
		return "", nil, false
	}
	rest = strings.TrimSuffix(rest, ")")
	fields = map[string]string{}
	for rest != "" {
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			return "", nil, false
		}
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				return "", nil, false
			}
			rest = strings.TrimPrefix(v[len(q):], ", ")
			v, _ = strconv.Unquote(q)
		} else {
			v, rest, _ = strings.Cut(v, ", ")
		}
		fields[k] = v
	}
	return op, fields, true
}

func mergeKeys(a, b map[string]string) map[string]string {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// commit writes the checkpoint for the batches done so far.
func (r *runner) commit() error {
	ck := &Checkpoint{Shape: r.snap.Shape(), Time: r.last, Batches: r.batches, Sources: map[string][]byte{}, Sink: -1, Sides: map[string]int64{},
		Interval: r.iv, Plugins: r.cfg.Plugins, ID: r.id}
	for _, n := range r.names {
		ck.Sources[n] = r.pos[n]
	}
	r.recordOutputs(ck)
	r.snapBuf = r.snap.Snapshot(r.snapBuf[:0])
	ck.State = r.snapBuf
	start := r.clk.Now()
	if err := r.cfg.Checkpoint.Commit(ck); err != nil {
		return fmt.Errorf("batch %d ms: %w", r.last, err)
	}
	r.noteCheckpoint(r.clk.Now().Sub(start))
	r.uncommitted = 0
	if err := r.deliver(); err != nil {
		return err
	}
	return r.ack(r.pos)
}

// ack tells Acker sources that their input up to pos is safe.
func (r *runner) ack(pos map[string][]byte) error {
	for n, p := range pos {
		if a, ok := r.cfg.Sources[n].(Acker); ok && p != nil {
			if err := a.Ack(p); err != nil {
				return fmt.Errorf("batch %d ms: %w", r.last, r.srcErr(n, err))
			}
		}
	}
	return nil
}

func (c *RunConfig) check() error {
	switch {
	case len(c.Sources) == 0:
		return errors.New("run: no sources")
	case c.Processor == nil:
		return errors.New("run: no processor")
	case c.Interval < time.Millisecond:
		return fmt.Errorf("batch interval %v is too short: the smallest is 1ms", c.Interval)
	case c.Interval%time.Millisecond != 0:
		return fmt.Errorf("batch interval %v is not a whole number of milliseconds", c.Interval)
	case c.Buffer < 0:
		return fmt.Errorf("run: buffer %d must not be negative", c.Buffer)
	case c.BufferBytes < 0:
		return fmt.Errorf("run: buffer bytes %d must not be negative", c.BufferBytes)
	}
	for n, s := range c.Sources {
		if s == nil {
			return fmt.Errorf("run: source %q is nil", n)
		}
	}
	for n, v := range c.MaxRate {
		if _, ok := c.Sources[n]; !ok || !(v > 0) {
			return fmt.Errorf("run: max rate %v for source %q: want a positive rate for a source of the run", v, n)
		}
	}
	return c.checkOutputs()
}

type runner struct {
	cfg   RunConfig
	outs  []*output // every sink: main, outputs, side sinks
	id    string    // the pipeline's id in its checkpoint, for StagingSinks
	names []string  // source names, sorted
	iv    int64     // interval in ms
	pctx  context.Context
	log   *slog.Logger
	clk   WallClock

	// checkpointing
	snap        Snapshotter
	pos         map[string][]byte // each source's position after its last batched unit
	batches     int64             // batches done, including those of earlier runs
	last        int64             // time of the last batch done
	uncommitted int
	snapBuf     []byte

	stats   BatchStats // reused for each batch, for the Observer
	ckStats CheckpointStats
}

// runBatch processes one batch, writes its output and, when due, commits
// a checkpoint. pos holds the position after the last unit of each source
// that contributed a unit.
//
// rejects holds, by source, the input the sources set aside under their
// onError policy: dead letters are written with this batch, skips logged.
func (r *runner) runBatch(t int64, inputs map[string][]abi.Raw, pos map[string][]byte, rejects map[string][]Reject) error {
	out, emit, err := r.cfg.Processor.Process(r.pctx, t, inputs)
	if err != nil {
		return fmt.Errorf("batch %d ms: %w", t, err)
	}
	if len(rejects) > 0 {
		setAside(r.log, t, rejects, &out)
	}
	if err := r.write(t, out, emit); err != nil {
		return err
	}
	// A trigger that moved the watermark is followed at once by one with no
	// data, which emits and evicts the windows it closed (at the same time:
	// it consumes no input and so no batch interval).
	if ndp, ok := r.cfg.Processor.(NoDataProcessor); ok && r.cfg.NoDataBatches && ndp.NoDataPending() {
		out, emit, err := ndp.ProcessNoData(r.pctx, t)
		if err != nil {
			return fmt.Errorf("batch %d ms (no data): %w", t, err)
		}
		if err := r.write(t, out, emit); err != nil {
			return err
		}
	}
	if bc, ok := r.cfg.Sink.(BatchCommitter); ok {
		if err := bc.CommitBatch(pos); err != nil {
			return fmt.Errorf("batch %d ms: %w", t, r.sinkErr(err))
		}
	}
	r.batches++
	r.last = t
	if r.cfg.Checkpoint == nil {
		if err := r.deliver(); err != nil {
			return err
		}
		return r.ack(pos)
	}
	if r.pos == nil {
		r.pos = map[string][]byte{}
	}
	for n, p := range pos {
		r.pos[n] = p
	}
	r.uncommitted++
	if every := max(r.cfg.CheckpointEvery, 1); r.uncommitted >= every {
		return r.commit()
	}
	return nil
}

// sinkErr names the main sink unless the error already does.
func (r *runner) sinkErr(err error) error {
	if uri := r.cfg.Sink.URI(); !strings.Contains(err.Error(), uri) {
		return fmt.Errorf("sink %s: %w", uri, err)
	}
	return err
}

// srcErr names the source, with its URI unless the error already has it.
func (r *runner) srcErr(name string, err error) error {
	if uri := r.cfg.Sources[name].URI(); !strings.Contains(err.Error(), uri) {
		return fmt.Errorf("source %q (%s): %w", name, uri, err)
	}
	return fmt.Errorf("source %q: %w", name, err)
}

// manual runs the manual clock: batch k takes the next unit of each source
// in turn, at time k × interval.
func (r *runner) manual(ctx context.Context) error {
	drained := make([]bool, len(r.names))
	left := len(r.names)
	for k := r.batches + 1; left > 0; k++ {
		t := k * r.iv
		inputs := make(map[string][]abi.Raw, len(r.names))
		pos := map[string][]byte{}
		rejects := map[string][]Reject{}
		got, stop := false, false
		for i, n := range r.names {
			inputs[n] = nil
			if drained[i] || stop {
				continue
			}
			u, err := r.cfg.Sources[n].Next(ctx)
			switch {
			case err == nil:
				inputs[n], got = u.Records, true
				pos[n] = u.Pos
				if len(u.Rejects) > 0 {
					rejects[n] = u.Rejects
				}
			case err == io.EOF:
				drained[i] = true
				left--
			case ctx.Err() != nil:
				stop = true
			default:
				return fmt.Errorf("batch %d ms: %w", t, r.srcErr(n, err))
			}
		}
		if got {
			if err := r.batch(t, inputs, pos, rejects); err != nil {
				return err
			}
		}
		if stop || ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

// item is one result of a source's Next, in the order it happened.
type item struct {
	u   Unit
	err error
}

// receiver reads one source into a bounded channel. On io.EOF it closes
// the channel; on another error it sends it and stops. When cancelled it
// keeps the unit it could not send in leftover, so no received unit is lost.
type receiver struct {
	name     string
	src      Source
	ch       chan item
	leftover *item
	lim      *limiter // nil: read as fast as the buffer allows
	budget   *byteBudget
}

func (rc *receiver) run(ctx context.Context, drained func()) {
	for {
		u, err := rc.src.Next(ctx)
		if ctx.Err() != nil {
			if err == nil {
				rc.leftover = &item{u: u}
			}
			return
		}
		if err == io.EOF {
			close(rc.ch)
			drained()
			return
		}
		if err == nil && (rc.lim.wait(ctx, len(u.Records)) != nil || rc.budget.acquire(ctx, unitBytes(u)) != nil) {
			rc.leftover = &item{u: u}
			return
		}
		it := item{u, err}
		select {
		case rc.ch <- it:
		case <-ctx.Done():
			if err == nil {
				rc.leftover = &it
			}
			return
		}
		if err != nil {
			return
		}
	}
}

// take gathers one source's records for a batch from pull: every unit that
// is not whole, and at most one whole unit, which ends the take. rejects
// collects the input the units set aside.
func take(pull func() (item, bool), rejects *[]Reject) ([]abi.Raw, []byte, error) {
	var recs []abi.Raw
	var pos []byte
	for {
		it, ok := pull()
		if !ok {
			return recs, pos, nil
		}
		if it.err != nil {
			return recs, pos, it.err
		}
		pos = it.u.Pos
		*rejects = append(*rejects, it.u.Rejects...)
		if recs == nil {
			recs = it.u.Records[:len(it.u.Records):len(it.u.Records)]
		} else {
			recs = append(recs, it.u.Records...)
		}
		if it.u.Whole {
			return recs, pos, nil
		}
	}
}

// system runs the system clock.
func (r *runner) system(ctx context.Context) error {
	size := r.cfg.Buffer
	if size == 0 {
		size = DefaultBuffer
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	allDrained := make(chan struct{})
	var left atomic.Int32
	left.Store(int32(len(r.names)))
	recv := make([]*receiver, len(r.names))
	pace := newPacer(r.cfg, r.log)
	if r.cfg.Trigger != "" && r.cfg.Trigger != pipeline.TriggerProcessingTime {
		pace.noBackpressure() // batches do not follow the interval
	}
	for i, n := range r.names {
		rc := &receiver{name: n, src: r.cfg.Sources[n], ch: make(chan item, size), lim: pace.limiter(n), budget: newByteBudget(r.cfg.BufferBytes)}
		recv[i] = rc
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc.run(rctx, func() {
				if left.Add(-1) == 0 {
					close(allDrained)
				}
			})
		}()
	}

	next := (r.clk.Now().UnixMilli()/r.iv + 1) * r.iv
	if next <= r.last { // resumed from a checkpoint with a later time: keep times increasing
		next = r.last + r.iv
	}
	if r.cfg.Trigger == pipeline.TriggerOnce {
		return r.once(ctx, next, recv, allDrained)
	}
	drained := false
	lag := newLateness(r.log, r.cfg.Interval)
	for {
		if !drained && r.cfg.Trigger == pipeline.TriggerAvailableNow {
			// No clock: a batch as soon as data is there, until drained.
			if buffered(recv) == 0 {
				select {
				case <-allDrained:
				case <-ctx.Done():
				case <-r.clk.After(time.Millisecond):
				}
			}
			select {
			case <-allDrained:
				drained = true
			default:
			}
		} else if r.cfg.Trigger != pipeline.TriggerAvailableNow {
			// Every batch runs at its time, also after the sources are
			// drained (a batches: line k is batch k, at its time, as in
			// queueStream); a drain with nothing left ends the wait.
			for !drained || buffered(recv) > 0 {
				d := time.UnixMilli(next).Sub(r.clk.Now())
				if d <= 0 {
					break
				}
				lag.caughtUp(r.clk.Now())
				wake := allDrained
				if drained {
					wake = nil
				}
				select {
				case <-r.clk.After(d):
				case <-ctx.Done():
				case <-wake:
					drained = true
					continue
				}
				break
			}
			select {
			case <-allDrained:
				drained = true
			default:
			}
		}
		if ctx.Err() != nil {
			cancel()
			wg.Wait()
			return r.final(next, recv)
		}
		if drained && buffered(recv) == 0 {
			return nil
		}
		inputs := make(map[string][]abi.Raw, len(recv))
		pos := map[string][]byte{}
		rejects := map[string][]Reject{}
		for _, rc := range recv {
			n := len(rc.ch) // only what is here now: a fast source cannot hold the batch open
			var rej []Reject
			recs, p, err := take(func() (item, bool) {
				if n == 0 {
					return item{}, false
				}
				n--
				it, ok := <-rc.ch
				rc.budget.release(unitBytes(it.u))
				return it, ok
			}, &rej)
			if err != nil {
				return fmt.Errorf("batch %d ms: %w", next, r.srcErr(rc.name, err))
			}
			inputs[rc.name] = recs
			if p != nil {
				pos[rc.name] = p
			}
			if len(rej) > 0 {
				rejects[rc.name] = rej
			}
		}
		start := r.clk.Now()
		if err := r.batch(next, inputs, pos, rejects); err != nil {
			return err
		}
		pace.observe(next, inputs, start, r.clk.Now())
		t := next
		next += r.iv
		if !drained {
			lag.batch(t, start, r.clk.Now(), next)
		}
	}
}

// once is Trigger.Once under the system clock: one batch with everything
// available — every unit until the sources are drained, or until an
// interval passes with nothing new from a source that does not end — then
// stop.
func (r *runner) once(ctx context.Context, t int64, recv []*receiver, allDrained <-chan struct{}) error {
	inputs := make(map[string][]abi.Raw, len(recv))
	pos := map[string][]byte{}
	rejects := map[string][]Reject{}
	// One select over every receiver, so that each unit is taken as it
	// arrives: a source held back by its full buffer reads on at once,
	// instead of after the interval's timer.
	cases := make([]reflect.SelectCase, len(recv), len(recv)+3)
	for i, rc := range recv {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(rc.ch)}
	}
	drainedAt, doneAt, timerAt := len(recv), len(recv)+1, len(recv)+2
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(allDrained)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(r.clk.After(time.Duration(r.iv) * time.Millisecond))})
	got := false
	for {
		i, v, ok := reflect.Select(cases)
		switch {
		case i < drainedAt:
			if !ok { // drained: a zero Chan is never chosen again
				cases[i].Chan = reflect.Value{}
				continue
			}
			rc, it := recv[i], v.Interface().(item)
			rc.budget.release(unitBytes(it.u))
			if it.err != nil {
				return fmt.Errorf("batch %d ms: %w", t, r.srcErr(rc.name, it.err))
			}
			inputs[rc.name] = append(inputs[rc.name], it.u.Records...)
			if it.u.Pos != nil {
				pos[rc.name] = it.u.Pos
			}
			if len(it.u.Rejects) > 0 {
				rejects[rc.name] = append(rejects[rc.name], it.u.Rejects...)
			}
			got = true
			continue
		case i == drainedAt:
			if buffered(recv) > 0 {
				continue
			}
		case i == doneAt:
		case i == timerAt:
			// Data came within the last interval: wait for another.
			if got || buffered(recv) > 0 {
				got = false
				cases[timerAt].Chan = reflect.ValueOf(r.clk.After(time.Duration(r.iv) * time.Millisecond))
				continue
			}
		}
		return r.batch(t, inputs, pos, rejects)
	}
}

func buffered(recv []*receiver) int {
	n := 0
	for _, rc := range recv {
		n += len(rc.ch)
	}
	return n
}

// final processes what the receivers had received when the run was
// cancelled: one batch with all of it, plus one more per extra whole unit
// of a source, back to back from time t. The receivers have stopped.
func (r *runner) final(t int64, recv []*receiver) error {
	queues := make([][]item, len(recv))
	pending := 0
	for i, rc := range recv {
	drain:
		for {
			select {
			case it, ok := <-rc.ch:
				if !ok {
					break drain
				}
				queues[i] = append(queues[i], it)
			default:
				break drain
			}
		}
		if rc.leftover != nil {
			queues[i] = append(queues[i], *rc.leftover)
		}
		pending += len(queues[i])
	}
	for ; pending > 0; t += r.iv {
		inputs := make(map[string][]abi.Raw, len(recv))
		pos := map[string][]byte{}
		rejects := map[string][]Reject{}
		for i, rc := range recv {
			var rej []Reject
			recs, p, err := take(func() (item, bool) {
				if len(queues[i]) == 0 {
					return item{}, false
				}
				it := queues[i][0]
				queues[i] = queues[i][1:]
				pending--
				return it, true
			}, &rej)
			if err != nil {
				return fmt.Errorf("batch %d ms: %w", t, r.srcErr(rc.name, err))
			}
			inputs[rc.name] = recs
			if p != nil {
				pos[rc.name] = p
			}
			if len(rej) > 0 {
				rejects[rc.name] = rej
			}
		}
		if err := r.batch(t, inputs, pos, rejects); err != nil {
			return err
		}
	}
	return nil
}
