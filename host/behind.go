package host

import (
	"fmt"
	"log/slog"
	"time"
)

// behindEvery is how often a run that keeps falling behind says so again:
// once per episode would hide how bad it gets, once per batch would drown
// the log at 10ms batches.
const behindEvery = 30 * time.Second

// lateness reports batches that end after the next batch was due, under
// the system clock: the first at once, then a summary every behindEvery
// while it lasts, and a line when the batches catch up.
type lateness struct {
	log      *slog.Logger
	interval time.Duration

	behind   bool
	since    time.Time // the episode's first late batch
	lastLog  time.Time
	episode  int // late batches in the episode
	batches  int // batches since the last line
	late     int // of which late
	proc     time.Duration
	maxProc  time.Duration
	maxDelay time.Duration // how far past the next batch time a batch ended
}

func newLateness(log *slog.Logger, interval time.Duration) *lateness {
	return &lateness{log: log, interval: interval}
}

// batch notes a batch at time t (ms) that ran from start to end, when the
// next batch was due at next (ms).
func (l *lateness) batch(t int64, start, end time.Time, next int64) {
	took := end.Sub(start)
	over := end.Sub(time.UnixMilli(next))
	if !l.behind {
		if over <= 0 {
			return
		}
		l.behind, l.since, l.lastLog, l.episode = true, end, end, 1
		l.batches, l.late, l.proc, l.maxProc, l.maxDelay = 0, 0, 0, 0, 0
		l.log.Warn(fmt.Sprintf("falling behind: batch %d ms took %v with a %v interval and ended %v after the next batch was due; batches run back to back until they catch up (a longer batch interval, maxRate or backpressure: true would help)",
			t, round(took), l.interval, round(over)))
		return
	}
	l.batches++
	l.proc += took
	l.maxProc = max(l.maxProc, took)
	if over > 0 {
		l.late++
		l.episode++
		l.maxDelay = max(l.maxDelay, over)
	}
	if end.Sub(l.lastLog) < behindEvery {
		return
	}
	l.log.Warn(fmt.Sprintf("still falling behind: in the last %v, %d of %d batches ended after the next was due, by up to %v; a batch took %v on average (at most %v) with a %v interval",
		round(end.Sub(l.lastLog)), l.late, l.batches, round(l.maxDelay), round(l.proc/time.Duration(max(l.batches, 1))), round(l.maxProc), l.interval))
	l.lastLog = end
	l.batches, l.late, l.proc, l.maxProc, l.maxDelay = 0, 0, 0, 0, 0
}

// caughtUp notes that the scheduler waited for a batch time: the batches
// keep up again.
func (l *lateness) caughtUp(now time.Time) {
	if !l.behind {
		return
	}
	l.behind = false
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
