package main

import (
	"fmt"

	"github.com/wstream/wstream/abi"
	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// The plugin of examples/online-training: models trained online, one model per
// key, its parameters kept in mapWithState state, and the queries answered
// by the latest model, as Spark's trainOn and predictOnValues. A training
// function gets one key's whole batch (groupByKey's [key, [record, …]]),
// because Spark's streaming models update once per batch, not once per
// record: it first scores the batch with the model as it stood before the
// batch (test-then-train), then trains. predict gets withLatest's [query,
// model] pair.
func init() {
	wstream.Plugin("training", "1.0.0")
	wstream.FilterRaw("is-training", isTraining)
	wstream.FilterRaw("is-query", isQuery)
	wstream.MapState("linear-sgd", linearSGD)
	wstream.MapState("kmeans", kMeans)
	wstream.Map("predict", predict)
}

// A record with an "id" is a query, to predict and not to train on, as
// the records of Spark's predictOnValues stream are; the other records
// are training points. The filters read the record's keys only, encoded:
// every record passes both, and decoding its features twice would cost
// more than the training.
func isQuery(x abi.Raw) (bool, error) {
	return hasID("is-query", x)
}

func isTraining(x abi.Raw) (bool, error) {
	q, err := hasID("is-training", x)
	return !q, err
}

func hasID(fn string, x abi.Raw) (bool, error) {
	n, rest, err := abi.MapHeader(x)
	if err != nil {
		return false, fmt.Errorf("%s wants records {\"x\": [numbers], …}, got %s", fn, abi.Describe(x))
	}
	for range n {
		var k abi.Raw
		if k, rest, err = abi.Next(rest); err == nil {
			_, rest, err = abi.Next(rest)
		}
		if err != nil {
			return false, fmt.Errorf("%s: the record %s: %v", fn, abi.Describe(x), err)
		}
		if s, _, err := abi.ReadStringBytes(k); err == nil && string(s) == "id" {
			return true, nil
		}
	}
	return false, nil
}

// batch is one key's training points of one batch: x, and y when the
// model is supervised.
type batch struct {
	xs  [][]float64
	ys  []float64
	dim int // features per record
}

// readBatch reads groupByKey's list of records {"x": [numbers], "y":
// number}; labeled says whether a point needs its "y". Every x must have
// dim numbers (dim 0: the first record's length).
func readBatch(fn string, v wstream.Option, labeled bool, dim int) (batch, error) {
	recs, ok := v.Value.([]any)
	if !ok {
		return batch{}, fmt.Errorf("%s wants [key, [record, …]] (a groupByKey before it), got the value %v", fn, v.Value)
	}
	var b batch
	for _, r := range recs {
		m, ok := r.(map[string]any)
		if !ok {
			return batch{}, fmt.Errorf("%s wants records {\"x\": [numbers], …}, got %v", fn, r)
		}
		x, err := features(fn, m, dim)
		if err != nil {
			return batch{}, err
		}
		dim = len(x)
		b.xs = append(b.xs, x)
		if labeled {
			y, ok := wstream.ToFloat(m["y"])
			if !ok {
				return batch{}, fmt.Errorf("%s: training record %v has no numeric \"y\" (queries go to predict: filter them out with is-training)", fn, r)
			}
			b.ys = append(b.ys, y)
		}
	}
	b.dim = dim
	return b, nil
}

// features is the record's "x", which must have dim numbers (any number
// when dim is 0).
func features(fn string, m map[string]any, dim int) ([]float64, error) {
	x, ok := toFloats(m["x"])
	if !ok || len(x) == 0 {
		return nil, fmt.Errorf("%s: record %v has no \"x\" list of numbers", fn, m)
	}
	if dim != 0 && len(x) != dim {
		return nil, fmt.Errorf("%s: record %v has %d features, the model %d", fn, m, len(x), dim)
	}
	return x, nil
}

// predict answers withLatest's [query, model]: the model record of
// linear-sgd (its "weights": w·x) or of kmeans (its "centers": the index
// of the nearest), giving {"model", "id", "prediction"}. Before the model
// stream has produced a record for the query's key the model is null,
// and so is the prediction: a model's initial: state is not a record of
// the stream.
func predict(v any) (any, error) {
	p, ok := v.([]any)
	if !ok || len(p) != 2 {
		return nil, fmt.Errorf("predict wants [query, model] (a withLatest before it), got %v", v)
	}
	q, ok := p[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("predict: the query %v is not a record {\"id\": …, \"x\": [numbers]}", p[0])
	}
	out := map[string]any{"model": q["model"], "id": q["id"], "prediction": nil}
	if p[1] == nil {
		if _, err := features("predict", q, 0); err != nil {
			return nil, err
		}
		return out, nil
	}
	m, ok := p[1].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("predict: the model %v is not a record of linear-sgd or kmeans", p[1])
	}
	if cs, isKMeans := m["centers"]; isKMeans {
		c := clusters{}
		l, _ := cs.([]any)
		for _, e := range l {
			ctr, ok := toFloats(e)
			if !ok || len(c.centers) > 0 && len(ctr) != len(c.centers[0]) {
				return nil, fmt.Errorf("predict: the model's centre %v is not a list of numbers as long as the first", e)
			}
			c.centers = append(c.centers, ctr)
		}
		if len(c.centers) == 0 {
			return nil, fmt.Errorf("predict: the model's centers %v are not a list of points", cs)
		}
		x, err := features("predict", q, len(c.centers[0]))
		if err != nil {
			return nil, err
		}
		out["prediction"], _ = c.closest(x)
		return out, nil
	}
	w, ok := toFloats(m["weights"])
	if !ok || len(w) == 0 {
		return nil, fmt.Errorf("predict: the model %v has neither \"centers\" (kmeans) nor \"weights\" (linear-sgd)", m)
	}
	x, err := features("predict", q, len(w))
	if err != nil {
		return nil, err
	}
	out["prediction"] = dot(w, x)
	return out, nil
}

func toFloats(v any) ([]float64, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]float64, len(l))
	for i, e := range l {
		if out[i], ok = wstream.ToFloat(e); !ok {
			return nil, false
		}
	}
	return out, true
}

// floats is v as the SDK encodes a list.
func floats(v []float64) []any {
	out := make([]any, len(v))
	for i, f := range v {
		out[i] = f
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}
