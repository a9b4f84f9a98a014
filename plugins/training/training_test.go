package main

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/wstream/wstream/abi"
	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func point(x ...any) map[string]any { return map[string]any{"x": x} }

func near(t *testing.T, what string, got any, want ...float64) {
	t.Helper()
	g, ok := toFloats(got)
	if !ok || len(g) != len(want) {
		t.Fatalf("%s: %v, want %v", what, got, want)
	}
	for i := range g {
		if math.Abs(g[i]-want[i]) > 1e-12*math.Max(1, math.Abs(want[i])) {
			t.Errorf("%s: %v, want %v", what, g, want)
			return
		}
	}
}

// One k-means batch worked by hand with Spark's rule: centres (0,0) of
// weight 2 and (10,10) of weight 1, decay 0.5 a batch, points (1,1),
// (3,1) near the first and (10,12) near the second. Weights discount to
// 1 and 0.5; the first centre gets n=2, mean (2,1), weight 3, λ=2/3; the
// second n=1, weight 1.5, λ=2/3.
func TestKMeansUpdateByHand(t *testing.T) {
	st := wstream.NewState(wstream.Some(map[string]any{
		"centers": []any{[]any{0, 0}, []any{10, 10}}, "weights": []any{2, 1}, "decayFactor": 0.5,
	}), false)
	out, err := kMeans(1000, "k", wstream.Some([]any{point(1, 1), point(3, 1), point(10, 12)}), st)
	if err != nil {
		t.Fatal(err)
	}
	m := out.Value.(map[string]any)
	near(t, "cost, mean squared distance before the update", []any{m["cost"]}, 16.0/3)
	cs := m["centers"].([]any)
	near(t, "centre 0", cs[0], 4.0/3, 2.0/3)
	near(t, "centre 1", cs[1], 10, 34.0/3)
	near(t, "weights", m["weights"], 3, 1.5)
	if m["n"] != 3 {
		t.Errorf("n %v", m["n"])
	}
	if !reflect.DeepEqual(st.Get().Value.(map[string]any)["centers"], m["centers"]) {
		t.Error("the state is not the emitted model")
	}
}

// A centre whose weight decays to nothing is dying: the heaviest is
// split in two, 1e-14 either side, and they share its weight.
func TestKMeansDyingCluster(t *testing.T) {
	c := clusters{centers: [][]float64{{0, 0}, {5, 5}}, weights: []float64{1, 0}, decayFactor: 1, timeUnit: "batches"}
	c.update([][]float64{{0, 1}})
	if !reflect.DeepEqual(c.weights, []float64{1, 1}) {
		t.Errorf("weights %v", c.weights)
	}
	want := [][]float64{{1e-14, 0.5 + 1e-14}, {-1e-14, 0.5 - 1e-14}}
	if !reflect.DeepEqual(c.centers, want) {
		t.Errorf("centres %v, want %v", c.centers, want)
	}
}

func TestKMeansHalfLifeAndPoints(t *testing.T) {
	c, err := readClusters("k", wstream.Some(map[string]any{"centers": []any{[]any{0}}, "weights": []any{8}, "halfLife": 2, "timeUnit": "points"}))
	if err != nil {
		t.Fatal(err)
	}
	c.update([][]float64{{0}, {0}})
	near(t, "weight after two points with a half-life of two", floats(c.weights), 4+2)
	if _, err := readClusters("k", wstream.None); err == nil || !strings.Contains(err.Error(), "initial:") {
		t.Errorf("no state: %v", err)
	}
	if _, err := readClusters("k", wstream.Some(map[string]any{"centers": []any{[]any{0}, []any{1, 2}}, "weights": []any{0, 0}})); err == nil {
		t.Error("centres of two sizes were taken")
	}
}

// Two iterations of Spark's gradient descent by hand, from zero weights,
// step 1: the gradient of ½(w·x−y)² averaged over (1,0)→1 and (0,2)→4.
func TestGradientDescentByHand(t *testing.T) {
	w := gradientDescent([]float64{0, 0}, [][]float64{{1, 0}, {0, 2}}, []float64{1, 4}, 1, 2)
	near(t, "weights", floats(w), 0.5+0.25/math.Sqrt2, 4-4/math.Sqrt2)
}

