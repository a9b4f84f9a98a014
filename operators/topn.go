package operators

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
)

// topN keeps the N largest rows of each window. Right after a keyed
// aggregateByWindow ([[[start, end], key], value] rows) a window is a
// ranking; after aggregateByKey the whole table is one; anywhere else each
// batch is one (a DStream window's batch is the whole window, as in
// Spark's transform(rdd => rdd.sortBy(-_._2).take(n))). Rows rank by by:
// (default .1, the value), largest first; equal values rank by the row's
// key ([[start, end], key], or the whole row per batch) smallest first, so
// every run gives the same order. It follows the aggregate's output mode:
// append emits a closed window's top N once, complete every window's top
// N each trigger, update the top N of each window a trigger changed,
// which needs each window's rows kept here until the watermark closes it.

func init() { ops["topN"] = buildTopN }

type topNStage struct {
	n     int
	by    *path
	pol   *policy
	label string
	// windowed: rows are [[[start, end], key], value] (a window per
	// [start, end]); keyed: the aggregate had a key (rows of an unkeyed
	// window are [[start, end], value]). Neither: one ranking.
	windowed, keyed bool
	agg             *aggregateStage // nil: rank each batch on its own

	// update mode: each window's rows by their key, kept until the
	// watermark passes the window's end.
	tables map[string]map[string]abi.Raw
}

func buildTopN(b *builder, s pipeline.Stage, label string) (stage, error) {
	if err := only(s, label, "n", "by", "onError"); err != nil {
		return nil, err
	}
	if s.N < 1 {
		return nil, fmt.Errorf("%s needs n: (how many rows to keep per window, 1 or more), e.g. {op: topN, n: 3}", label)
	}
	by := s.By
	if by == "" {
		by = ".1"
	}
	if !isPath(by) {
		return nil, fmt.Errorf("%s: by: %q is not a path; give one such as .1 (the value of [key, value]) or .1.total", label, by)
	}
	p, err := parsePath(by)
	if err != nil {
		return nil, fmt.Errorf("%s: by: %w", label, err)
	}
	pol, err := b.policy(s, label)
	if err != nil {
		return nil, err
	}
	t := &topNStage{n: s.N, by: p, pol: pol, label: label}
	if a, ok := b.prev.(*aggregateStage); ok && !a.byTime {
		t.agg, t.windowed, t.keyed = a, a.windowed, a.key != nil || !a.windowed
		if a.mode == modeUpdate {
			t.tables = map[string]map[string]abi.Raw{}
		}
	}
	return t, nil
}

// rowKey splits a row into its window (nil for one ranking) and its key
// within the window.
func (t *topNStage) rowKey(r abi.Raw) (win, key abi.Raw, err error) {
	if t.agg == nil {
		return nil, r, nil
	}
	k, _, err := abi.SplitPair(r)
	if err != nil {
		return nil, nil, err
	}
	if !t.windowed {
		return nil, k, nil
	}
	if !t.keyed {
		return k, k, nil
	}
	w, _, err := abi.SplitPair(k)
	return w, k, err
}

type rankedRow struct {
	key, by, row abi.Raw
}

func (t *topNStage) process(_ context.Context, _ int64, in []abi.Raw) ([]abi.Raw, bool, error) {
	defer t.pol.flush()
	groups := map[string][]rankedRow{}
	var order []string
	for _, r := range in {
		win, key, err := t.rowKey(r)
		if err != nil {
			return nil, false, fmt.Errorf("%s: the aggregate before it emitted %s, not a window row", t.label, abi.Describe(r))
		}
		v, err := t.by.get(r)
		if err != nil {
			if err := t.pol.reject(r, fmt.Sprintf("by %s: %v", t.by.text, err)); err != nil {
				return nil, false, err
			}
			continue
		}
		if _, seen := groups[string(win)]; !seen {
			order = append(order, string(win))
		}
		groups[string(win)] = append(groups[string(win)], rankedRow{key: key, by: v, row: r})
	}
	if t.tables != nil {
		for _, w := range order {
			tab := t.tables[w]
			if tab == nil {
				tab = map[string]abi.Raw{}
				t.tables[w] = tab
			}
			for _, r := range groups[w] {
				tab[string(r.key)] = append(abi.Raw(nil), r.row...)
			}
			rows := make([]rankedRow, 0, len(tab))
			for k, row := range tab {
				v, _ := t.by.get(row) // read once on the way in
				rows = append(rows, rankedRow{key: abi.Raw(k), by: v, row: row})
			}
			groups[w] = rows
		}
	}
	slices.SortFunc(order, func(a, b string) int { return cmpRaw(abi.Raw(a), abi.Raw(b)) })
	var out []abi.Raw
	for _, w := range order {
		rows := groups[w]
		var bad error
		slices.SortStableFunc(rows, func(a, b rankedRow) int {
			if d := cmpBy(a.by, b.by, &bad); d != 0 {
				return -d
			}
			return cmpRaw(a.key, b.key)
		})
		if bad != nil {
			return nil, false, fmt.Errorf("%s: cannot rank the rows of one window by %s: %v; point by: at numbers or at strings", t.label, t.by.text, bad)
		}
		for i := 0; i < len(rows) && i < t.n; i++ {
			out = append(out, rows[i].row)
		}
	}
	t.evict()
	return out, true, nil
}

