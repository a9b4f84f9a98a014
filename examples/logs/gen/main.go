// Command gen writes the logs example's access.log:
//
//	go run ./examples/logs/gen -dir examples/logs            # access.log
//	go run ./examples/logs/gen -dir examples/logs -report    # what top.jsonl and alerts.jsonl say
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wstream/wstream/examples/logs"
)

func main() {
	cfg := logs.Config{OutageEndpoint: "/api/checkout"}
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same log")
	flag.IntVar(&cfg.Minutes, "minutes", 30, "minutes of traffic")
	flag.Float64Var(&cfg.Rate, "rate", 20, "requests per second")
	flag.DurationVar(&cfg.OutageStart, "outage", 12*time.Minute, "when /api/checkout starts failing, from the log's start")
	flag.DurationVar(&cfg.OutageLength, "outage-length", 3*time.Minute, "how long it fails")
	dir := flag.String("dir", ".", "folder of access.log, top.jsonl and alerts.jsonl")
	report := flag.Bool("report", false, "show the alerts and each 5 minutes' top endpoints instead of generating")
	flag.Parse()
	var err error
	if *report {
		err = show(*dir)
	} else {
		err = write(cfg, filepath.Join(*dir, "access.log"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func write(cfg logs.Config, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	n, err := logs.Write(w, cfg)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		fmt.Printf("%d requests over %d minutes from %s, %s failing from +%v for %v\n", n, cfg.Minutes, logs.Start.Format(time.RFC3339), cfg.OutageEndpoint, cfg.OutageStart, cfg.OutageLength)
	}
	return err
}

// show prints the alerts, and the top endpoints of every fifth minute.
func show(dir string) error {
	span := func(w [2]int64) string {
		return time.UnixMilli(w[0]).UTC().Format("15:04:05") + "-" + time.UnixMilli(w[1]).UTC().Format("15:04:05")
	}
	err := records(filepath.Join(dir, "top.jsonl"), func(raw json.RawMessage) error {
		var row struct {
			W   [2]int64
			Top [][2]any
		}
		if err := json.Unmarshal(raw, &[]any{&row.W, &row.Top}); err != nil {
			return err
		}
		if row.W[0]%300_000 == 0 {
			fmt.Printf("top %s  %v\n", span(row.W), row.Top)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return records(filepath.Join(dir, "alerts.jsonl"), func(raw json.RawMessage) error {
		var a struct {
			Endpoint string
			Rate     float64
			Window   [2]int64
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		fmt.Printf("ALERT %s  %s  %.0f%% 5xx\n", span(a.Window), a.Endpoint, 100*a.Rate)
		return nil
	})
}

// records calls f on each record of a jsonl: sink's output file.
func records(path string, f func(json.RawMessage) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct{ Records []json.RawMessage }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		for _, r := range line.Records {
			if err := f(r); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
		}
	}
	return sc.Err()
}
