// Command accesslog is the plugin of examples/logs: it parses web-server
// access logs in the combined log format, and turns per-endpoint window
// counts into top-N lists and error-rate alerts.
//
// Build it with `make plugins`.
package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	wstream "github.com/wstream/wstream/guest-sdk/go"
)

// The alert threshold on an endpoint's share of 5xx answers in a window,
// and the length of the top list.
const (
	alertRate = 0.2
	topN      = 3
)

func init() {
	wstream.Plugin("accesslog", "1.0.0")
	wstream.Map("parse-combined", parseCombined)
	wstream.Map("top-candidate", topCandidate)
	wstream.Reduce("top", top)
	wstream.FlatMap("error-rate-alert", errorRateAlert)
}

// parseCombined parses one line of the combined log format,
//
//	HOST IDENT USER [02/Jan/2006:15:04:05 -0700] "METHOD PATH PROTO" STATUS BYTES "REFERER" "AGENT"
//
// into {host, ts (ms), method, path, endpoint, status, bytes, error}:
// endpoint is the path without its query and with numeric segments as
// :id, and error is 1 for a 5xx status, else 0, so that avg gives a rate.
func parseCombined(x any) (any, error) {
	line, ok := x.(string)
	if !ok {
		return nil, fmt.Errorf("parse-combined wants a text line, got %T", x)
	}
	host, rest, ok1 := strings.Cut(line, " ")
	_, rest, ok2 := strings.Cut(rest, "[")
	stamp, rest, ok3 := strings.Cut(rest, "] \"")
	request, rest, ok4 := strings.Cut(rest, "\" ")
	if !(ok1 && ok2 && ok3 && ok4) {
		return nil, fmt.Errorf("not a combined log line: %q", line)
	}
	t, err := time.Parse("02/Jan/2006:15:04:05 -0700", stamp)
	if err != nil {
		return nil, fmt.Errorf("bad time [%s] in %q", stamp, line)
	}
	req := strings.Fields(request)
	fields := strings.Fields(rest)
	if len(req) != 3 || len(fields) < 2 {
		return nil, fmt.Errorf("not a combined log line: %q", line)
	}
	status, err := strconv.Atoi(fields[0])
	if err != nil || status < 100 || status > 599 {
		return nil, fmt.Errorf("bad status %q in %q", fields[0], line)
	}
	size, _ := strconv.ParseInt(fields[1], 10, 64) // "-" for no body: 0
	isErr := 0
	if status >= 500 {
		isErr = 1
	}
	return map[string]any{
		"host": host, "ts": t.UnixMilli(), "method": req[0], "path": req[1],
		"endpoint": endpoint(req[1]), "status": status, "bytes": size, "error": isErr,
	}, nil
}

// endpoint drops the query and replaces numeric path segments by :id, so
// /products/42?ref=x and /products/7 count as one endpoint.
func endpoint(path string) string {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if _, err := strconv.Atoi(s); err == nil {
			segs[i] = ":id"
		}
	}
	return strings.Join(segs, "/")
}

// topCandidate turns a window count [[[start, end], endpoint], n] into
// [[start, end], [[endpoint, n]]]: keyed by window, a list that top merges.
func topCandidate(x any) (any, error) {
	w, ep, n, err := windowRow(x)
	if err != nil {
		return nil, err
	}
	return wstream.Pair(w, []any{[]any{ep, n}}), nil
}

// top merges two lists of [endpoint, n] and keeps the topN largest n
// (ties by endpoint name, so the result does not depend on the order).
func top(a, b any) (any, error) {
	la, ok1 := a.([]any)
	lb, ok2 := b.([]any)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("top wants lists of [endpoint, count], got %v and %v", a, b)
	}
	all := append(slices.Clone(la), lb...)
	slices.SortFunc(all, func(x, y any) int {
		px, py := x.([]any), y.([]any)
		nx, _ := wstream.ToInt(px[1])
		ny, _ := wstream.ToInt(py[1])
		if nx != ny {
			return int(ny - nx)
		}
		return strings.Compare(fmt.Sprint(px[0]), fmt.Sprint(py[0]))
	})
	return all[:min(len(all), topN)], nil
}

// errorRateAlert turns a window's 5xx rate of an endpoint, [[[start,
// end], endpoint], rate], into an alert when it is over alertRate.
func errorRateAlert(x any) ([]any, error) {
	w, ep, v, err := windowRow(x)
	if err != nil {
		return nil, err
	}
	rate, ok := wstream.ToFloat(v)
	if !ok {
		return nil, fmt.Errorf("error-rate-alert wants a 5xx rate, got %v", v)
	}
	if rate <= alertRate {
		return nil, nil
	}
	return []any{map[string]any{"window": w, "endpoint": ep, "rate": rate}}, nil
}

// windowRow splits [[[start, end], key], value].
func windowRow(x any) (window, key, value any, err error) {
	row, ok := x.([]any)
	if ok && len(row) == 2 {
		if wk, ok := row[0].([]any); ok && len(wk) == 2 {
			return wk[0], wk[1], row[1], nil
		}
	}
	return nil, nil, nil, fmt.Errorf("want a keyed window row [[[start, end], key], value], got %v", x)
}
