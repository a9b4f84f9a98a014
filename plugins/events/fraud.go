package main

import (
	"fmt"
	"math"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// The rules of examples/fraud. A card needs this much history before its
// amounts are judged, and an amount this many times the card's average is
// suspect; two places this far apart, reached faster than an airliner
// flies, are too.
const (
	minHistory    = 5
	amountFactor  = 4.0
	farKm         = 100.0
	maxSpeedKmH   = 800.0
	burstMinCount = 5
)

func init() {
	wstream.MapState("card-check", cardCheck)
	wstream.FlatMap("burst-alert", burstAlert)
}

// cardCheck keeps, per card, the count and total of its trusted
// transactions and the place and time of the last one, and flags a
// transaction whose amount is far above the card's average or whose place
// cannot be reached from the last one in the time between them. A flagged
// transaction does not enter the card's history, so one stolen use does
// not hide the next or flag the owner's return home. An idle card's state
// is dropped at the stage's timeout, with no output.
func cardCheck(_ int64, card any, v wstream.Option, st *wstream.State) (wstream.Option, error) {
	if st.IsTimingOut() {
		return wstream.None, nil
	}
	tx, err := readTx(v.Value)
	if err != nil {
		return wstream.None, err
	}
	var h history
	if s, ok := st.Get().Value.([]any); ok {
		h = readHistory(s)
	}
	if h.n >= minHistory && tx.amount > amountFactor*h.total/float64(h.n) {
		return alert(card, "amount", tx.ts, fmt.Sprintf("%.2f against an average of %.2f", tx.amount, h.total/float64(h.n))), nil
	}
	if h.n > 0 {
		km := distanceKm(h.lat, h.lon, tx.lat, tx.lon)
		hours := float64(tx.ts-h.ts) / 3.6e6
		if km > farKm && (hours <= 0 || km/hours > maxSpeedKmH) {
			return alert(card, "travel", tx.ts, fmt.Sprintf("%.0f km in %.0f min", km, hours*60)), nil
		}
	}
	st.Update([]any{h.n + 1, h.total + tx.amount, tx.lat, tx.lon, tx.ts})
	return wstream.None, nil
}

// burstAlert turns a per-card window count, [[[start, end], card], n],
// into an alert when the card was used at least burstMinCount times in it.
func burstAlert(x any) ([]any, error) {
	row, ok := x.([]any)
	if !ok || len(row) != 2 {
		return nil, fmt.Errorf("burst-alert wants [[[start, end], card], count], got %v", x)
	}
	wk, ok := row[0].([]any)
	n, nok := wstream.ToInt(row[1])
	if !ok || len(wk) != 2 || !nok {
		return nil, fmt.Errorf("burst-alert wants [[[start, end], card], count], got %v", x)
	}
	w, ok := wk[0].([]any)
	if !ok || len(w) != 2 {
		return nil, fmt.Errorf("burst-alert wants a [start, end] window, got %v", wk[0])
	}
	start, _ := wstream.ToInt(w[0])
	end, _ := wstream.ToInt(w[1])
	if n < burstMinCount {
		return nil, nil
	}
	return []any{alert(wk[1], "burst", start, fmt.Sprintf("%d transactions in %d s", n, (end-start)/1000)).Value}, nil
}

func alert(card any, pattern string, ts int64, detail string) wstream.Option {
	return wstream.Some(map[string]any{"card": card, "pattern": pattern, "time": ts, "detail": detail})
}

type transaction struct {
	ts       int64
	amount   float64
	lat, lon float64
}

func readTx(x any) (transaction, error) {
	m, ok := x.(map[string]any)
	if !ok {
		return transaction{}, fmt.Errorf("card-check wants a transaction object, got %T", x)
	}
	var tx transaction
	var oks [4]bool
	tx.ts, oks[0] = wstream.ToInt(m["ts"])
	tx.amount, oks[1] = wstream.ToFloat(m["amount"])
	tx.lat, oks[2] = wstream.ToFloat(m["lat"])
	tx.lon, oks[3] = wstream.ToFloat(m["lon"])
	for i, name := range []string{"ts", "amount", "lat", "lon"} {
		if !oks[i] {
			return transaction{}, fmt.Errorf("transaction has no numeric %q: %v", name, m)
		}
	}
	return tx, nil
}

// history is a card's state: [n, total, lat, lon, ts].
type history struct {
	n        int64
	total    float64
	lat, lon float64
	ts       int64
}

func readHistory(s []any) history {
	var h history
	if len(s) == 5 {
		h.n, _ = wstream.ToInt(s[0])
		h.total, _ = wstream.ToFloat(s[1])
		h.lat, _ = wstream.ToFloat(s[2])
		h.lon, _ = wstream.ToFloat(s[3])
		h.ts, _ = wstream.ToInt(s[4])
	}
	return h
}

// distanceKm is the great-circle distance (haversine, mean Earth radius).
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * 6371 * math.Asin(math.Sqrt(a))
}
