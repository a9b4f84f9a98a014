// Command gen writes the training example's data, or shows what its
// pipelines emitted:
//
//	go run ./examples/online-training/gen -dir examples/online-training            # samples.jsonl, points.jsonl
//	go run ./examples/online-training/gen -dir examples/online-training -report    # per batch: the error, from linear.jsonl and kmeans.jsonl, and the predictions
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wstream/wstream/examples/online-training"
)

func main() {
	cfg := training.Config{}
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same data")
	flag.IntVar(&cfg.Batches, "batches", 40, "batches, one line of each file")
	flag.IntVar(&cfg.PerBatch, "per-batch", 200, "training points per model and batch")
	flag.IntVar(&cfg.DriftAt, "drift", 20, "the batch (from 0) where the drifting model and the second cluster change")
	dir := flag.String("dir", ".", "folder of samples.jsonl and points.jsonl, and of the pipelines' output")
	report := flag.Bool("report", false, "show each batch's test-then-train error and predictions instead of generating")
	flag.Parse()
	var err error
	if *report {
		err = show(*dir)
	} else {
		err = generate(cfg, *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(cfg training.Config, dir string) error {
	for name, data := range map[string][][]training.Sample{"samples.jsonl": training.Regression(cfg), "points.jsonl": training.Clustering(cfg)} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		err = training.WriteBatches(f, data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	fmt.Printf("%d batches of %d points per model, drift at batch %d: \"drifting\" w %v -> %v, cluster %v -> %v\n",
		cfg.Batches, cfg.PerBatch, cfg.DriftAt, training.Before, training.After, training.Centers[1], training.Moved)
	return nil
}

// show prints, per batch, each model's test-then-train error and what the
// latest model predicted for the batch's queries ("-": no model yet), with
// a bar for the drifting model's error.
func show(dir string) error {
	lin, err := training.ReadSteps(filepath.Join(dir, "linear.jsonl"))
	if err != nil {
		return err
	}
	km, err := training.ReadSteps(filepath.Join(dir, "kmeans.jsonl"))
	if err != nil {
		return err
	}
	linPred, err := training.ReadPredictions(filepath.Join(dir, "linear-predictions.jsonl"))
	if err != nil {
		return err
	}
	kmPred, err := training.ReadPredictions(filepath.Join(dir, "kmeans-predictions.jsonl"))
	if err != nil {
		return err
	}
	fmt.Println("batch  mse steady  mse drifting  drifting(1,1,1)  k-means cost  cluster of (5,2)")
	for b := range lin["drifting"] {
		s, d := lin["steady"][b], lin["drifting"][b]
		line := fmt.Sprintf("%5d  %10.4f  %12.4f  %15s", b, s.Error(), d.Error(), value(linPred[training.QueryID("drifting", b)], "%.3f"))
		if b < len(km["clusters"]) {
			line += fmt.Sprintf("  %12.3f  %16s", km["clusters"][b].Error(), value(kmPred[training.QueryID("moved", b)], "%.0f"))
		}
		fmt.Println(line, strings.Repeat("#", min(int(d.Error()), 40)))
	}
	return nil
}

func value(p training.Prediction, format string) string {
	if p.Prediction == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p.Prediction)
}
