// Command gen writes the Lambda and Kappa example's page views, or serves
// the views the pipelines wrote and checks them against the log:
//
//	go run ./examples/lambda-kappa/gen -dir examples/lambda-kappa          # archive.jsonl, recent.jsonl, log.jsonl
//	go run ./examples/lambda-kappa/gen -dir examples/lambda-kappa -serve   # the views, merged, against the truth
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/wstream/wstream/examples/internal/jsonl"
	lambdakappa "github.com/wstream/wstream/examples/lambda-kappa"
)

func main() {
	cfg := lambdakappa.Config{}
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same log")
	flag.IntVar(&cfg.Minutes, "minutes", 240, "minutes of event time in the log")
	flag.IntVar(&cfg.Archived, "archived", 180, "minutes the last batch run saw (the rest is the recent stream)")
	flag.IntVar(&cfg.Rate, "rate", 600, "page views per minute, on average")
	flag.Float64Var(&cfg.Retries, "retries", 0.02, "share of views delivered twice")
	dir := flag.String("dir", ".", "folder of the log files and the views")
	serve := flag.Bool("serve", false, "show the views and check them against the log instead of generating")
	flag.Parse()
	var err error
	if *serve {
		err = show(cfg, *dir)
	} else {
		err = generate(cfg, *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(cfg lambdakappa.Config, dir string) error {
	log, err := lambdakappa.Generate(cfg)
	if err != nil {
		return err
	}
	cut := slices.IndexFunc(log, func(v lambdakappa.View) bool { return lambdakappa.Minute(v) >= cfg.Archived })
	files := map[string]func(io.Writer) error{
		"archive.jsonl": func(w io.Writer) error { return lambdakappa.WriteLines(w, log[:cut]) },
		"recent.jsonl":  func(w io.Writer) error { return lambdakappa.WriteBatches(w, log, cfg.Archived, cfg.Minutes) },
		"log.jsonl":     func(w io.Writer) error { return lambdakappa.WriteBatches(w, log, 0, cfg.Minutes) },
	}
	for name, fill := range files {
		if err := jsonl.Create(filepath.Join(dir, name), fill); err != nil {
			return err
		}
	}
	fmt.Printf("%d deliveries of %d page views over %d minutes: %d archived, the last %d minutes recent\n",
		len(log), sum(lambdakappa.Truth(log, true)), cfg.Minutes, cut, cfg.Minutes-cfg.Archived)
	return nil
}

// show reads the views the pipelines wrote, merges Lambda's two, and
// compares each answer with the one computed from the log.
func show(cfg lambdakappa.Config, dir string) error {
	log, err := lambdakappa.Generate(cfg)
	if err != nil {
		return err
	}
	read := func(name string) lambdakappa.Counts {
		if err == nil {
			var c lambdakappa.Counts
			c, err = lambdakappa.ReadView(filepath.Join(dir, name))
			return c
		}
		return nil
	}
	batch, speed := read("batch-view.jsonl"), read("speed-view.jsonl")
	v1, v2 := read("kappa-v1.jsonl"), read("kappa-v2.jsonl")
	if err != nil {
		return err
	}
	truth := lambdakappa.Truth(log, true)
	lambda := lambdakappa.Merge(batch, speed)
	fmt.Printf("%-10s %8s %8s %8s %10s %10s %8s\n", "page", "batch", "speed", "lambda", "kappa v1", "kappa v2", "truth")
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range truth {
			if !yield(p) {
				return
			}
		}
	}) {
		fmt.Printf("%-10s %8d %8d %8d %10d %10d %8d\n", p, batch[p], speed[p], lambda[p], v1[p], v2[p], truth[p])
	}
	bad := false
	for _, a := range []struct {
		name      string
		got, want lambdakappa.Counts
	}{
		{"lambda (batch + speed view)", lambda, truth},
		{"kappa v2 (replayed)", v2, truth},
		{"kappa v1 (every delivery)", v1, lambdakappa.Truth(log, false)},
	} {
		if d := lambdakappa.Diff(a.got, a.want); len(d) > 0 {
			bad = true
			fmt.Printf("%s differs from the log: %v\n", a.name, d)
		} else {
			fmt.Printf("%s: as computed from the log\n", a.name)
		}
	}
	if bad {
		return fmt.Errorf("a view is not the log's answer")
	}
	return nil
}

func sum(c lambdakappa.Counts) (n int64) {
	for _, v := range c {
		n += v
	}
	return n
}
