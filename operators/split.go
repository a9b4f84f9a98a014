package operators

import (
	"fmt"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// opState says which ops keep state from one batch to the next: the one
// place that knows it, for the builder (DStream and event-time state do not
// mix), for scale-out (where a pipeline can be split by key) and for
// connectors (a group source warns when state does not move with its
// partitions).
var opState = map[string]stateInfo{
	"updateStateByKey":              {keyOf: pairKey},
	"reduceByKeyAndWindow":          {keyOf: pairKey},
	"groupByKeyAndWindow":           {keyOf: pairKey},
	"countByValueAndWindow":         {keyOf: func(r abi.Raw) (abi.Raw, error) { return r, nil }},
	"window":                        {},
	"countByWindow":                 {},
	"withWatermark":                 {eventTime: true},
	"aggregateByWindow":             {eventTime: true},
	"aggregateByKey":                {eventTime: true},
	"aggregateBySession":            {eventTime: true},
	"dropDuplicates":                {eventTime: true},
	"dropDuplicatesWithinWatermark": {eventTime: true},
	"mapWithState":                  {keyOf: pairKey},
	// Joins keep state only in event time (with within:); without it they
	// are the DStream join of each batch's records.
	"join":           {keyOf: pairKey, eventTime: true, when: withinSet},
	"leftOuterJoin":  {keyOf: pairKey, eventTime: true, when: withinSet},
	"rightOuterJoin": {keyOf: pairKey, eventTime: true, when: withinSet},
	"fullOuterJoin":  {keyOf: pairKey, eventTime: true, when: withinSet},
	// Record-order state, in neither API: it mixes with both. None of it
	// splits by key: a top N must see every key of its window, and the
	// others read their key with key: (a path or a function), not from pairs.
	"topN":           {neutral: true},
	"countWindow":    {neutral: true},
	"landmarkWindow": {neutral: true},
	"withLatest":     {neutral: true},
}

// stateInfo is how an op keeps state.
type stateInfo struct {
	// keyOf gives the key of a record entering the op when its state is
	// per key, so that it can be split by key across processes; nil when
	// the state is over the whole stream (a window, a count, a watermark).
	keyOf func(abi.Raw) (abi.Raw, error)
	// eventTime marks Structured Streaming's state, which does not mix
	// with DStream state in one pipeline.
	eventTime bool
	// neutral marks state kept in arrival order, which belongs to neither
	// API and mixes with both.
	neutral bool
	// when, if set, says whether a stage of the op keeps state at all.
	when func(pipeline.Stage) bool
}

func withinSet(s pipeline.Stage) bool { return s.Within.Set }

// stateOf says how stage s keeps state; ok is false when it keeps none.
func stateOf(s pipeline.Stage) (stateInfo, bool) {
	info, ok := opState[s.Op]
	if ok && info.when != nil && !info.when(s) {
		return stateInfo{}, false
	}
	return info, ok
}

func pairKey(r abi.Raw) (abi.Raw, error) {
	k, _, err := abi.SplitPair(r)
	if err != nil {
		return nil, fmt.Errorf("a keyed stage wants [key, value] pairs, got %s", abi.Describe(r))
	}
	return k, nil
}

// Stateful reports whether any stage of the spec keeps state across
// batches.
func Stateful(spec *pipeline.Spec) bool {
	if stateIn(spec.Stages) != "" {
		return true
	}
	for _, s := range spec.Streams {
		if stateIn(s.Stages) != "" {
			return true
		}
	}
	return false
}

// KeyedSplit finds where a chain of stages can be split so that its keyed
// state is partitioned by key (scale-out on a consumer group): at the
// first stateful stage, when that stage keeps state per key and no stage
// after it keeps state. ok is false otherwise, and for a chain with no
// state; why says what prevents the split, when something keyed would
// have wanted it.
func KeyedSplit(stages []pipeline.Stage) (at int, keyOf func(abi.Raw) (abi.Raw, error), ok bool, why string) {
	at = -1
	for i, s := range stages {
		info, stateful := stateOf(s)
		nested := stateIn(s.Stages)
		switch {
		case at < 0 && info.keyOf != nil:
			at, keyOf = i, info.keyOf
		case at < 0 && (stateful || nested != ""):
			return 0, nil, false, ""
		case at >= 0 && (stateful || nested != ""):
			op := s.Op
			if nested != "" {
				op = nested + " inside " + s.Op
			}
			return 0, nil, false, fmt.Sprintf("stage %d (%s) keeps state after stage %d (%s), and state is split by key at one stage only", i+1, op, at+1, stages[at].Op)
		}
	}
	return at, keyOf, at >= 0, ""
}

// stateIn names the first stateful op in stages, nested ones included, or "".
func stateIn(stages []pipeline.Stage) string {
	for _, s := range stages {
		if _, ok := stateOf(s); ok {
			return s.Op
		}
		if n := stateIn(s.Stages); n != "" {
			return n
		}
	}
	return ""
}
