// Command gen writes the IoT drift example's readings, or checks a run's
// alerts:
//
//	go run ./examples/iot/gen -dir examples/iot            # drift-readings.jsonl, drift-truth.jsonl
//	go run ./examples/iot/gen -dir examples/iot -check     # drift-alerts.jsonl against drift-truth.jsonl
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wstream/wstream/examples/internal/jsonl"
	"github.com/wstream/wstream/examples/iot"
)

func main() {
	cfg := iot.Config{}
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same data")
	flag.IntVar(&cfg.Sensors, "sensors", 200, "number of sensors")
	flag.IntVar(&cfg.Drifted, "drifted", 10, "sensors whose mean shifts")
	flag.IntVar(&cfg.Minutes, "minutes", 240, "minutes of event time, one batch each")
	every := flag.Duration("every", 10*time.Second, "time between two readings of a sensor")
	flag.Float64Var(&cfg.Shift, "shift", 3, "the drift: °C added to (or taken from) a drifted sensor's mean")
	flag.Float64Var(&cfg.Noise, "noise", 0.5, "standard deviation of a reading, °C")
	bound := flag.Duration("bound", 3*time.Minute, "with -check: the longest an alert may come after its drift starts")
	dir := flag.String("dir", ".", "folder of drift-readings.jsonl, drift-truth.jsonl and drift-alerts.jsonl")
	check := flag.Bool("check", false, "compare drift-alerts.jsonl with drift-truth.jsonl instead of generating")
	flag.Parse()
	cfg.Every = every.Milliseconds()
	var err error
	if *check {
		err = checkAlerts(*dir, bound.Milliseconds())
	} else {
		err = generate(cfg, *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func generate(cfg iot.Config, dir string) error {
	rs, drifts, err := iot.Generate(cfg)
	if err != nil {
		return err
	}
	for name, fill := range map[string]func(io.Writer) error{
		"drift-readings.jsonl": func(w io.Writer) error { return iot.WriteBatches(w, rs, cfg.Minutes) },
		"drift-truth.jsonl":    func(w io.Writer) error { return iot.WriteDrifts(w, drifts) },
	} {
		if err := jsonl.Create(filepath.Join(dir, name), fill); err != nil {
			return err
		}
	}
	fmt.Printf("%d readings from %d sensors over %d minutes, %d drifts injected\n", len(rs), cfg.Sensors, cfg.Minutes, len(drifts))
	return nil
}

func checkAlerts(dir string, bound int64) error {
	drifts, err := iot.ReadDrifts(filepath.Join(dir, "drift-truth.jsonl"))
	if err != nil {
		return err
	}
	alerts, err := iot.ReadAlerts(filepath.Join(dir, "drift-alerts.jsonl"))
	if err != nil {
		return err
	}
	start := map[string]int64{}
	for _, d := range drifts {
		start[d.Sensor] = d.Start
	}
	for _, a := range alerts {
		fmt.Printf("%8s  %s  %-4s  %3d s after the drift  %s\n", clock(a.Time), a.Sensor, a.Direction, (a.Time-start[a.Sensor])/1000, a.Detail)
	}
	problems := iot.Check(alerts, drifts, bound)
	for _, p := range problems {
		fmt.Println(p)
	}
	fmt.Printf("%d alerts: %d drifts injected, %d problems\n", len(alerts), len(drifts), len(problems))
	if len(problems) > 0 {
		return fmt.Errorf("the alerts are not exactly the injected drifts within %d s", bound/1000)
	}
	return nil
}

// clock shows an event time in ms as hours:minutes:seconds since the start.
func clock(ms int64) string {
	s := ms / 1000
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}
