package host

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/host/logs"
)

// A run that stays behind says so at once, then once per behindEvery with
// the numbers of that stretch, and once more when it catches up: never a
// line per batch. A run that falls behind and catches up again and again
// says so at most once per behindEvery.
func TestLatenessIsRateLimited(t *testing.T) {
	var log bytes.Buffer
	l := newLateness(slog.New(logs.NewText(&log, slog.LevelInfo)), 100*time.Millisecond)
	const t0 = 1700000000000
	at := func(ms int64) time.Time { return time.UnixMilli(t0 + ms) }
	// 100ms batches that each take 150ms: every one ends after the next is
	// due, by 50ms more each time. 45s of them is 300 batches.
	end := int64(100)
	for k := int64(1); k <= 300; k++ {
		start := end
		end = start + 150
		l.batch(t0+k*100, at(start), at(end), t0+(k+1)*100)
	}
	l.caughtUp(at(end + 10))
	want := []string{
		"wstream: warning: falling behind: batch 1700000000100 ms took 150ms with a 100ms interval and ended 50ms after the next batch was due; batches run back to back until they catch up (a longer batch interval, maxRate or backpressure: true would help)",
		"wstream: warning: falling behind: in the last 30s, 200 of 200 batches ended after the next was due, by up to 10.1s; a batch took 150ms on average (at most 150ms) with a 100ms interval; batches run back to back until they catch up (a longer batch interval, maxRate or backpressure: true would help)",
		"wstream: caught up: batches keep up with the 100ms interval again, after 300 late batches over 44.9s",
	}
	if got := strings.Split(strings.TrimSpace(log.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLatenessFlappingIsRateLimited(t *testing.T) {
	var log bytes.Buffer
	l := newLateness(slog.New(logs.NewText(&log, slog.LevelInfo)), 100*time.Millisecond)
	const t0 = 1700000000000
	at := func(ms int64) time.Time { return time.UnixMilli(t0 + ms) }
	// For 60s, one batch in ten runs 50ms late and the next catches up.
	for k := int64(1); k <= 600; k++ {
		end := k*100 + 50
		if k%10 == 0 {
			end = (k+1)*100 + 50
		}
		l.batch(t0+k*100, at(k*100), at(end), t0+(k+1)*100)
		if k%10 == 1 {
			l.caughtUp(at(end))
		}
	}
	got := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(got) != 4 {
		t.Fatalf("%d lines for 60 late batches in 60s, want 4 (two reports, each caught up once):\n%s", len(got), log.String())
	}
	if !strings.Contains(got[2], "falling behind: in the last 30s, 30 of 300 batches ended after the next was due, by up to 50ms") {
		t.Errorf("the second report: %s", got[2])
	}
}
