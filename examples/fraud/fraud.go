// Package fraud generates the card transactions of the fraud example, with
// known frauds injected among them, and checks a run's alerts against
// those frauds.
package fraud

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/wstream/wstream/examples/internal/jsonl"
)

// Transaction is one card payment, as the generator writes it.
type Transaction struct {
	ID     string  `json:"id"`
	Card   string  `json:"card"`
	TS     int64   `json:"ts"` // event time, ms
	Amount float64 `json:"amount"`
	City   string  `json:"city"`
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
}

// Alert is what the pipeline flags, and what the generator injected:
// a card, a pattern (burst, amount or travel) and a time, the flagged
// transaction's, or a burst's window start.
type Alert struct {
	Card    string `json:"card"`
	Pattern string `json:"pattern"`
	Time    int64  `json:"time"`
	Detail  string `json:"detail,omitempty"`
}

// Config sizes a generated data set. Minutes is also the number of
// batches: the generator writes one line per minute of event time.
type Config struct {
	Seed    uint64
	Cards   int
	Minutes int
	Frauds  int // injected per pattern, each on its own card
}

type city struct {
	name     string
	lat, lon float64
}

// Cities at least 300 km apart, so a hop between two within the
// generator's 15-minute gaps is always faster than any flight.
var cities = []city{
	{"Paris", 48.8566, 2.3522}, {"London", 51.5074, -0.1278}, {"Berlin", 52.52, 13.405},
	{"Madrid", 40.4168, -3.7038}, {"Rome", 41.9028, 12.4964}, {"Warsaw", 52.2297, 21.0122},
	{"Stockholm", 59.3293, 18.0686}, {"Lisbon", 38.7223, -9.1393}, {"Athens", 37.9838, 23.7275},
	{"Vienna", 48.2082, 16.3738},
}

const minute = int64(60_000)

type card struct {
	id         string
	home       city
	base       float64
	start, end int64
	txs        []Transaction
}

