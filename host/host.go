// Package host owns everything between the outside world and the operator
// graph: sources, sinks, clocks, the micro-batch scheduler and the pipeline
// spec. It knows records only as encoded msgpack (abi.Raw) and never imports
// a WebAssembly runtime or the operators: the graph reaches it through the
// Processor interface.
package host

import (
	"context"

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
