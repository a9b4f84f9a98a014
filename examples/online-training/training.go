// Package training generates the data of the online-training example,
// with a concept drift at a known batch, and reads back what its
// pipelines emit per batch.
package training

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/wstream/wstream/examples/internal/jsonl"
)

// Config sizes a generated data set: Batches lines of PerBatch training
// points per model, the drift from batch DriftAt (0-based) on.
type Config struct {
	Seed     uint64
	Batches  int
	PerBatch int
	DriftAt  int
}

// The regression data: y = w·x + N(0, 0.1²), x ~ N(0, 1)³. Model "steady"
// keeps its w; model "drifting" has Before until the drift and After from
// it on. Each batch also holds one query per model at Probe, its ID
// QueryID(model, batch).
var (
	Steady = []float64{2, -1, 0.5}
	Before = []float64{1, 3, -2}
	After  = []float64{-2, 1, 2}
	Probe  = []float64{1, 1, 1}
)

// The clustering data: points N(centre, 0.5²) around three centres, the
// second of which moves to Moved at the drift. Each batch also holds one
// query at Moved, its ID QueryID("moved", batch).
var (
	Centers = [][]float64{{0, 0}, {5, 5}, {-5, 5}}
	Moved   = []float64{5, 2}
)

// Sample is one record of the data: a training point (X, and Y for the
// regression) or, with an ID, a query to predict.
type Sample struct {
	Model string    `json:"model"`
	ID    string    `json:"id,omitempty"`
	X     []float64 `json:"x"`
	Y     *float64  `json:"y,omitempty"`
}

// Regression returns the regression data, one slice per batch.
func Regression(cfg Config) [][]Sample {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	out := make([][]Sample, cfg.Batches)
	for b := range out {
		for _, model := range []string{"steady", "drifting"} {
			w := Steady
			if model == "drifting" {
				w = Before
				if b >= cfg.DriftAt {
					w = After
				}
			}
			for range cfg.PerBatch {
				x := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
				y := 0.1 * r.NormFloat64()
				for i := range x {
					y += w[i] * x[i]
				}
				out[b] = append(out[b], Sample{Model: model, X: x, Y: &y})
			}
			out[b] = append(out[b], Sample{Model: model, ID: QueryID(model, b), X: Probe})
		}
	}
	return out
}

// Clustering returns the clustering data (model "clusters"), one slice
// per batch.
func Clustering(cfg Config) [][]Sample {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0xc105))
	out := make([][]Sample, cfg.Batches)
	for b := range out {
		for i := range cfg.PerBatch {
			c := Centers[i%len(Centers)]
			if i%len(Centers) == 1 && b >= cfg.DriftAt {
				c = Moved
			}
			out[b] = append(out[b], Sample{Model: "clusters", X: []float64{c[0] + 0.5*r.NormFloat64(), c[1] + 0.5*r.NormFloat64()}})
		}
		out[b] = append(out[b], Sample{Model: "clusters", ID: QueryID("moved", b), X: Moved})
	}
	return out
}

// QueryID names the query of a batch (from 0).
func QueryID(name string, batch int) string { return fmt.Sprintf("%s-%d", name, batch) }

// WriteBatches writes a batches: source file: line k is batch k.
func WriteBatches(w io.Writer, batches [][]Sample) error {
	bw := bufio.NewWriter(w)
	for _, b := range batches {
		line, err := json.Marshal(b)
		if err != nil {
			return err
		}
		bw.Write(append(line, '\n'))
	}
	return bw.Flush()
}

// Step is what linear-sgd or kmeans emits for one model and batch: the
// test-then-train error (MSE or Cost, nil for a batch without training
// points) and the model after training.
type Step struct {
	Model   string
	Time    int64
	N       int
	MSE     *float64
	Cost    *float64
	Weights []float64
	Centers [][]float64
}

// Error is the step's test-then-train error, MSE or cost.
func (s Step) Error() float64 {
	switch {
	case s.MSE != nil:
		return *s.MSE
	case s.Cost != nil:
		return *s.Cost
	}
	return 0
}

// ReadSteps reads a jsonl: sink's output of linear-sgd or kmeans, per
// model in batch order.
func ReadSteps(path string) (map[string][]Step, error) {
	out := map[string][]Step{}
	err := readSink(path, func(s Step) { out[s.Model] = append(out[s.Model], s) })
	return out, err
}

// Prediction is what predict emits for a query: nil when its model had
// produced nothing before the query's batch.
type Prediction struct {
	Model      string
	ID         string
	Prediction *float64
}

// ReadPredictions reads a jsonl: sink's output of predict, by query ID.
func ReadPredictions(path string) (map[string]Prediction, error) {
	out := map[string]Prediction{}
	err := readSink(path, func(p Prediction) { out[p.ID] = p })
	return out, err
}

// readSink calls each on the records of a jsonl: sink's file, in order.
func readSink[T any](path string, each func(T)) error {
	lines, err := jsonl.ReadLines[struct{ Records []T }](path)
	for _, l := range lines {
		for _, r := range l.Records {
			each(r)
		}
	}
	return err
}
