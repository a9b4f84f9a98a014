package host

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// OnError is what a source does with input it cannot turn into a record (a
// line that is not JSON, a CSV row with the wrong number of fields, a line
// over the cap): the same three policies a stage's onError: names.
type OnError string

const (
	// OnErrorFail ends the run with an error naming the input (the default).
	OnErrorFail OnError = "fail"
	// OnErrorSkip drops the input, with one log line per batch.
	OnErrorSkip OnError = "skip"
	// OnErrorDeadLetter writes the input to the pipeline's deadLetter:
	// sink, in the batch that consumed it, so that it commits with the
	// source's position.
	OnErrorDeadLetter OnError = "deadletter"
)

// Source parameters that every source of records takes, so that a
// connector declares them once by adding them to its Params and reads
// them with Query.OnError and Query.Size.
var (
	OnErrorParam = Param{Name: "onError", Help: "fail (default), skip or deadletter: what to do with input that does not make a record"}
	MaxLineParam = Param{Name: "maxLine", Help: "the longest line accepted, e.g. 4MiB (default 1MiB); a longer line follows onError"}
)

// OnError reads the onError parameter (OnErrorFail when absent). A
// deadletter policy needs the pipeline's deadLetter: sink (env.DeadLetter).
func (q Query) OnError(env Env) (OnError, error) {
	if !q.Has(OnErrorParam.Name) {
		return OnErrorFail, nil
	}
	v, err := q.OneOf(OnErrorParam.Name, string(OnErrorFail), string(OnErrorSkip), string(OnErrorDeadLetter))
	if err != nil {
		return "", err
	}
	if OnError(v) == OnErrorDeadLetter && !env.DeadLetter {
		return "", fmt.Errorf("%s: onError=deadletter needs a dead-letter sink: add deadLetter: jsonl:PATH to the pipeline", q.uri)
	}
	return OnError(v), nil
}

// Size reads a size parameter ("4MiB", "65536") of at least one byte; def
// when absent.
func (q Query) Size(name string, def int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	z, err := pipeline.ParseSize(q.vals[name])
	if err != nil || z < 1 || int64(z) > 1<<40 {
		return 0, q.Bad(name, "a size such as 4MiB, 512KiB or a number of bytes")
	}
	return int(z), nil
}

// Reject is input a source set aside under onError: skip or deadletter.
// It travels in the Unit that consumed the input, so the scheduler writes
// it (or logs it) in the same batch as the source's position moves past it.
type Reject struct {
	// Where names the input in the source: "line 12", "file a.csv line 3".
	Where string
	// Reason says why it makes no record.
	Reason string
	// Input is the input's bytes, or its first bytes when Size is larger.
	Input []byte
	// Size is the input's length in bytes.
	Size int64
	// DeadLetter is set under onError: deadletter; otherwise the input was
	// skipped, and is only logged.
	DeadLetter bool
}

// Reject applies the policy to one bad input: under fail it returns err,
// which ends the run; otherwise it adds the input to u and returns nil.
func (p OnError) Reject(u *Unit, r Reject, err error) error {
	switch p {
	case OnErrorSkip:
	case OnErrorDeadLetter:
		r.DeadLetter = true
	default:
		return err
	}
	u.Rejects = append(u.Rejects, r)
	return nil
}

// deadLetterEntry is a rejected input as the deadLetter: sink gets it:
// {time, source, error, record}, and length when record holds only the
// input's first bytes.
func deadLetterEntry(t int64, source string, r Reject) abi.Raw {
	n := 4
	cut := int64(len(r.Input)) < r.Size
	if cut {
		n++
	}
	e := abi.AppendMapHeader(nil, n)
	e = abi.AppendInt(abi.AppendString(e, "time"), t)
	e = abi.AppendString(abi.AppendString(e, "source"), source)
	e = abi.AppendString(abi.AppendString(e, "error"), r.Where+": "+r.Reason)
	e = abi.AppendStringBytes(abi.AppendString(e, "record"), r.Input)
	if cut {
		e = abi.AppendInt(abi.AppendString(e, "length"), r.Size)
	}
	return e
}

// setAside turns a batch's rejected inputs into dead-letter entries, and
// logs the skipped ones, one line per source and batch.
func setAside(log *slog.Logger, t int64, rejects map[string][]Reject, out *Batch) {
	for _, name := range slices.Sorted(maps.Keys(rejects)) {
		var skipped []Reject
		for _, r := range rejects[name] {
			if !r.DeadLetter {
				skipped = append(skipped, r)
				continue
			}
			if out.Side == nil {
				out.Side = map[string][]abi.Raw{}
			}
			out.Side["deadLetter"] = append(out.Side["deadLetter"], deadLetterEntry(t, name, r))
		}
		if len(skipped) > 0 {
			more := ""
			if len(skipped) > 1 {
				more = fmt.Sprintf(" and %d more", len(skipped)-1)
			}
			log.Warn(fmt.Sprintf("source %q: batch %d ms: skipped %s: %s%s (onError=skip)", name, t, skipped[0].Where, skipped[0].Reason, more))
		}
	}
}
