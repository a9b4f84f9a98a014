// Package host owns everything between the outside world and the operator
// graph: sources, sinks, clocks, the micro-batch scheduler and the pipeline
// spec. It knows records only as encoded msgpack (abi.Raw) and never imports
// a WebAssembly runtime or the operators: the graph reaches it through the
// Processor interface.
package host

import (
	"context"
	"fmt"
	"strconv"

	"github.com/wstream/wstream/abi"
)

// Unit is what one read from a source yields.
type Unit struct {
	// Records are the records read, encoded.
	Records []abi.Raw
	// Whole marks a unit that is a whole batch by itself (a batches: line,
	// Spark's queueStream): the scheduler puts exactly one such unit in each
	// batch, even an empty one. Line sources yield units that are not whole,
	// and a batch takes every one that arrived during its interval.
	Whole bool
	// Pos is the source position after this unit, for checkpoints; nil for
	// sources that cannot replay (socket, stdin).
	Pos []byte
	// Rejects is input the source set aside under its onError policy
	// instead of making records of it. A unit may hold only rejects, so
	// that the position still moves past them.
	Rejects []Reject
}

// Source produces records. Next is called from one goroutine at a time.
type Source interface {
	// URI is the source as the user wrote it, for messages.
	URI() string
	// Open connects or opens, resuming after pos when pos is not nil.
	Open(ctx context.Context, pos []byte) error
	// Next blocks until the next unit is available. A bounded source returns
	// io.EOF once drained. An error that is not io.EOF ends the run.
	Next(ctx context.Context) (Unit, error)
	Close() error
}

// Batch is one micro-batch's result as it reaches a sink.
type Batch struct {
	// Time is the batch time in ms since the epoch (Spark's batch time: the
	// end of the interval).
	Time int64
	// Records are the final stream's records for this batch.
	Records []abi.Raw
	// Watermark is the event-time watermark in effect during the batch, in
	// ms, for event-time pipelines; nil otherwise.
	Watermark *int64
	// NoData marks a trigger that ran with no new input (Structured
	// Streaming's no-data batch).
	NoData bool
	// Side holds side outputs by name, written by the scheduler to the
	// matching side sink when one is configured: "late", the rows an
	// event-time aggregate dropped because every window containing them had
	// closed; "deadLetter", {time, stage, error, record} for each record a
	// stage with onError: deadletter failed on.
	Side map[string][]abi.Raw
	// Streams holds, by name, the records of the named streams that have
	// sinks of their own (RunConfig.Outputs) and produced at this time.
	Streams map[string][]abi.Raw
}

// AppendJSON appends the batch as one JSON object, {"time": ms,
// "records": [...]}, with "watermark" and "noData": true when set: a
// jsonl: line, an HTTP sink's body. A record that has no JSON form is an
// error naming its index.
func (b Batch) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"time":`...)
	dst = strconv.AppendInt(dst, b.Time, 10)
	dst = append(dst, `,"records":[`...)
	for i, r := range b.Records {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = abi.AppendJSON(dst, r); err != nil {
			return dst, fmt.Errorf("batch %d ms, record %d: %w", b.Time, i, err)
		}
	}
	dst = append(dst, ']')
	if b.Watermark != nil {
		dst = append(dst, `,"watermark":`...)
		dst = strconv.AppendInt(dst, *b.Watermark, 10)
	}
	if b.NoData {
		dst = append(dst, `,"noData":true`...)
	}
	return append(dst, '}'), nil
}

// Checker is a source that can tell, without opening anything, whether
// opening it would fail (a file that is not there): what a dry run
// reports.
type Checker interface {
	Check() error
}

// Sink consumes results, one Write per produced batch, in time order.
// Opening a sink by URI only checks the URI: nothing is created,
// truncated or connected before Open, so that a run refused or failed at
// start (a damaged checkpoint, an unreachable source) changes no output.
type Sink interface {
	URI() string
	// Open makes the sink ready to write. Run calls it once, after it has
	// restored its checkpoint and opened its sources. resume is the output
	// length a checkpoint committed for a ProgressSink, which cuts its
	// output back to it, or -1 when there is none (the output starts over).
	Open(ctx context.Context, resume int64) error
	Write(b Batch) error
	// Close flushes and closes; it does nothing when Open was not called.
	Close() error
}

// NoDataProcessor is a Processor with event time: when a trigger moves the
// watermark, a trigger with no input can close windows, and the scheduler
// runs one right away (unless the trigger is once or noDataBatches is off).
type NoDataProcessor interface {
	Processor
	NoDataPending() bool
	ProcessNoData(ctx context.Context, t int64) (out Batch, emit bool, err error)
}

// Processor is the operator graph, seen from the scheduler.
type Processor interface {
	// Process runs one micro-batch at time t (ms). inputs holds each
	// source's records by source name. emit is false when the final stream
	// produces nothing at this time (a windowed stream between slides).
	Process(ctx context.Context, t int64, inputs map[string][]abi.Raw) (out Batch, emit bool, err error)
}

// StagingSink is a sink that cannot cut its output back (a database
// table), so it delivers nothing a checkpoint does not hold: Write only
// stages a batch, the checkpoint records what is staged, and Run calls
// Deliver once that checkpoint is durable. A crash between the two leaves
// the staged output in the checkpoint, and the restarted sink delivers it
// again unless it had already (it records what it delivered, keyed by the
// pipeline's id, its name and the batch time, in the same transaction as
// the output). So the output is exactly once whatever the sources are and
// however the batches are cut after a restart.
type StagingSink interface {
	Sink
	// Resume is called once before Open, in runs with a checkpoint: id
	// names the pipeline (it lives in the checkpoint, so a new checkpoint
	// directory is a new pipeline), name the sink within it, and staged is
	// what the checkpoint held staged for it (nil: nothing), which Open
	// delivers unless it already was. Without a checkpoint Resume is not
	// called, and Deliver writes without keeping a record.
	Resume(id, name string, staged []byte) error
	// Staged is the output written since the last Deliver, encoded for the
	// checkpoint; nil when there is none.
	Staged() []byte
	// Deliver writes what is staged. Run calls it after each checkpoint
	// commit (after each batch without checkpoints).
	Deliver(ctx context.Context) error
}

// ProgressSink is a sink that can say how far its output has got: the
// hook for exactly-once restart. A checkpoint records Progress after the
// sink accepted a batch; on restart Open cuts the output back to the
// committed length, so a batch that was written but not committed is not
// duplicated. jsonl: sinks implement it.
type ProgressSink interface {
	Sink
	// Progress is the number of bytes written so far.
	Progress() int64
}
