package main

import (
	"fmt"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// The plugin of examples/online-training: models trained online, one model per
// key, its parameters kept in mapWithState state. Each function gets one
// key's whole batch (groupByKey's [key, [record, …]]), because Spark's
// streaming models update once per batch, not once per record: it first
// answers the batch's queries and scores its training points with the
// model as it stood before the batch (test-then-train), then trains.
func init() {
	wstream.Plugin("training", "1.0.0")
	wstream.MapState("linear-sgd", linearSGD)
	wstream.MapState("kmeans", kMeans)
	wstream.FlatMap("predictions", predictions)
}

// query is a record to predict: it has an "id", and is not trained on,
// as the records of Spark's predictOnValues stream are not.
type query struct {
	id any
	x  []float64
}

// batch is one key's records of one batch: the training points (x, and y
// when the model is supervised) and the queries.
type batch struct {
	xs      [][]float64
	ys      []float64
	queries []query
	dim     int // features per record
}

// readBatch reads groupByKey's list of records {"x": [numbers], "y":
// number} or {"id": any, "x": [numbers]}; labeled says whether a training
// point needs its "y". Every x must have dim numbers (dim 0: the first
// record's length).
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
		x, ok := toFloats(m["x"])
		if !ok || len(x) == 0 {
			return batch{}, fmt.Errorf("%s: record %v has no \"x\" list of numbers", fn, r)
		}
		if dim == 0 {
			dim = len(x)
		}
		if len(x) != dim {
			return batch{}, fmt.Errorf("%s: record %v has %d features, the model %d", fn, r, len(x), dim)
		}
		if id, isQuery := m["id"]; isQuery {
			b.queries = append(b.queries, query{id, x})
			continue
		}
		b.xs = append(b.xs, x)
		if labeled {
			y, ok := wstream.ToFloat(m["y"])
			if !ok {
				return batch{}, fmt.Errorf("%s: training record %v has no numeric \"y\" (a query needs an \"id\")", fn, r)
			}
			b.ys = append(b.ys, y)
		}
	}
	b.dim = dim
	return b, nil
}

// predictions turns a model's batch record into one record per query:
// {"model", "time", "id", "prediction"}.
func predictions(x any) ([]any, error) {
	m, ok := x.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("predictions wants the record of linear-sgd or kmeans, got %v", x)
	}
	ps, _ := m["predictions"].([]any)
	out := make([]any, 0, len(ps))
	for _, p := range ps {
		q, ok := p.([]any)
		if !ok || len(q) != 2 {
			return nil, fmt.Errorf("predictions: %v is not an [id, prediction] pair", p)
		}
		out = append(out, map[string]any{"model": m["model"], "time": m["time"], "id": q[0], "prediction": q[1]})
	}
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
