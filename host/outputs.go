package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Output is a sink of a run besides RunConfig.Sink: another sink of the
// final stream (a pipeline's sinks:), or the sink of a named stream.
type Output struct {
	// Name keys the sink's progress in checkpoints and a StagingSink's
	// record of what it delivered, so it must be unique in the run and
	// stay the same across restarts. RunConfig.Sink is named MainSink.
	Name string
	// Stream is the named stream the sink writes (Batch.Streams); "" is
	// the final stream.
	Stream string
	Sink   Sink
}

// MainSink is the name of RunConfig.Sink in checkpoints.
const MainSink = "sink"

type outputKind int

const (
	mainOutput   outputKind = iota // RunConfig.Sink
	streamOutput                   // one of RunConfig.Outputs
	sideOutput                     // one of RunConfig.SideSinks, named by its side output
)

// output is one sink of a run, with what the checkpoint holds for it.
type output struct {
	Output
	kind   outputKind
	at     int64  // the progress the checkpoint committed, -1 for none
	staged []byte // what the checkpoint held staged (StagingSink)
}

// outputs lists every sink of cfg: the main sink, the outputs in order,
// then the side sinks by name.
func (cfg *RunConfig) outputs() []*output {
	var outs []*output
	if cfg.Sink != nil {
		outs = append(outs, &output{Output: Output{Name: MainSink, Sink: cfg.Sink}, kind: mainOutput, at: -1})
	}
	for _, o := range cfg.Outputs {
		outs = append(outs, &output{Output: o, kind: streamOutput, at: -1})
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.SideSinks)) {
		outs = append(outs, &output{Output: Output{Name: name, Sink: cfg.SideSinks[name]}, kind: sideOutput, at: -1})
	}
	return outs
}

// checkOutputs checks that every sink has a name of its own and that only
// the main sink commits with the sources (a BatchCommitter).
func (cfg *RunConfig) checkOutputs() error {
	if cfg.Sink == nil && len(cfg.Outputs) == 0 {
		return errors.New("run: no sink")
	}
	seen := map[string]bool{MainSink: cfg.Sink != nil}
	for name, s := range cfg.SideSinks {
		if s == nil {
			return fmt.Errorf("run: %s sink is nil", name)
		}
		seen[name] = true
	}
	for _, o := range cfg.Outputs {
		switch {
		case o.Sink == nil:
			return fmt.Errorf("run: output %q has no sink", o.Name)
		case o.Name == "" || seen[o.Name]:
			return fmt.Errorf("run: output name %q is empty or taken; each sink needs a name of its own (a stream named like a side output, late or deadLetter, needs another name)", o.Name)
		}
		if _, ok := o.Sink.(BatchCommitter); ok {
			return fmt.Errorf("run: sink %s commits with the sources' positions, which only the main sink may do", o.Sink.URI())
		}
		seen[o.Name] = true
	}
	return nil
}

// closeSinks closes every sink given to Run, opened or not.
func closeSinks(cfg *RunConfig) {
	for _, o := range cfg.outputs() {
		o.Sink.Close()
	}
}

// errFor names the sink in err unless err already does.
func (o *output) errFor(err error) error {
	if o.kind == sideOutput {
		return fmt.Errorf("%s sink: %w", o.Name, err)
	}
	if uri := o.Sink.URI(); !strings.Contains(err.Error(), uri) {
		return fmt.Errorf("sink %s: %w", uri, err)
	}
	return err
}

