// Package iot generates the sensor readings of the IoT concept-drift
// example, with a drift injected on some sensors at a known time, and
// checks a run's alerts against those drifts.
package iot

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/wstream/wstream/examples/internal/jsonl"
)

// Reading is one sensor reading, as the generator writes it.
type Reading struct {
	Sensor string  `json:"sensor"`
	TS     int64   `json:"ts"` // event time, ms
	Temp   float64 `json:"temp"`
}

// Alert is what the pipeline raises: the sensor, the reading's time, and
// which way its mean moved.
type Alert struct {
	Sensor    string `json:"sensor"`
	Time      int64  `json:"time"`
	Direction string `json:"direction"`
	Detail    string `json:"detail,omitempty"`
}

// Drift is an injected change: from Start on, Sensor's mean is Shift
// higher (or lower).
type Drift struct {
	Sensor string  `json:"sensor"`
	Start  int64   `json:"start"`
	Shift  float64 `json:"shift"`
}

// Config sizes a generated data set. Minutes is also the number of
// batches: the generator writes one line per minute of event time.
type Config struct {
	Seed    uint64
	Sensors int
	Minutes int
	Drifted int     // sensors that drift
	Every   int64   // ms between two readings of a sensor
	Shift   float64 // the drift's size in °C, up or down at random
	Noise   float64 // standard deviation of a reading, °C
}

const minute = int64(60_000)

// Generate returns the readings in event-time order and the drifts
// injected among them. Each sensor reads every Every ms around its own
// mean (15 to 25 °C) with Gaussian noise; Drifted of them, chosen at
// random, shift by ±Shift at a time in the second half of the run.
func Generate(cfg Config) ([]Reading, []Drift, error) {
	if cfg.Sensors < 1 || cfg.Drifted > cfg.Sensors || cfg.Minutes < 20 || cfg.Every < 1000 || cfg.Every > minute || cfg.Noise <= 0 || cfg.Shift <= 0 {
		return nil, nil, fmt.Errorf("generate: want at least 1 sensor and no more drifted, 20 minutes or more, a reading every 1 s to 1 min, and a positive noise and shift; got %d sensors, %d drifted, %d minutes, every %d ms, noise %v, shift %v",
			cfg.Sensors, cfg.Drifted, cfg.Minutes, cfg.Every, cfg.Noise, cfg.Shift)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0xd81f7))
	span := int64(cfg.Minutes) * minute
	shift := map[int]Drift{}
	for _, i := range r.Perm(cfg.Sensors)[:cfg.Drifted] {
		d := Drift{Sensor: name(i), Start: span/2 + r.Int64N(span/4), Shift: cfg.Shift}
		if r.IntN(2) == 0 {
			d.Shift = -d.Shift
		}
		shift[i] = d
	}
	var all []Reading
	for i := range cfg.Sensors {
		mean := 15 + 10*r.Float64()
		for ts := r.Int64N(cfg.Every); ts < span; ts += cfg.Every {
			x := mean + cfg.Noise*r.NormFloat64()
			if d, ok := shift[i]; ok && ts >= d.Start {
				x += d.Shift
			}
			all = append(all, Reading{Sensor: name(i), TS: ts, Temp: float64(int64(x*100+0.5)) / 100})
		}
	}
	slices.SortStableFunc(all, func(a, b Reading) int { return int(a.TS - b.TS) })
	var drifts []Drift
	for _, d := range shift {
		drifts = append(drifts, d)
	}
	slices.SortFunc(drifts, func(a, b Drift) int { return int(a.Start - b.Start) })
	return all, drifts, nil
}

func name(i int) string { return fmt.Sprintf("s%03d", i) }

// WriteBatches writes readings as a batches: file, line k holding the
// readings of event-time minute k, so with `batch: 1m` and the manual
// clock, batch time follows event time.
func WriteBatches(w io.Writer, rs []Reading, minutes int) error {
	return jsonl.WriteMinutes(w, rs, func(r Reading) int { return int(r.TS / minute) }, 0, minutes)
}

// WriteDrifts writes the injected drifts as JSON lines.
func WriteDrifts(w io.Writer, ds []Drift) error { return jsonl.WriteLines(w, ds) }

// ReadDrifts reads what WriteDrifts wrote.
func ReadDrifts(path string) ([]Drift, error) { return jsonl.ReadLines[Drift](path) }

// ReadAlerts reads the alerts of a jsonl: sink's output
// ({"time": ..., "records": [alert, ...]} a line).
func ReadAlerts(path string) ([]Alert, error) {
	lines, err := jsonl.ReadLines[struct{ Records []Alert }](path)
	var alerts []Alert
	for _, l := range lines {
		alerts = append(alerts, l.Records...)
	}
	return alerts, err
}

// Check compares alerts with the injected drifts: each drifted sensor must
// alert exactly once, in the drift's direction, within bound ms after it
// starts, and no other sensor may alert. It returns one line per problem.
func Check(alerts []Alert, drifts []Drift, bound int64) []string {
	want := map[string]Drift{}
	for _, d := range drifts {
		want[d.Sensor] = d
	}
	got := map[string][]Alert{}
	for _, a := range alerts {
		got[a.Sensor] = append(got[a.Sensor], a)
	}
	var problems []string
	for s, as := range got {
		if _, ok := want[s]; !ok {
			problems = append(problems, fmt.Sprintf("false alarm: %s did not drift but alerted %v", s, as))
		}
	}
	for _, d := range drifts {
		as := got[d.Sensor]
		dir := "up"
		if d.Shift < 0 {
			dir = "down"
		}
		switch {
		case len(as) == 0:
			problems = append(problems, fmt.Sprintf("missed: %s drifted %+.1f at %d ms and never alerted", d.Sensor, d.Shift, d.Start))
		case len(as) > 1:
			problems = append(problems, fmt.Sprintf("%s drifted once at %d ms but alerted %d times: %v", d.Sensor, d.Start, len(as), as))
		case as[0].Time < d.Start || as[0].Time > d.Start+bound || as[0].Direction != dir:
			problems = append(problems, fmt.Sprintf("%s drifted %s at %d ms; the alert %+v is not %s within %d ms after", d.Sensor, dir, d.Start, as[0], dir, bound))
		}
	}
	slices.Sort(problems)
	return problems
}
