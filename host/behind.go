package host

import (
	"fmt"
	"log/slog"
	"time"
)

// behindEvery is how often, at most, a run says it is falling behind: once
// per episode would drown the log of a pipeline at the edge of its
// capacity, where batches fall behind and catch up every few seconds.
const behindEvery = 30 * time.Second

// lateness reports batches that end after the next batch was due, under
// the system clock: the first at once with its numbers, then at most one
// line every behindEvery with the numbers since the last, and after a
// line, one more when the batches catch up.
type lateness struct {
	log      *slog.Logger
	interval time.Duration

	lastLog time.Time // the last falling-behind line
	// since the last line
	batches, late       int
	proc, maxProc, over time.Duration
	// after a line, until the batches catch up
	owed    bool
	episode int       // late batches since the line began the stretch
	since   time.Time // when that stretch began
}

func newLateness(log *slog.Logger, interval time.Duration) *lateness {
	return &lateness{log: log, interval: interval}
}

// batch notes a batch at time t (ms) that ran from start to end, when the
// next batch was due at next (ms).
func (l *lateness) batch(t int64, start, end time.Time, next int64) {
	took := end.Sub(start)
	over := end.Sub(time.UnixMilli(next))
	l.batches++
	l.proc += took
	l.maxProc = max(l.maxProc, took)
	if over <= 0 {
		return
	}
	l.late++
	l.over = max(l.over, over)
	if l.owed {
		l.episode++
	}
	if !l.lastLog.IsZero() && end.Sub(l.lastLog) < behindEvery {
		return
	}
	const help = "batches run back to back until they catch up (a longer batch interval, maxRate or backpressure: true would help)"
	if l.lastLog.IsZero() {
		l.log.Warn(fmt.Sprintf("falling behind: batch %d ms took %v with a %v interval and ended %v after the next batch was due; %s",
			t, round(took), l.interval, round(over), help))
	} else {
		l.log.Warn(fmt.Sprintf("falling behind: in the last %v, %d of %d batches ended after the next was due, by up to %v; a batch took %v on average (at most %v) with a %v interval; %s",
			round(end.Sub(l.lastLog)), l.late, l.batches, round(l.over), round(l.proc/time.Duration(l.batches)), round(l.maxProc), l.interval, help))
	}
	if !l.owed {
		l.owed, l.episode, l.since = true, 1, end
	}
	l.lastLog = end
	l.batches, l.late, l.proc, l.maxProc, l.over = 0, 0, 0, 0, 0
}

// caughtUp notes that the scheduler waited for a batch time: the batches
// keep up again. It is said once after each falling-behind line.
func (l *lateness) caughtUp(now time.Time) {
	if !l.owed {
		return
	}
	l.owed = false
	l.log.Info(fmt.Sprintf("caught up: batches keep up with the %v interval again, after %d late batches over %v", l.interval, l.episode, round(now.Sub(l.since))))
}

// round keeps a duration readable in a log line.
func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
