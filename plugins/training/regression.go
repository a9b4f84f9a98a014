package main

import (
	"fmt"
	"math"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// Spark's StreamingLinearRegressionWithSGD defaults: each batch runs up to
// 50 iterations of full-batch gradient descent (miniBatchFraction 1.0),
// the i-th with step stepSize/√i, no regularisation and no intercept, and
// stops early when the weights move less than 0.001 of their norm.
const (
	defaultStepSize   = 0.1
	defaultIterations = 50
	convergenceTol    = 0.001
)

// regressor is a key's linear model, its state: {"weights": [w…],
// "stepSize": s, "iterations": n, "points": trained on so far}. A stage's
// initial: state sets the first weights and the step size and iterations
// (Spark's setInitialWeights, setStepSize, setNumIterations); without
// one, a key starts from zero weights with Spark's defaults.
type regressor struct {
	weights    []float64
	stepSize   float64
	iterations int64
	points     int64
}

func readRegressor(s wstream.Option) (regressor, error) {
	m := regressor{stepSize: defaultStepSize, iterations: defaultIterations}
	if !s.OK {
		return m, nil
	}
	st, ok := s.Value.(map[string]any)
	if !ok {
		return m, fmt.Errorf("linear-sgd: the state %v is not {\"weights\": [numbers], …}", s.Value)
	}
	if w, present := st["weights"]; present {
		if m.weights, ok = toFloats(w); !ok {
			return m, fmt.Errorf("linear-sgd: the state's weights %v are not a list of numbers", w)
		}
	}
	if v, present := st["stepSize"]; present {
		if m.stepSize, ok = wstream.ToFloat(v); !ok || m.stepSize <= 0 {
			return m, fmt.Errorf("linear-sgd: the state's stepSize %v is not a positive number", v)
		}
	}
	if v, present := st["iterations"]; present {
		if m.iterations, ok = wstream.ToInt(v); !ok || m.iterations < 1 {
			return m, fmt.Errorf("linear-sgd: the state's iterations %v is not a positive integer", v)
		}
	}
	m.points, _ = wstream.ToInt(st["points"])
	return m, nil
}

func (m regressor) state() map[string]any {
	return map[string]any{"weights": floats(m.weights), "stepSize": m.stepSize, "iterations": m.iterations, "points": m.points}
}

// linearSGD is one batch of a key's streaming linear regression (Spark's
// trainOn): score the training points with the weights before the batch
// (the batch's "mse", null without points), then train from those weights
// on them. It emits {"model", "time", "n", "mse", "weights"}, the weights
// being those after training, which the next batch's queries are
// predicted with.
func linearSGD(timeMs int64, key any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	if st.IsTimingOut() {
		return wstream.None, nil
	}
	m, err := readRegressor(st.Get())
	if err != nil {
		return wstream.None, err
	}
	b, err := readBatch("linear-sgd", v, true, len(m.weights))
	if err != nil {
		return wstream.None, err
	}
	if m.weights == nil {
		m.weights = make([]float64, b.dim)
	}
	var mse any
	if len(b.xs) > 0 {
		sse := 0.0
		for i, x := range b.xs {
			d := dot(m.weights, x) - b.ys[i]
			sse += d * d
		}
		mse = sse / float64(len(b.xs))
		m.weights = gradientDescent(m.weights, b.xs, b.ys, m.stepSize, m.iterations)
		m.points += int64(len(b.xs))
	}
	st.Update(m.state())
	return wstream.Some(map[string]any{"model": key, "time": timeMs, "n": len(b.xs), "mse": mse, "weights": floats(m.weights)}), nil
}

// gradientDescent is Spark's GradientDescent.runMiniBatchSGD with the
// least-squares gradient, the simple updater and miniBatchFraction 1.0,
// started from w.
func gradientDescent(w []float64, xs [][]float64, ys []float64, stepSize float64, iterations int64) []float64 {
	w = append([]float64(nil), w...)
	grad := make([]float64, len(w))
	prev := make([]float64, len(w))
	for i := int64(1); i <= iterations; i++ {
		clear(grad)
		for j, x := range xs {
			d := dot(w, x) - ys[j]
			for k := range grad {
				grad[k] += d * x[k]
			}
		}
		copy(prev, w)
		step := stepSize / math.Sqrt(float64(i))
		for k := range w {
			w[k] -= step * grad[k] / float64(len(xs))
		}
		if i > 1 && math.Sqrt(sqDist(prev, w)) < convergenceTol*math.Max(math.Sqrt(dot(w, w)), 1) {
			break
		}
	}
	return w
}