// evict forgets the windows the aggregate evicts: those whose end the
// watermark in effect this trigger has reached.
func (t *topNStage) evict() {
	if t.tables == nil || !t.windowed || !t.agg.evicts {
		return
	}
	wm := t.agg.clock.wm
	for w := range t.tables {
		_, end, err := abi.SplitPair(abi.Raw(w))
		if err != nil {
			continue
		}
		if e, _, err := abi.ReadInt(end); err == nil && e <= wm {
			delete(t.tables, w)
		}
	}
}

// cmpBy orders ranking values: nulls below everything, then compare's
// order; the first error is kept in bad.
func cmpBy(a, b abi.Raw, bad *error) int {
	an, bn := abi.IsNil(a), abi.IsNil(b)
	switch {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	d, err := compare(a, b)
	if err != nil && *bad == nil {
		*bad = err
	}
	return d
}

// cmpRaw orders keys: as compare does when it can (numbers by value,
// strings by bytes), else by their encoding, so that any two keys have
// one order.
func cmpRaw(a, b abi.Raw) int {
	if d, err := compare(a, b); err == nil {
		if d != 0 {
			return d
		}
	}
	return bytes.Compare(a, b)
}

// snapshot writes update mode's tables as [[window, [row, ...]], ...] in
// window order, rows in key order; other modes keep nothing.
func (t *topNStage) snapshot(dst []byte) []byte {
	wins := make([]string, 0, len(t.tables))
	for w := range t.tables {
		wins = append(wins, w)
	}
	slices.SortFunc(wins, func(a, b string) int { return cmpRaw(abi.Raw(a), abi.Raw(b)) })
	dst = abi.AppendArrayHeader(dst, len(wins))
	for _, w := range wins {
		dst = abi.AppendArrayHeader(dst, 2)
		dst = append(dst, w...)
		keys := make([]string, 0, len(t.tables[w]))
		for k := range t.tables[w] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = abi.AppendArrayHeader(dst, len(keys))
		for _, k := range keys {
			dst = append(dst, t.tables[w][k]...)
		}
	}
	return dst
}

func (t *topNStage) restore(b []byte) error {
	n, rest, err := abi.ArrayHeader(b)
	if err != nil {
		return fmt.Errorf("topN state: %w", err)
	}
	if n > 0 && t.tables == nil {
		return fmt.Errorf("topN state holds windows, but this topN keeps none (its aggregate is not in update mode)")
	}
	for i := 0; i < n; i++ {
		var m int
		var w abi.Raw
		if m, rest, err = abi.ArrayHeader(rest); err != nil || m != 2 {
			return fmt.Errorf("topN state, window %d: malformed", i)
		}
		if w, rest, err = abi.Next(rest); err != nil {
			return fmt.Errorf("topN state, window %d: %w", i, err)
		}
		if m, rest, err = abi.ArrayHeader(rest); err != nil {
			return fmt.Errorf("topN state, window %d: %w", i, err)
		}
		tab := map[string]abi.Raw{}
		for j := 0; j < m; j++ {
			var row abi.Raw
			if row, rest, err = abi.Next(rest); err != nil {
				return fmt.Errorf("topN state, window %d row %d: %w", i, j, err)
			}
			_, key, err := t.rowKey(row)
			if err != nil {
				return fmt.Errorf("topN state, window %d row %d: not a window row", i, j)
			}
			tab[string(key)] = append(abi.Raw(nil), row...)
		}
		t.tables[string(w)] = tab
	}
	return nil
}