// restoreOutputs takes each sink's progress and staged output from ck.
// Sinks are kept by name, and the name of a sink of the final stream is
// its place in the list; the checkpoint also has each one's URI, so that
// a sink that moved in the list (the list reordered, one inserted before
// it) takes its own progress, not its new place's.
func (r *runner) restoreOutputs(ck *Checkpoint) {
	byURI := map[string]string{}
	for name, uri := range ck.SinkURIs {
		byURI[uri] = name
	}
	for _, o := range r.outs {
		from := o.Name
		if o.kind != sideOutput {
			if was, ok := ck.SinkURIs[o.Name]; ok && was != o.Sink.URI() {
				if other, ok := byURI[o.Sink.URI()]; ok {
					from = other
				} else {
					r.log.Info(fmt.Sprintf("checkpoint: sink %s was %s and is now %s; it resumes where that one was", o.Name, was, o.Sink.URI()))
				}
			}
		}
		if _, ok := o.Sink.(ProgressSink); ok {
			switch {
			case o.kind == sideOutput:
				if n, ok := ck.Sides[o.Name]; ok {
					o.at = n
				}
			case from == MainSink:
				o.at = ck.Sink
			default:
				if n, ok := ck.Sinks[from]; ok {
					o.at = n
				}
			}
		}
		o.staged = ck.Staged[from]
	}
}

// openOutputs opens every sink, once every check that can refuse the run
// has passed. A StagingSink first learns the pipeline's id and what the
// checkpoint held staged for it.
func (r *runner) openOutputs(ctx context.Context) error {
	for _, o := range r.outs {
		if ss, ok := o.Sink.(StagingSink); ok && r.cfg.Checkpoint != nil {
			if err := ss.Resume(r.id, o.Name, o.staged); err != nil {
				return o.errFor(err)
			}
		}
		if err := o.Sink.Open(ctx, o.at); err != nil {
			return o.errFor(err)
		}
	}
	return nil
}

// closeOutputs closes every sink and returns the first error.
func (r *runner) closeOutputs() error {
	var first error
	for _, o := range r.outs {
		if err := o.Sink.Close(); err != nil && first == nil {
			first = o.errFor(err)
		}
	}
	return first
}

// recordOutputs puts every sink's progress and staged output in ck.
func (r *runner) recordOutputs(ck *Checkpoint) {
	ck.Sinks, ck.Staged, ck.SinkURIs = map[string]int64{}, map[string][]byte{}, map[string]string{}
	for _, o := range r.outs {
		if o.kind != sideOutput {
			ck.SinkURIs[o.Name] = o.Sink.URI()
		}
		if ps, ok := o.Sink.(ProgressSink); ok {
			switch o.kind {
			case mainOutput:
				ck.Sink = ps.Progress()
			case sideOutput:
				ck.Sides[o.Name] = ps.Progress()
			default:
				ck.Sinks[o.Name] = ps.Progress()
			}
		}
		if ss, ok := o.Sink.(StagingSink); ok {
			if b := ss.Staged(); b != nil {
				ck.Staged[o.Name] = b
			}
		}
	}
}

// deliver has every StagingSink deliver what it staged: the checkpoint
// that holds it is durable (or the run keeps none).
func (r *runner) deliver() error {
	for _, o := range r.outs {
		if ss, ok := o.Sink.(StagingSink); ok {
			if err := ss.Deliver(r.pctx); err != nil {
				return fmt.Errorf("batch %d ms: %w", r.last, o.errFor(err))
			}
		}
	}
	return nil
}

// write hands a batch's output to the sinks: the final stream's to the
// main sink and the outputs of the final stream when it emits, each named
// stream's to its sinks when it produced, and the side outputs to theirs.
func (r *runner) write(t int64, out Batch, emit bool) error {
	r.noteOut(out, emit)
	if out.Time == 0 {
		out.Time = t
	}
	for _, o := range r.outs {
		var b Batch
		switch {
		case o.kind == sideOutput:
			recs := out.Side[o.Name]
			if len(recs) == 0 {
				continue
			}
			b = Batch{Time: t, Records: recs}
		case o.Stream == "":
			if !emit {
				continue
			}
			b = out
		default:
			recs, ok := out.Streams[o.Stream]
			if !ok {
				continue
			}
			b = Batch{Time: out.Time, Records: recs, Watermark: out.Watermark, NoData: out.NoData}
		}
		if err := o.Sink.Write(b); err != nil {
			return fmt.Errorf("batch %d ms: %w", t, o.errFor(err))
		}
	}
	return nil
}

// newPipelineID names a pipeline for StagingSinks' records: random, kept in
// its checkpoint.
func newPipelineID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
