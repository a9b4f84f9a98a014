package host

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/wstream/wstream/abi"
)

// Rate control, as in Spark Streaming: each receiver may be capped at a
// fixed number of records per second (receiver.maxRate), and with
// backpressure on, a PID controller sets the rate from how long batches
// take (backpressure.enabled, PIDRateEstimator). Either way a receiver that
// is over its rate waits before it reads on, so input piles up at the
// source (a socket's sender, a file, a Kafka topic) rather than in wstream;
// the buffers between receivers and batches are bounded as well.

// limiter is a token bucket in records per second, shared by one
// receiver, which waits on it, and the scheduler, which sets its estimate.
// A unit is never split: a unit larger than the bucket is let through and
// the bucket goes into debt, which the next units wait out.
type limiter struct {
	mu        sync.Mutex
	max       float64 // maxRate, 0 for none
	est       float64 // the backpressure estimate, 0 for none
	tokens    float64 // negative: debt
	last      time.Time
	changed   chan struct{} // closed when the rate changes, to wake a waiter
	throttled bool          // a wait slept since the scheduler last looked
	now       func() time.Time
}

func newLimiter(maxRate float64) *limiter {
	return &limiter{max: maxRate, changed: make(chan struct{}), now: time.Now}
}

// rate is the effective rate, 0 for unlimited. l.mu is held.
func (l *limiter) rate() float64 {
	switch {
	case l.max == 0:
		return l.est
	case l.est == 0:
		return l.max
	}
	return min(l.max, l.est)
}

// refill adds the tokens earned since the last refill, up to one second's
// worth (the burst Spark's receivers allow, through Guava's RateLimiter).
// l.mu is held.
func (l *limiter) refill(now time.Time) float64 {
	r := l.rate()
	if r == 0 {
		l.tokens = 0
	} else if !l.last.IsZero() {
		l.tokens = min(l.tokens+now.Sub(l.last).Seconds()*r, r)
	}
	l.last = now
	return r
}

// take takes n tokens and returns how long the caller must wait first: as
// long as the debt of earlier takes needs to be paid off. So a unit goes
// through at once after an idle time, as a first acquire does in Guava's
// RateLimiter (what Spark's receivers use), and the wait falls on the next.
func (l *limiter) take(n int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.refill(l.now()) == 0 {
		return 0
	}
	d := l.debt(0)
	l.tokens -= float64(n)
	return d
}

// debt is how long the debt takes to pay off, not counting the last
// taken tokens, which the next take pays for. l.mu is held.
func (l *limiter) debt(taken int) time.Duration {
	r, owed := l.rate(), -(l.tokens + float64(taken))
	if r == 0 || owed <= 0 {
		return 0
	}
	return time.Duration(owed / r * float64(time.Second))
}

// wait takes n tokens and blocks until they are paid for. A rate change
// (a new estimate) wakes it to recompute, so a receiver never sleeps on a
// rate that no longer holds.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	d := l.take(n)
	for d > 0 {
		l.mu.Lock()
		l.throttled = true
		changed := l.changed
		l.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		case <-changed:
			t.Stop()
		}
		l.mu.Lock()
		l.refill(l.now())
		d = l.debt(n)
		l.mu.Unlock()
	}
	return nil
}

// setEstimate sets the backpressure estimate (0: none).
func (l *limiter) setEstimate(r float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill(l.now()) // tokens earned so far count at the old rate
	l.est = r
	close(l.changed)
	l.changed = make(chan struct{})
}

// current is the effective rate, 0 for unlimited.
func (l *limiter) current() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rate()
}

// sawThrottle reports whether a wait slept since the last call.
func (l *limiter) sawThrottle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.throttled
	l.throttled = false
	return t
}

// pidEstimator is Spark's PIDRateEstimator, with its defaults
// (spark.streaming.backpressure.pid.*): it proposes a rate from each
// batch's size, processing time and scheduling delay.
type pidEstimator struct {
	intervalMs                    float64
	proportional, integral, deriv float64
	minRate                       float64
	first                         bool
	latestTime                    int64
	latestRate, latestError       float64
}

func newPID(interval time.Duration) *pidEstimator {
	return &pidEstimator{
		intervalMs:   float64(interval.Milliseconds()),
		proportional: 1, integral: 0.2, deriv: 0, minRate: 100,
		first: true, latestTime: -1, latestRate: -1, latestError: -1,
	}
}

// compute takes a batch's time (ms), record count, processing time and
// scheduling delay (ms), and returns the new rate, or false when there is
// none yet (the first batch, an empty one, or time going backwards).
func (p *pidEstimator) compute(t int64, n int, procMs, schedMs int64) (float64, bool) {
	if t <= p.latestTime || n <= 0 || procMs <= 0 {
		return 0, false
	}
	sinceUpdate := float64(t-p.latestTime) / 1000
	procRate := float64(n) / float64(procMs) * 1000
	err := p.latestRate - procRate
	historical := float64(schedMs) * procRate / p.intervalMs
	dErr := (err - p.latestError) / sinceUpdate
	rate := math.Max(p.latestRate-p.proportional*err-p.integral*historical-p.deriv*dErr, p.minRate)
	p.latestTime = t
	if p.first {
		p.latestRate, p.latestError, p.first = procRate, 0, false
		return 0, false
	}
	p.latestRate, p.latestError = rate, err
	return rate, true
}

