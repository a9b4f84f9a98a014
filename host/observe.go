package host

import (
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// Observer watches a run, for metrics, a live UI and run summaries. Run
// calls it on the scheduler's goroutine, between batches, so that it may
// read the Processor (its statistics, its state sizes) without locks; it
// must return quickly, and it costs the run nothing per record.
type Observer interface {
	// Started is called once the sources and sinks are open, before the
	// first batch.
	Started(RunInfo)
	// Batch is called after each batch has been written and, when due,
	// checkpointed. The stats and their slices are reused by the next
	// batch: copy what is kept.
	Batch(*BatchStats)
}

// RunInfo describes a run to its Observer.
type RunInfo struct {
	// Sources and Sink are the run's, open; an observer may ask a source
	// for what it knows (a ProgressSource's progress, a LagSource's lag)
	// from any goroutine.
	Sources  map[string]Source
	Sink     Sink
	Interval time.Duration
	Clock    pipeline.Clock
	// Resumed is the number of batches done before this run, from its
	// checkpoint.
	Resumed int64
}

// BatchStats is what one batch did and how long it took.
type BatchStats struct {
	// Time is the batch time in ms since the epoch.
	Time int64
	// Start is when the batch began; Processing how long it took to run
	// the graph, write the sinks and commit.
	Start      time.Time
	Processing time.Duration
	// SchedulingDelay is how long after its time the batch began (Spark's
	// scheduling delay): zero under the manual clock and the once and
	// available-now triggers, whose batch times do not follow the clock.
	SchedulingDelay time.Duration
	// Sources holds the records each source gave the batch, by name in
	// sorted order.
	Sources []SourceRecords
	// Out is the records written to the sink (no-data triggers included);
	// Emitted is false when the graph produced no output at this time (a
	// window between slides).
	Out     int
	Emitted bool
	// Late and DeadLetters count the side outputs of the batch: rows
	// dropped behind the watermark and records set aside by onError.
	Late, DeadLetters int
	// Watermark is the event-time watermark in effect, nil without event
	// time.
	Watermark *int64
	// Checkpoint is set when a checkpoint was committed after this batch.
	Checkpoint *CheckpointStats
}

// SourceRecords is one source's record count in a batch.
type SourceRecords struct {
	Name    string
	Records int
}

// CheckpointStats is one checkpoint commit.
type CheckpointStats struct {
	Duration time.Duration
	Bytes    int64
}

// ProgressSource is a bounded source that can say how far it has read,
// for a progress line: done and total in bytes, total 0 when unknown.
// It is called from another goroutine than Next.
type ProgressSource interface {
	Source
	ReadProgress() (done, total int64)
}

// LagSource is a source reading partitioned logs (Kafka) that can say how
// far behind the end of each partition it owns is, and how often the
// partitions it owns were reassigned. It is called from another goroutine
// than Next.
type LagSource interface {
	Source
	// Lag maps each owned partition to the records between the position
	// read and the partition's end, as of the last fetch.
	Lag() map[int32]int64
	// Rebalances counts the assignments and revocations seen since Open.
	Rebalances() int64
}

// batch runs one batch through runBatch, with the hooks of RunConfig
// around it: BeforeBatch first, then the Observer.
func (r *runner) batch(t int64, inputs map[string][]abi.Raw, pos map[string][]byte, rejects map[string][]Reject) error {
	if r.cfg.BeforeBatch != nil {
		r.cfg.BeforeBatch(t)
	}
	obs := r.cfg.Observer
	if obs == nil {
		return r.runBatch(t, inputs, pos, rejects)
	}
	st := &r.stats
	start := r.clk.Now()
	st.Time, st.Start, st.Out, st.Emitted, st.Late, st.DeadLetters, st.Watermark, st.Checkpoint = t, start, 0, false, 0, 0, nil, nil
	st.SchedulingDelay = 0
	if r.cfg.Clock != pipeline.ClockManual && (r.cfg.Trigger == "" || r.cfg.Trigger == pipeline.TriggerProcessingTime) {
		st.SchedulingDelay = max(start.Sub(time.UnixMilli(t)), 0)
	}
	if len(st.Sources) != len(r.names) {
		st.Sources = make([]SourceRecords, len(r.names))
	}
	for i, n := range r.names {
		st.Sources[i] = SourceRecords{Name: n, Records: len(inputs[n])}
	}
	if err := r.runBatch(t, inputs, pos, rejects); err != nil {
		return err
	}
	st.Processing = r.clk.Now().Sub(start)
	obs.Batch(st)
	return nil
}

// noteOut adds a batch's output to the stats.
func (r *runner) noteOut(out Batch, emit bool) {
	if r.cfg.Observer == nil {
		return
	}
	st := &r.stats
	st.Late += len(out.Side["late"])
	st.DeadLetters += len(out.Side["deadLetter"])
	if out.Watermark != nil {
		st.Watermark = out.Watermark
	}
	if emit {
		st.Out += len(out.Records)
		st.Emitted = true
	}
}

// noteCheckpoint adds a commit to the stats.
func (r *runner) noteCheckpoint(d time.Duration) {
	if r.cfg.Observer != nil {
		r.ckStats = CheckpointStats{Duration: d, Bytes: int64(len(r.cfg.Checkpoint.buf))}
		r.stats.Checkpoint = &r.ckStats
	}
}

// started tells the Observer the run has begun.
func (r *runner) started() {
	if r.cfg.Observer != nil {
		r.cfg.Observer.Started(RunInfo{Sources: r.cfg.Sources, Sink: r.cfg.Sink, Interval: r.cfg.Interval, Clock: r.cfg.Clock, Resumed: r.batches})
	}
}
