// Package main is the drift plugin: concept-drift detection per key with
// the Page-Hinkley test, for examples/iot.
package main

import (
	"fmt"
	"math"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// The test's parameters, in the readings' unit (°C). A change of the mean
// smaller than delta is noise; an accumulated deviation of lambda is a
// drift. A detector judges nothing before warmup readings, so its first
// estimate of the mean is not taken for a change.
const (
	delta  = 0.5
	lambda = 25.0
	warmup = 30
)

func init() {
	wstream.Plugin("drift", "1.0.0")
	wstream.MapState("page-hinkley", pageHinkley)
}

// detector is one key's Page-Hinkley state: the readings seen, their mean,
// and the two cumulative sums with their extremes (up for a rise, down
// for a fall). Kept as [n, mean, up, upMin, down, downMax].
type detector struct {
	n                              int64
	mean, up, upMin, down, downMax float64
}

// observe adds x and says which way the mean has drifted, if it has.
func (d *detector) observe(x float64) string {
	d.n++
	d.mean += (x - d.mean) / float64(d.n)
	d.up += x - d.mean - delta
	d.upMin = math.Min(d.upMin, d.up)
	d.down += x - d.mean + delta
	d.downMax = math.Max(d.downMax, d.down)
	switch {
	case d.n < warmup:
		return ""
	case d.up-d.upMin > lambda:
		return "up"
	case d.downMax-d.down > lambda:
		return "down"
	}
	return ""
}

// pageHinkley runs a key's readings ({"ts": ms, "temp": x}) through its
// detector and emits an alert at the reading where the mean drifted. The
// detector then starts over, so it learns the new level instead of
// alerting on every later reading.
func pageHinkley(_ int64, key any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	if st.IsTimingOut() {
		return wstream.None, nil
	}
	m, ok := v.Value.(map[string]any)
	ts, tok := wstream.ToInt(m["ts"])
	x, xok := wstream.ToFloat(m["temp"])
	if !ok || !tok || !xok {
		return wstream.None, fmt.Errorf("page-hinkley wants a reading {\"ts\": ms, \"temp\": number}, got %v", v.Value)
	}
	var d detector
	if s, ok := st.Get().Value.([]any); ok && len(s) == 6 {
		d.n, _ = wstream.ToInt(s[0])
		f := []*float64{&d.mean, &d.up, &d.upMin, &d.down, &d.downMax}
		for i, p := range f {
			*p, _ = wstream.ToFloat(s[i+1])
		}
	}
	before := d.mean
	if dir := d.observe(x); dir != "" {
		st.Remove()
		return wstream.Some(map[string]any{"sensor": key, "time": ts, "direction": dir,
			"detail": fmt.Sprintf("mean %.2f over %d readings, now %.2f", before, d.n-1, x)}), nil
	}
	st.Update([]any{d.n, d.mean, d.up, d.upMin, d.down, d.downMax})
	return wstream.None, nil
}
