// Package lambdakappa generates the page views of the Lambda and Kappa
// example, computes the answer each architecture must give, and reads and
// merges the views that the pipelines write.
package lambdakappa

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"github.com/wstream/wstream/examples/internal/jsonl"
)

// View is one page view, as the generator writes it. A retried delivery
// repeats a view with its ID.
type View struct {
	ID   string `json:"id"`
	TS   int64  `json:"ts"` // event time, ms
	Page string `json:"page"`
	User string `json:"user"`
}

// Config sizes a generated log. The log spans Minutes of event time; the
// first Archived minutes are what the last batch run saw (archive.jsonl),
// the rest the recent stream (recent.jsonl).
type Config struct {
	Seed     uint64
	Minutes  int
	Archived int
	Rate     int     // views per minute, on average
	Retries  float64 // share of views delivered twice
}

const minute = int64(60_000)

// Pages, most viewed first.
var pages = []string{"/", "/products", "/search", "/cart", "/checkout", "/account", "/help", "/about"}

// Generate returns the log in event-time order. A retried view is
// delivered again later within its own minute, so a minute of the log
// holds both copies (each layer of the Lambda example sees a view's
// retries with it).
func Generate(cfg Config) ([]View, error) {
	if cfg.Minutes < 2 || cfg.Archived < 1 || cfg.Archived >= cfg.Minutes || cfg.Rate < 1 || cfg.Retries < 0 || cfg.Retries > 1 {
		return nil, fmt.Errorf("generate: want 0 < archived < minutes, a rate of at least 1 and a retry share in [0, 1], got %d archived of %d minutes, rate %d, retries %v", cfg.Archived, cfg.Minutes, cfg.Rate, cfg.Retries)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x1a3bda))
	var log []View
	n := 0
	for m := range int64(cfg.Minutes) {
		var line []View
		for range cfg.Rate/2 + r.IntN(cfg.Rate+1) {
			// Page i is viewed about twice as often as page i+1.
			p := 0
			for p < len(pages)-1 && r.IntN(2) == 0 {
				p++
			}
			v := View{ID: fmt.Sprintf("v%07d", n), TS: m*minute + r.Int64N(minute-1000), Page: pages[p], User: fmt.Sprintf("u%03d", r.IntN(500))}
			n++
			line = append(line, v)
			if r.Float64() < cfg.Retries {
				line = append(line, v) // the same view: only its delivery repeats
			}
		}
		slices.SortStableFunc(line, func(a, b View) int { return int(a.TS - b.TS) })
		// A retry arrives after its original, anywhere later in the minute.
		for i := 1; i < len(line); i++ {
			if line[i].ID == line[i-1].ID {
				j := i + r.IntN(len(line)-i)
				d := line[i]
				copy(line[i:j], line[i+1:j+1])
				line[j] = d
			}
		}
		log = append(log, line...)
	}
	return log, nil
}

// Minute is the minute of the log a view was delivered in.
func Minute(v View) int { return int(v.TS / minute) }

// Counts is a view of the question: views per page.
type Counts map[string]int64

// Truth is the answer computed from the log itself: views per page, each
// view counted once however often it was delivered (dedup) or once per
// delivery (the first version of the pipeline's logic).
func Truth(log []View, dedup bool) Counts {
	c := Counts{}
	seen := map[string]bool{}
	for _, v := range log {
		if dedup && seen[v.ID] {
			continue
		}
		seen[v.ID] = true
		c[v.Page]++
	}
	return c
}

// Merge is the Lambda serving layer: the batch view plus the speed view.
func Merge(batch, speed Counts) Counts {
	c := Counts{}
	for k, n := range batch {
		c[k] += n
	}
	for k, n := range speed {
		c[k] += n
	}
	return c
}

// WriteLines writes views as JSON lines (file:PATH?format=json).
func WriteLines(w io.Writer, views []View) error { return jsonl.WriteLines(w, views) }

// WriteBatches writes the views of minutes [from, to) as a batches: file,
// a line a minute, so with `batch: 1m` and the manual clock a line is a
// minute of the stream.
func WriteBatches(w io.Writer, log []View, from, to int) error {
	return jsonl.WriteMinutes(w, log, Minute, from, to)
}

// ReadView reads the current view from a jsonl: sink written in complete
// output mode: its last line is the whole table of [page, count] rows. A
// file with no line is an empty view.
func ReadView(path string) (Counts, error) {
	lines, err := jsonl.ReadLines[struct{ Records [][2]json.RawMessage }](path)
	if err != nil {
		return nil, fmt.Errorf("%s: not the jsonl: sink of [page, count] rows: %v", path, err)
	}
	c := Counts{}
	if len(lines) == 0 {
		return c, nil
	}
	for _, r := range lines[len(lines)-1].Records {
		var page string
		var n int64
		if json.Unmarshal(r[0], &page) != nil || json.Unmarshal(r[1], &n) != nil {
			return nil, fmt.Errorf("%s: row [%s, %s] is not [page, count]", path, r[0], r[1])
		}
		c[page] = n
	}
	return c, nil
}

// Diff lists the pages whose counts differ between got and want, empty
// when the views agree.
func Diff(got, want Counts) []string {
	var d []string
	for _, k := range slices.Sorted(keys(got, want)) {
		if got[k] != want[k] {
			d = append(d, fmt.Sprintf("%s: %d, want %d", k, got[k], want[k]))
		}
	}
	return d
}

func keys(a, b Counts) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range a {
			if !yield(k) {
				return
			}
		}
		for k := range b {
			if _, ok := a[k]; !ok && !yield(k) {
				return
			}
		}
	}
}