// Generate returns the transactions, sorted by event time, and the frauds
// injected among them. Normal use: each card shops every 2 to 15 minutes
// in its home city, amounts within ±50% of its own typical amount, and a
// fifth of the cards stop halfway (their state times out). Injected, each
// on its own card: a burst (6 payments in 25 s), an amount 10 to 20 times
// the card's typical one after at least 5 normal payments, and a payment
// in another city minutes after one at home.
func Generate(cfg Config) ([]Transaction, []Alert, error) {
	if cfg.Cards < 3*cfg.Frauds || cfg.Minutes < 120 {
		return nil, nil, fmt.Errorf("generate: want at least 3 cards per injected fraud and 120 minutes, got %d cards, %d frauds per pattern, %d minutes", cfg.Cards, cfg.Frauds, cfg.Minutes)
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	span := int64(cfg.Minutes) * minute
	cards := make([]*card, cfg.Cards)
	for i := range cards {
		c := &card{id: fmt.Sprintf("c%04d", i), home: cities[r.IntN(len(cities))], base: 5 + r.Float64()*145}
		c.start = r.Int64N(span / 4)
		c.end = span - 5*minute
		if r.IntN(5) == 0 {
			c.end = span/3 + r.Int64N(span/3)
		}
		for ts := c.start + r.Int64N(2*minute); ts < c.end; ts += 2*minute + r.Int64N(13*minute) {
			c.txs = append(c.txs, c.pay(r, ts, c.base*(0.5+r.Float64()), c.home))
		}
		cards[i] = c
	}
	var injected []Alert
	need := map[string]int{"burst": cfg.Frauds, "amount": cfg.Frauds, "travel": cfg.Frauds}
	for _, i := range r.Perm(cfg.Cards) {
		c := cards[i]
		switch {
		case need["burst"] > 0: // 6 payments 5 s apart, inside one minute, at home
			need["burst"]--
			m := (c.start+c.end)/2/minute*minute + minute
			for k := range int64(6) {
				c.txs = append(c.txs, c.pay(r, m+5000*k+r.Int64N(1000), c.base*(0.5+r.Float64()), c.home))
			}
			injected = append(injected, Alert{Card: c.id, Pattern: "burst", Time: m})
		case need["amount"] > 0 && len(c.txs) >= 7: // between the 6th and 7th normal payments
			need["amount"]--
			ts := (c.txs[5].TS + c.txs[6].TS) / 2
			c.txs = append(c.txs, c.pay(r, ts, c.base*(10+10*r.Float64()), c.home))
			injected = append(injected, Alert{Card: c.id, Pattern: "amount", Time: ts})
		case need["travel"] > 0 && len(c.txs) >= 3: // elsewhere, 1 to 2 minutes after a payment at home
			need["travel"]--
			far := cities[r.IntN(len(cities))]
			for far == c.home {
				far = cities[r.IntN(len(cities))]
			}
			ts := c.txs[2].TS + minute + r.Int64N(minute)
			c.txs = append(c.txs, c.pay(r, ts, c.base*(0.5+r.Float64()), far))
			injected = append(injected, Alert{Card: c.id, Pattern: "travel", Time: ts})
		}
	}
	if need["burst"]+need["amount"]+need["travel"] > 0 {
		return nil, nil, fmt.Errorf("generate: too few cards with enough payments for %d frauds of each pattern; use more cards or minutes", cfg.Frauds)
	}
	var all []Transaction
	for _, c := range cards {
		all = append(all, c.txs...)
	}
	slices.SortStableFunc(all, func(a, b Transaction) int { return int(a.TS - b.TS) })
	for i := range all {
		all[i].ID = fmt.Sprintf("t%07d", i)
	}
	SortAlerts(injected)
	return all, injected, nil
}

// pay makes one payment of c at ts, within about 5 km of place.
func (c *card) pay(r *rand.Rand, ts int64, amount float64, place city) Transaction {
	round := func(x, unit float64) float64 { return float64(int64(x/unit+0.5)) * unit }
	return Transaction{Card: c.id, TS: ts, Amount: round(amount, 0.01), City: place.name,
		Lat: round(place.lat+(r.Float64()-0.5)*0.08, 1e-4), Lon: round(place.lon+(r.Float64()-0.5)*0.08, 1e-4)}
}

// WriteBatches writes txs as a batches: file, line k holding the
// payments of event-time minute k (a JSON array, [] for a quiet minute),
// so with `batch: 1m` and the manual clock, batch time follows event time.
func WriteBatches(w io.Writer, txs []Transaction, minutes int) error {
	return jsonl.WriteMinutes(w, txs, func(t Transaction) int { return int(t.TS / minute) }, 0, minutes)
}

// WriteAlerts writes alerts as JSON lines.
func WriteAlerts(w io.Writer, alerts []Alert) error { return jsonl.WriteLines(w, alerts) }

// ReadAlerts reads alerts from a file: either one alert a line, or a
// jsonl: sink's output ({"time": ..., "records": [alert, ...]} a line).
func ReadAlerts(path string) ([]Alert, error) {
	lines, err := jsonl.ReadLines[struct {
		Records *[]Alert `json:"records"`
		Alert
	}](path)
	var alerts []Alert
	for _, line := range lines {
		if line.Records != nil {
			alerts = append(alerts, *line.Records...)
		} else {
			alerts = append(alerts, line.Alert)
		}
	}
	SortAlerts(alerts)
	return alerts, err
}

// Compare matches alerts against the injected frauds by card, pattern and
// time, and returns the frauds missed and the alerts that match none.
func Compare(alerts, injected []Alert) (missed, false_ []Alert) {
	key := func(a Alert) string { return fmt.Sprintf("%s/%s/%d", a.Card, a.Pattern, a.Time) }
	want := map[string]int{}
	for _, a := range injected {
		want[key(a)]++
	}
	for _, a := range alerts {
		if want[key(a)] > 0 {
			want[key(a)]--
		} else {
			false_ = append(false_, a)
		}
	}
	for _, a := range injected {
		if want[key(a)] > 0 {
			want[key(a)]--
			missed = append(missed, a)
		}
	}
	return missed, false_
}

// SortAlerts sorts alerts by time, then card and pattern.
func SortAlerts(a []Alert) {
	slices.SortFunc(a, func(x, y Alert) int {
		if x.Time != y.Time {
			return int(x.Time - y.Time)
		}
		return strings.Compare(x.Card+x.Pattern, y.Card+y.Pattern)
	})
}
