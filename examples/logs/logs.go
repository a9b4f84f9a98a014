// Package logs generates the web-server access logs of the logs example:
// steady traffic over a few endpoints, a few malformed lines, and one
// outage of one endpoint at a known time.
package logs

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Config sizes a generated log.
type Config struct {
	Seed    uint64
	Minutes int     // length of the log
	Rate    float64 // requests per second
	// The outage: OutageEndpoint answers half its requests with 503 from
	// OutageStart for OutageLength.
	OutageEndpoint            string
	OutageStart, OutageLength time.Duration
}

// Start is the time of the first request.
var Start = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// endpoints and their share of the traffic.
var endpoints = []struct {
	path   func(r *rand.Rand) string
	weight int
}{
	{func(*rand.Rand) string { return "/" }, 30},
	{func(r *rand.Rand) string { return fmt.Sprintf("/products/%d", r.IntN(500)) }, 25},
	{func(r *rand.Rand) string { return fmt.Sprintf("/search?q=item%d", r.IntN(50)) }, 15},
	{func(*rand.Rand) string { return "/api/cart" }, 10},
	{func(*rand.Rand) string { return "/api/checkout" }, 8},
	{func(*rand.Rand) string { return "/login" }, 7},
	{func(*rand.Rand) string { return "/static/app.js" }, 5},
}

var agents = []string{
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15",
	"curl/8.5.0",
}

// Write writes the log, in time order, and returns the number of lines.
// Outside the outage, 0.5% of requests fail with 500, 3% are 404 and 2%
// 304; every 1000th line is malformed (cut short), as real logs have some.
func Write(w io.Writer, cfg Config) (int, error) {
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x1065))
	total := 0
	for _, e := range endpoints {
		total += e.weight
	}
	n := int(float64(cfg.Minutes) * 60 * cfg.Rate)
	step := time.Duration(float64(time.Second) / cfg.Rate)
	for i := range n {
		t := Start.Add(time.Duration(i) * step)
		k := r.IntN(total)
		ep := 0
		for ; k >= endpoints[ep].weight; ep++ {
			k -= endpoints[ep].weight
		}
		path := endpoints[ep].path(r)
		status, size := 200, 200+r.IntN(20000)
		in := t.Sub(Start) >= cfg.OutageStart && t.Sub(Start) < cfg.OutageStart+cfg.OutageLength
		switch p := r.Float64(); {
		case in && path == cfg.OutageEndpoint && p < 0.5:
			status, size = 503, 0
		case p < 0.005:
			status, size = 500, 0
		case p < 0.035:
			status, size = 404, 150
		case p < 0.055:
			status, size = 304, 0
		}
		method := "GET"
		if path == "/api/checkout" || path == "/login" {
			method = "POST"
		}
		line := fmt.Sprintf("10.0.%d.%d - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\"\n",
			r.IntN(256), r.IntN(256), t.Format("02/Jan/2006:15:04:05 -0700"), method, path, status, size, agents[r.IntN(len(agents))])
		if i%1000 == 999 {
			line = line[:len(line)/3] + "\n"
		}
		if _, err := io.WriteString(w, line); err != nil {
			return i, err
		}
	}
	return n, nil
}
