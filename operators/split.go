package operators

import (
	"fmt"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
)

// keyedOps are the stateful operators whose state is per key, so that it
// can be split by key across processes; the value is how a record entering
// the operator gives its key.
var keyedOps = map[string]func(abi.Raw) (abi.Raw, error){
	"updateStateByKey":      pairKey,
	"reduceByKeyAndWindow":  pairKey,
	"groupByKeyAndWindow":   pairKey,
	"countByValueAndWindow": func(r abi.Raw) (abi.Raw, error) { return r, nil },
}

// globalOps keep state over all records (a window of the whole stream, a
// count, a watermark): they cannot be split by key.
var globalOps = map[string]bool{
	"window": true, "countByWindow": true, "withWatermark": true,
	"aggregateByWindow": true, "aggregateByKey": true,
}

func pairKey(r abi.Raw) (abi.Raw, error) {
	k, _, err := abi.SplitPair(r)
	if err != nil {
		return nil, fmt.Errorf("a keyed stage wants [key, value] pairs, got %s", abi.Describe(r))
	}
	return k, nil
}

// KeyedSplit finds where a chain of stages can be split so that its keyed
// state is partitioned by key (host.RunScaleOut): at the first stateful
// stage, when that stage keeps state per key and no stage after it keeps
// state. ok is false otherwise, and for a chain with no state; why says
// what prevents the split, when something keyed would have wanted it.
func KeyedSplit(stages []host.Stage) (at int, keyOf func(abi.Raw) (abi.Raw, error), ok bool, why string) {
	at = -1
	for i, s := range stages {
		nested := stateIn(s.Stages)
		switch {
		case at < 0 && keyedOps[s.Op] != nil:
			at, keyOf = i, keyedOps[s.Op]
		case at < 0 && (globalOps[s.Op] || nested != ""):
			return 0, nil, false, ""
		case at >= 0 && (keyedOps[s.Op] != nil || globalOps[s.Op] || nested != ""):
			op := s.Op
			if nested != "" {
				op = nested + " inside " + s.Op
			}
			return 0, nil, false, fmt.Sprintf("stage %d (%s) keeps state after stage %d (%s), and state is split by key at one stage only", i+1, op, at+1, stages[at].Op)
		}
	}
	return at, keyOf, at >= 0, ""
}

// stateIn names the first stateful op in nested stages, or "".
func stateIn(stages []host.Stage) string {
	for _, s := range stages {
		if keyedOps[s.Op] != nil || globalOps[s.Op] {
			return s.Op
		}
		if n := stateIn(s.Stages); n != "" {
			return n
		}
	}
	return ""
}
