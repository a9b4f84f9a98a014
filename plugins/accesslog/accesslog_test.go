package main

import (
	"reflect"
	"testing"
)

func TestParseCombined(t *testing.T) {
	got, err := parseCombined(`10.0.0.1 - frank [01/May/2024:12:00:01 +0000] "GET /products/42?ref=x HTTP/1.1" 503 - "-" "curl/8.5.0"`)
	want := map[string]any{"host": "10.0.0.1", "ts": int64(1714564801000), "method": "GET", "path": "/products/42?ref=x",
		"endpoint": "/products/:id", "status": 503, "bytes": int64(0), "error": 1}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, %v\nwant %v", got, err, want)
	}
	for _, bad := range []string{`10.0.0.1 - - [01/May/2024:12:00:01 +0000] "GET /pr`, `x - - [yesterday] "GET / HTTP/1.1" 200 1 "-" "-"`, `x - - [01/May/2024:12:00:01 +0000] "GET / HTTP/1.1" 999 1 "-" "-"`} {
		if _, err := parseCombined(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestTopAndAlert(t *testing.T) {
	w := []any{int64(0), int64(60000)}
	a, _ := topCandidate([]any{[]any{w, "/a"}, int64(5)})
	b, _ := topCandidate([]any{[]any{w, "/b"}, int64(9)})
	got, err := top(a.([]any)[1], b.([]any)[1])
	got, _ = top(got, []any{[]any{"/c", int64(5)}, []any{"/d", int64(1)}})
	want := []any{[]any{"/b", int64(9)}, []any{"/a", int64(5)}, []any{"/c", int64(5)}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("top %v, %v; want %v", got, err, want)
	}
	if out, _ := errorRateAlert([]any{[]any{w, "/a"}, 0.2}); len(out) != 0 {
		t.Errorf("20%% alerted: %v", out)
	}
	out, err := errorRateAlert([]any{[]any{w, "/a"}, 0.5})
	if err != nil || !reflect.DeepEqual(out, []any{map[string]any{"window": w, "endpoint": "/a", "rate": 0.5}}) {
		t.Errorf("50%%: %v, %v", out, err)
	}
	if _, err := errorRateAlert("x"); err == nil {
		t.Error("a string was taken for a window row")
	}
}