// Test-then-train: a batch is scored with the model before it; the
// queries of the next batch, given the model record withLatest pairs them
// with, are predicted with the model it trained.
func TestLinearSGDTestThenTrain(t *testing.T) {
	st := wstream.NewState(wstream.Some(map[string]any{"weights": []any{0, 0}, "stepSize": 1, "iterations": 2}), false)
	batch := []any{map[string]any{"x": []any{1, 0}, "y": 1}, map[string]any{"x": []any{0, 2}, "y": 4}}
	out, err := linearSGD(1000, "m", wstream.Some(batch), st)
	if err != nil {
		t.Fatal(err)
	}
	m := out.Value.(map[string]any)
	if m["mse"] != 8.5 || m["n"] != 2 {
		t.Errorf("first batch: mse %v, n %v", m["mse"], m["n"])
	}
	w0, w1 := 0.5+0.25/math.Sqrt2, 4-4/math.Sqrt2
	near(t, "weights", m["weights"], w0, w1)

	q := map[string]any{"model": "m", "id": "probe", "x": []any{1, 1}}
	p, err := predict([]any{q, m})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "the next batch's prediction", []any{p.(map[string]any)["prediction"]}, w0+w1)
	if r := p.(map[string]any); r["model"] != "m" || r["id"] != "probe" || len(r) != 3 {
		t.Errorf("prediction record %v", r)
	}
}

// Before the model stream has a record for the key, withLatest gives
// null and the prediction is null; a k-means model gives the index of the
// nearest centre, the first on a tie.
func TestPredict(t *testing.T) {
	q := map[string]any{"model": "k", "id": 7, "x": []any{5, 2}}
	for _, c := range []struct {
		model any
		want  any
	}{
		{nil, nil},
		{map[string]any{"centers": []any{[]any{0, 0}, []any{5, 5}, []any{4, 2}}, "weights": []any{1, 1, 1}}, 2},
		{map[string]any{"centers": []any{[]any{4, 2}, []any{6, 2}}, "weights": []any{1, 1}}, 0},
		{map[string]any{"weights": []any{1, -1}}, 3.0},
	} {
		got, err := predict([]any{q, c.model})
		want := map[string]any{"model": "k", "id": 7, "prediction": c.want}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("model %v: %v, %v; want %v", c.model, got, err, want)
		}
	}
	for _, c := range []struct {
		in   any
		want string
	}{
		{q, "withLatest before it"},
		{[]any{"q", nil}, "is not a record"},
		{[]any{map[string]any{"id": 1}, nil}, `no "x" list`},
		{[]any{q, map[string]any{"weights": []any{1, 2, 3}}}, "2 features, the model 3"},
		{[]any{q, map[string]any{"mse": 1}}, `neither "centers"`},
		{[]any{q, map[string]any{"centers": []any{[]any{1}, []any{1, 2}}}}, "as long as the first"},
	} {
		if _, err := predict(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.in, err, c.want)
		}
	}
}

func TestFilters(t *testing.T) {
	enc := func(v any) abi.Raw {
		b, err := abi.Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		rec   any
		query bool
	}{
		{map[string]any{"model": "m", "id": nil, "x": []any{1}}, true},
		{map[string]any{"x": []any{1, 2}, "y": 3, "model": "m", "id": "q"}, true},
		{map[string]any{"model": "m", "x": []any{1}, "y": 1, "idx": 2}, false},
		{map[string]any{}, false},
	} {
		q, err1 := isQuery(enc(c.rec))
		tr, err2 := isTraining(enc(c.rec))
		if q != c.query || tr == c.query || err1 != nil || err2 != nil {
			t.Errorf("%v: is-query %v (%v), is-training %v (%v)", c.rec, q, err1, tr, err2)
		}
	}
	if _, err := isTraining(enc([]any{1})); err == nil || !strings.Contains(err.Error(), "is-training wants records") {
		t.Errorf("a list: %v", err)
	}
	if _, err := isQuery(enc(map[string]any{"x": 1, "id": 2})[:3]); err == nil || !strings.Contains(err.Error(), "is-query") {
		t.Errorf("a truncated record: %v", err)
	}
}

func TestLinearSGDBadInput(t *testing.T) {
	for _, c := range []struct {
		state wstream.Option
		batch any
		want  string
	}{
		{wstream.None, map[string]any{"x": []any{1}}, "groupByKey"},
		{wstream.None, []any{map[string]any{"x": []any{1}}}, `no numeric "y"`},
		{wstream.None, []any{map[string]any{"x": "1", "y": 1}}, `no "x" list`},
		{wstream.Some(map[string]any{"weights": []any{0, 0}}), []any{map[string]any{"x": []any{1}, "y": 1}}, "1 features, the model 2"},
		{wstream.Some(map[string]any{"stepSize": -1}), []any{}, "stepSize"},
	} {
		_, err := linearSGD(0, "m", wstream.Some(c.batch), wstream.NewState(c.state, false))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v on %v: %v, want an error with %q", c.batch, c.state, err, c.want)
		}
	}
}
