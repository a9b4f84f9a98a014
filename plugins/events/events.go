// Command events is the plugin of the README's keyed-state examples, over
// JSON events: per-card state for fraud checks (mapWithState with an idle
// timeout), keys for joining ad impressions with their clicks, and the
// rules of examples/fraud (fraud.go).
//
// Build it with `make plugins`.
package main

import (
	"fmt"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

func init() {
	wstream.Plugin("events", "1.0.0")
	wstream.Map("by-card", keyBy("card"))
	wstream.Map("by-impression", keyBy("impression"))
	wstream.MapState("card-activity", cardActivity)
}

// keyBy makes [event[field], event] pairs, the input of keyed operators.
func keyBy(field string) func(any) (any, error) {
	return func(x any) (any, error) {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want a JSON object with a %q field, got %T", field, x)
		}
		k, ok := m[field]
		if !ok {
			return nil, fmt.Errorf("event has no %q field", field)
		}
		return wstream.Pair(k, x), nil
	}
}

// cardActivity keeps, per card, the number and total of its transactions.
// It emits an alert for a transaction over three times the card's average
// (once the card has three), and a summary when the card has been idle for
// the stage's timeout, after which its state is gone.
func cardActivity(_ int64, card any, tx wstream.Option, st *wstream.State) (wstream.Option, error) {
	n, total := int64(0), 0.0
	if s, ok := st.Get().Value.([]any); ok && len(s) == 2 {
		n, _ = wstream.ToInt(s[0])
		total, _ = wstream.ToFloat(s[1])
	}
	if st.IsTimingOut() {
		return wstream.Some(map[string]any{"card": card, "event": "idle", "transactions": n, "total": total}), nil
	}
	m, ok := tx.Value.(map[string]any)
	if !ok {
		return wstream.None, fmt.Errorf("card-activity wants a transaction object, got %T", tx.Value)
	}
	amount, ok := wstream.ToFloat(m["amount"])
	if !ok {
		return wstream.None, fmt.Errorf("transaction has no numeric amount: %v", m["amount"])
	}
	var out wstream.Option
	if avg := total / float64(max(n, 1)); n >= 3 && amount > 3*avg {
		out = wstream.Some(map[string]any{"card": card, "event": "alert", "amount": amount, "average": avg})
	}
	st.Update([]any{n + 1, total + amount})
	return out, nil
}
