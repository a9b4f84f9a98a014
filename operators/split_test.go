package operators

import (
	"testing"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

func TestKeyedSplit(t *testing.T) {
	st := func(ops ...string) []pipeline.Stage {
		var out []pipeline.Stage
		for _, op := range ops {
			out = append(out, pipeline.Stage{Op: op})
		}
		return out
	}
	for _, c := range []struct {
		stages []pipeline.Stage
		at     int
		ok     bool
		why    bool
	}{
		{st("flatMap", "map", "updateStateByKey"), 2, true, false},
		{st("map", "reduceByKeyAndWindow", "filter"), 1, true, false},
		{st("countByValueAndWindow"), 0, true, false},
		{st("map", "mapWithState", "filter"), 1, true, false},
		{st("mapWithState", "updateStateByKey"), 0, false, true},
		{st("map", "reduceByKey"), 0, false, false},               // no state across batches
		{st("window", "updateStateByKey"), 0, false, false},       // global state first
		{st("updateStateByKey", "countByWindow"), 0, false, true}, // state after the split
		{[]pipeline.Stage{{Op: "transform", Stages: st("window")}, {Op: "updateStateByKey"}}, 0, false, false},
	} {
		at, keyOf, ok, why := KeyedSplit(c.stages)
		if ok != c.ok || (ok && at != c.at) || (why != "") != c.why || (ok && keyOf == nil) {
			t.Errorf("%v: at %d ok %v why %q", c.stages, at, ok, why)
		}
	}
	_, keyOf, _, _ := KeyedSplit(st("updateStateByKey"))
	pair := abi.AppendPair(nil, abi.AppendString(nil, "k"), abi.AppendInt(nil, 1))
	if k, err := keyOf(pair); err != nil || abi.Describe(k) != abi.Describe(abi.AppendString(nil, "k")) {
		t.Errorf("key of a pair: %s %v", abi.Describe(k), err)
	}
	if _, err := keyOf(abi.AppendString(nil, "x")); err == nil {
		t.Error("a non-pair gave a key")
	}
}

// A join keeps state only with within: (a stream-stream join in event
// time); without it, it is the DStream join of each batch.
func TestJoinsKeepStateOnlyWithWithin(t *testing.T) {
	for _, op := range []string{"join", "leftOuterJoin", "rightOuterJoin", "fullOuterJoin"} {
		if _, ok := stateOf(pipeline.Stage{Op: op}); ok {
			t.Errorf("%s without within: keeps state", op)
		}
		info, ok := stateOf(pipeline.Stage{Op: op, Within: pipeline.Within{Set: true}})
		if !ok || !info.eventTime || info.keyOf == nil {
			t.Errorf("%s with within: %+v, %v", op, info, ok)
		}
	}
	if Stateful(&pipeline.Spec{Stages: []pipeline.Stage{{Op: "join", Other: "x"}}}) {
		t.Error("a DStream join made the pipeline stateful")
	}
}
