package main

import (
	"fmt"
	"math"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// clusters is a key's streaming k-means model, its state: {"centers":
// [[x…]…], "weights": [w…], "decayFactor": d, "timeUnit": "batches" or
// "points", "points": trained on so far}. Spark needs the first centres
// given (setInitialCenters), and so does this: a stage's initial: state,
// where "halfLife": h may stand for the decay factor, as Spark's
// setHalfLife(h, timeUnit) does (0.5^(1/h)).
type clusters struct {
	centers     [][]float64
	weights     []float64
	decayFactor float64
	timeUnit    string
	points      int64
}

func readClusters(key any, s wstream.Option) (clusters, error) {
	c := clusters{decayFactor: 1, timeUnit: "batches"}
	st, ok := s.Value.(map[string]any)
	if !s.OK || !ok {
		return c, fmt.Errorf("kmeans: key %v has no model: give its first centres in the stage's initial: [[%v, {centers: [[x, y], …], weights: [0, …], halfLife: 2}]]", key, key)
	}
	cs, ok := st["centers"].([]any)
	if !ok || len(cs) == 0 {
		return c, fmt.Errorf("kmeans: key %v: the state's centers %v are not a list of points", key, st["centers"])
	}
	for _, p := range cs {
		x, ok := toFloats(p)
		if !ok || len(c.centers) > 0 && len(x) != len(c.centers[0]) {
			return c, fmt.Errorf("kmeans: key %v: the centre %v is not a list of numbers as long as the first", key, p)
		}
		c.centers = append(c.centers, x)
	}
	if c.weights, ok = toFloats(st["weights"]); !ok || len(c.weights) != len(c.centers) {
		return c, fmt.Errorf("kmeans: key %v: the state's weights %v are not %d numbers, one per centre", key, st["weights"], len(c.centers))
	}
	if v, present := st["halfLife"]; present {
		h, ok := wstream.ToFloat(v)
		if !ok || h <= 0 {
			return c, fmt.Errorf("kmeans: key %v: the state's halfLife %v is not a positive number", key, v)
		}
		c.decayFactor = math.Exp(math.Log(0.5) / h)
	}
	if v, present := st["decayFactor"]; present {
		if c.decayFactor, ok = wstream.ToFloat(v); !ok || c.decayFactor < 0 {
			return c, fmt.Errorf("kmeans: key %v: the state's decayFactor %v is not a number ≥ 0", key, v)
		}
	}
	if v, present := st["timeUnit"]; present {
		if c.timeUnit, _ = v.(string); c.timeUnit != "batches" && c.timeUnit != "points" {
			return c, fmt.Errorf("kmeans: key %v: the state's timeUnit %v is neither \"batches\" nor \"points\"", key, v)
		}
	}
	c.points, _ = wstream.ToInt(st["points"])
	return c, nil
}

func (c clusters) state() map[string]any {
	cs := make([]any, len(c.centers))
	for i, x := range c.centers {
		cs[i] = floats(x)
	}
	return map[string]any{"centers": cs, "weights": floats(c.weights), "decayFactor": c.decayFactor, "timeUnit": c.timeUnit, "points": c.points}
}

// closest is the index of the centre nearest x, the first on a tie.
func (c clusters) closest(x []float64) (int, float64) {
	best, bestD := 0, math.Inf(1)
	for i, ctr := range c.centers {
		if d := sqDist(ctr, x); d < bestD {
			best, bestD = i, d
		}
	}
	return best, bestD
}

// update is StreamingKMeansModel.update: every weight is discounted
// (decayFactor per batch, or per point with timeUnit "points"); each
// centre that got points moves to the weighted mean of itself and them,
// c ← c·(1−λ) + mean·λ with λ = n/(discounted weight + n); and when the
// lightest centre weighs under 1e-8 of the heaviest, it is dying: the
// heaviest is split in two around its position and the weight shared.
func (c *clusters) update(xs [][]float64) {
	dim := len(c.centers[0])
	sums := make([][]float64, len(c.centers))
	counts := make([]float64, len(c.centers))
	for _, x := range xs {
		j, _ := c.closest(x)
		if sums[j] == nil {
			sums[j] = make([]float64, dim)
		}
		for k := range x {
			sums[j][k] += x[k]
		}
		counts[j]++
	}
	discount := c.decayFactor
	if c.timeUnit == "points" {
		discount = math.Pow(c.decayFactor, float64(len(xs)))
	}
	for j := range c.weights {
		c.weights[j] *= discount
	}
	for j, n := range counts {
		if n == 0 {
			continue
		}
		w := c.weights[j] + n
		lambda := n / math.Max(w, 1e-16)
		c.weights[j] = w
		for k := range c.centers[j] {
			c.centers[j][k] = c.centers[j][k]*(1-lambda) + sums[j][k]*lambda/n
		}
	}
	largest, smallest := 0, 0
	for j, w := range c.weights {
		if w > c.weights[largest] {
			largest = j
		}
		if w < c.weights[smallest] {
			smallest = j
		}
	}
	if c.weights[smallest] < 1e-8*c.weights[largest] {
		w := (c.weights[largest] + c.weights[smallest]) / 2
		c.weights[largest], c.weights[smallest] = w, w
		for k, x := range c.centers[largest] {
			p := 1e-14 * math.Max(math.Abs(x), 1)
			c.centers[largest][k], c.centers[smallest][k] = x+p, x-p
		}
	}
	c.points += int64(len(xs))
}

// kMeans is one batch of a key's streaming k-means (Spark's trainOn):
// score the points by their mean squared distance to the nearest centre
// before the batch (the batch's "cost", null without points), then update
// the centres. It emits {"model", "time", "n", "cost", "centers",
// "weights"}, with the centres and weights after the update.
func kMeans(timeMs int64, key any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	if st.IsTimingOut() {
		return wstream.None, nil
	}
	c, err := readClusters(key, st.Get())
	if err != nil {
		return wstream.None, err
	}
	b, err := readBatch("kmeans", v, false, len(c.centers[0]))
	if err != nil {
		return wstream.None, err
	}
	var cost any
	if len(b.xs) > 0 {
		sum := 0.0
		for _, x := range b.xs {
			_, d := c.closest(x)
			sum += d
		}
		cost = sum / float64(len(b.xs))
		c.update(b.xs)
	}
	s := c.state()
	st.Update(s)
	return wstream.Some(map[string]any{"model": key, "time": timeMs, "n": len(b.xs), "cost": cost, "centers": s["centers"], "weights": s["weights"]}), nil
}