// pacer holds every source's limiter, and with backpressure their
// estimators. It runs on the scheduler's goroutine, except for the
// limiters' waits.
type pacer struct {
	log      *slog.Logger
	interval time.Duration
	limiters map[string]*limiter
	pid      map[string]*pidEstimator // nil without backpressure
	engaged  map[string]bool
	calm     map[string]int // batches in a row without throttling
}

// calmBatches is how many batches in a row must neither throttle nor run
// late before backpressure reports that it has let go, so that a pipeline
// at the edge of its capacity does not log every batch.
const calmBatches = 10

// newPacer returns nil when no source is rate-controlled.
func newPacer(cfg RunConfig, log *slog.Logger) *pacer {
	if len(cfg.MaxRate) == 0 && !cfg.Backpressure {
		return nil
	}
	p := &pacer{log: log, interval: cfg.Interval, limiters: map[string]*limiter{}}
	for name := range cfg.Sources {
		p.limiters[name] = newLimiter(cfg.MaxRate[name])
	}
	if cfg.Backpressure {
		p.pid, p.engaged, p.calm = map[string]*pidEstimator{}, map[string]bool{}, map[string]int{}
		for name := range cfg.Sources {
			p.pid[name] = newPID(cfg.Interval)
		}
	}
	return p
}

// noBackpressure turns the estimators off, keeping maxRate.
func (p *pacer) noBackpressure() {
	if p != nil {
		p.pid = nil
	}
}

// limiter returns a source's limiter, nil when there is none.
func (p *pacer) limiter(name string) *limiter {
	if p == nil {
		return nil
	}
	return p.limiters[name]
}

// observe feeds one batch to the estimators: t is its time (ms), inputs
// the records each source gave it, and start and end when it ran.
//
// The estimate only limits a source while backpressure is engaged: from a
// batch that ran late (longer than the interval, or started an interval
// behind) until calmBatches in a row neither run late nor throttle. While
// batches keep up, a rate computed from small batches, whose time is mostly
// fixed overhead, would hold a healthy pipeline back for nothing.
func (p *pacer) observe(t int64, inputs map[string][]abi.Raw, start, end time.Time) {
	if p == nil || p.pid == nil {
		return
	}
	proc := end.Sub(start)
	sched := max(start.UnixMilli()-t, 0)
	late := proc > p.interval || sched > p.interval.Milliseconds()
	for name, pid := range p.pid {
		l := p.limiters[name]
		r, ok := pid.compute(t, len(inputs[name]), proc.Milliseconds(), sched)
		throttled := l.sawThrottle()
		switch {
		case !p.engaged[name]:
			if late && ok {
				p.engaged[name], p.calm[name] = true, 0
				l.setEstimate(r)
				p.log.Warn(fmt.Sprintf("backpressure: batch %d ms took %v, longer than the %v interval: source %q is slowed to %.0f records/s", t, proc.Round(time.Millisecond), p.interval, name, l.current()))
			}
		case throttled && proc <= p.interval && len(inputs[name]) == 0:
			// The source waited on its rate while the pipeline had
			// nothing to do: batches catching up on a scheduling delay
			// run empty, and the estimator learns nothing from an empty
			// batch. Double the rate, so that it recovers in a few
			// batches instead of after the whole delay.
			p.calm[name] = 0
			l.setEstimate(2 * l.current())
		case late || throttled:
			p.calm[name] = 0
			if ok {
				l.setEstimate(r)
			}
		default:
			if ok {
				l.setEstimate(r)
			}
			if p.calm[name]++; p.calm[name] >= calmBatches {
				p.engaged[name] = false
				l.setEstimate(0)
				p.log.Info(fmt.Sprintf("backpressure: batches keep up again (batch %d ms took %v): source %q is no longer slowed", t, proc.Round(time.Millisecond), name))
			}
		}
	}
}

// DefaultBufferBytes is RunConfig.BufferBytes's default: per source, the
// bytes of records received but not yet in a batch.
const DefaultBufferBytes = 64 << 20

// byteBudget bounds the bytes of the units in one receiver's buffer: the
// receiver acquires a unit's bytes before it buffers the unit, and the
// scheduler releases them when it takes the unit for a batch. With the
// buffer's unit count, it bounds memory whatever the line lengths.
type byteBudget struct {
	mu   sync.Mutex
	used int
	max  int
	wake chan struct{} // closed on release
}

func newByteBudget(max int) *byteBudget {
	if max == 0 {
		max = DefaultBufferBytes
	}
	return &byteBudget{max: max, wake: make(chan struct{})}
}

// acquire waits until n bytes fit. A unit larger than the whole budget
// passes once the buffer is empty, so that no unit is refused.
func (b *byteBudget) acquire(ctx context.Context, n int) error {
	if b == nil {
		return nil
	}
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

func (b *byteBudget) release(n int) {
	if b == nil || n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	close(b.wake)
	b.wake = make(chan struct{})
}

// unitBytes is what a unit's records take in memory, near enough.
func unitBytes(u Unit) int {
	n := 0
	for _, r := range u.Records {
		n += len(r)
	}
	return n
}
