package monitor

import (
	"encoding/json"
	"time"

	"github.com/wstream/wstream/host"
)

// What the UI keeps: ten minutes of seconds, the last thousand batches,
// the last hundred checkpoints.
const (
	keepSeconds     = 600
	keepBatches     = 1000
	keepCheckpoints = 100
	// tickBatches is how many of the latest batches each second's message
	// carries for the batch table (the rest are fetched on demand).
	tickBatches = 20
)

// histBounds are the upper bounds (ms) of the histograms' bins; a last
// bin holds the rest. The same bounds serve the Prometheus histograms.
var histBounds = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

const histBins = 17

// webState is what a Monitor keeps for the UI; guarded by Monitor.mu.
type webState struct {
	m       *Monitor
	metrics *metrics
	cur     *second
	series  []*second // oldest first
	batches ring[*batchRecord]
	ckpts   ring[checkpointRecord]
	subs    map[chan []byte]struct{}
	stop    chan struct{}
}

// second is one second of the run, aggregated.
type second struct {
	T       int64        `json:"t"` // unix seconds
	Batches int          `json:"batches"`
	In      []int64      `json:"in"` // by source
	Out     int64        `json:"out"`
	Late    int64        `json:"late"`
	Dead    int64        `json:"dead"`
	Proc    agg          `json:"proc"`
	Sched   agg          `json:"sched"`
	Total   agg          `json:"total"`
	Hist    hists        `json:"hist"`
	Stages  []stageDelta `json:"stages"`
	// State is each stage's state as last sampled; Watermark the latest.
	State       []stateSize `json:"state"`
	Watermark   *int64      `json:"watermark,omitempty"`
	Checkpoints int         `json:"checkpoints,omitempty"`
	CkptMs      float64     `json:"ckptMs,omitempty"`
	CkptBytes   int64       `json:"ckptBytes,omitempty"`
}

// agg is a sum, a count and a maximum of ms values.
type agg struct {
	Sum float64 `json:"sum"`
	Max float64 `json:"max"`
	N   int     `json:"n"`
}

func (a *agg) add(v float64) {
	a.Sum += v
	a.N++
	a.Max = max(a.Max, v)
}

type hists struct {
	Proc  [histBins]int `json:"proc"`
	Sched [histBins]int `json:"sched"`
	Total [histBins]int `json:"total"`
}

func bin(ms float64) int {
	for i, b := range histBounds {
		if ms <= b {
			return i
		}
	}
	return len(histBounds)
}

type stateSize struct {
	Keys  int64 `json:"keys"`
	Bytes int64 `json:"bytes"`
}

// batchRecord is one batch, for the batch table and its page.
type batchRecord struct {
	Time      int64        `json:"time"`
	Start     int64        `json:"start"` // unix ms
	ProcMs    float64      `json:"procMs"`
	SchedMs   float64      `json:"schedMs"`
	TotalMs   float64      `json:"totalMs"`
	In        int64        `json:"in"`
	Sources   []int64      `json:"sources"`
	Out       int64        `json:"out"`
	Emitted   bool         `json:"emitted"`
	Late      int64        `json:"late"`
	Dead      int64        `json:"dead"`
	Watermark *int64       `json:"watermark,omitempty"`
	CkptMs    float64      `json:"ckptMs,omitempty"`
	CkptBytes int64        `json:"ckptBytes,omitempty"`
	Stages    []stageDelta `json:"stages"`
	wm        int64
}

type checkpointRecord struct {
	Batch int64   `json:"batch"`
	At    int64   `json:"at"` // unix ms
	Ms    float64 `json:"ms"`
	Bytes int64   `json:"bytes"`
}

// ring keeps the last n values.
type ring[T any] struct {
	buf  []T
	next int
	full bool
}

func newRing[T any](n int) ring[T] { return ring[T]{buf: make([]T, n)} }

// slot returns the next slot to fill (its old value, for reuse).
func (r *ring[T]) slot() *T {
	p := &r.buf[r.next]
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	return p
}

// last returns up to n values, newest first.
func (r *ring[T]) last(n int) []T {
	size := r.next
	if r.full {
		size = len(r.buf)
	}
	n = min(n, size)
	out := make([]T, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

func newWebState(m *Monitor) *webState {
	w := &webState{m: m, metrics: newMetrics(m), batches: newRing[*batchRecord](keepBatches), ckpts: newRing[checkpointRecord](keepCheckpoints),
		subs: map[chan []byte]struct{}{}, stop: make(chan struct{})}
	go w.ticker()
	return w
}

// ticker closes each second even while no batch ends (a long batch, an
// idle manual clock), so the UI keeps moving.
func (w *webState) ticker() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			w.m.mu.Lock()
			w.flush(now, false)
			w.m.mu.Unlock()
		}
	}
}

// newSecond starts the second of unix time s.
func (w *webState) newSecond(s int64) *second {
	d := &w.m.desc
	sec := &second{T: s, In: make([]int64, len(d.Sources)), Stages: make([]stageDelta, len(d.Stages))}
	return sec
}

// flush ends the current second once now is past it (or at once when
// force), keeps it and sends it to the UI's subscribers. m.mu is held.
func (w *webState) flush(now time.Time, force bool) {
	if w.cur == nil || (!force && now.Unix() <= w.cur.T) {
		return
	}
	c := w.cur
	t := &w.m.tot
	c.State = make([]stateSize, len(t.state))
	for i, s := range t.state {
		c.State[i] = stateSize{s.Keys, s.Bytes}
	}
	if t.watermark != nil {
		wm := *t.watermark
		c.Watermark = &wm
	}
	w.series = append(w.series, c)
	if len(w.series) > keepSeconds {
		w.series = append(w.series[:0], w.series[len(w.series)-keepSeconds:]...)
	}
	w.cur = nil
	w.broadcast(c)
}

// broadcast sends a second to every subscriber that keeps up; a slow one
// misses it rather than slowing the run.
func (w *webState) broadcast(c *second) {
	if len(w.subs) == 0 {
		return
	}
	msg, err := json.Marshal(w.tick(c))
	if err != nil {
		return
	}
	for ch := range w.subs {
		select {
		case ch <- msg:
		default:
		}
	}
}

// tickMessage is what the UI receives every second.
type tickMessage struct {
	Second      *second            `json:"second"`
	Status      status             `json:"status"`
	Batches     []*batchRecord     `json:"batches"`
	Checkpoints []checkpointRecord `json:"checkpoints"`
	Events      []Event            `json:"events"`
	Sandbox     []sandboxView      `json:"sandbox"`
}

func (w *webState) tick(c *second) tickMessage {
	return tickMessage{Second: c, Status: w.m.statusLocked(), Batches: w.batches.last(tickBatches),
		Checkpoints: w.ckpts.last(20), Events: lastEvents(w.m.events, 20), Sandbox: w.m.sandboxLocked()}
}

func lastEvents(es []Event, n int) []Event {
	out := make([]Event, 0, min(n, len(es)))
	for i := len(es) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, es[i])
	}
	return out
}

// batch adds one batch of run r. m.mu is held.
func (w *webState) batch(r *run, b *host.BatchStats, in int64, counted bool, now time.Time) {
	w.flush(now, false)
	if w.cur == nil {
		w.cur = w.newSecond(now.Unix())
	}
	c := w.cur
	if r.role != Keyed {
		for _, s := range b.Sources {
			if i := w.m.sourceIndex(s.Name); i >= 0 {
				c.In[i] += int64(s.Records)
			}
		}
	}
	for i, d := range r.deltas {
		c.Stages[r.first+i].add(d)
	}
	c.Late += int64(b.Late)
	c.Dead += int64(b.DeadLetters)
	proc, sched := ms(b.Processing), ms(b.SchedulingDelay)
	if b.Checkpoint != nil {
		c.Checkpoints++
		c.CkptMs += ms(b.Checkpoint.Duration)
		c.CkptBytes = b.Checkpoint.Bytes
		*w.ckpts.slot() = checkpointRecord{Batch: b.Time, At: now.UnixMilli(), Ms: ms(b.Checkpoint.Duration), Bytes: b.Checkpoint.Bytes}
	}
	w.metrics.batch(r, b, counted)
	if !counted {
		return
	}
	c.Batches++
	c.Out += int64(b.Out)
	c.Proc.add(proc)
	c.Sched.add(sched)
	c.Total.add(proc + sched)
	c.Hist.Proc[bin(proc)]++
	c.Hist.Sched[bin(sched)]++
	c.Hist.Total[bin(proc+sched)]++

	// Slots are reused: every reader encodes them under m.mu.
	slot := w.batches.slot()
	if *slot == nil {
		*slot = &batchRecord{}
	}
	rec := *slot
	*rec = batchRecord{Time: b.Time, Start: b.Start.UnixMilli(), ProcMs: proc, SchedMs: sched, TotalMs: proc + sched,
		In: in, Out: int64(b.Out), Emitted: b.Emitted, Late: int64(b.Late), Dead: int64(b.DeadLetters), Sources: rec.Sources[:0], Stages: rec.Stages}
	for _, s := range b.Sources {
		rec.Sources = append(rec.Sources, int64(s.Records))
	}
	if b.Watermark != nil {
		rec.wm = *b.Watermark
		rec.Watermark = &rec.wm
	}
	if b.Checkpoint != nil {
		rec.CkptMs, rec.CkptBytes = ms(b.Checkpoint.Duration), b.Checkpoint.Bytes
	}
	if cap(rec.Stages) < len(w.m.desc.Stages) {
		rec.Stages = make([]stageDelta, len(w.m.desc.Stages))
	}
	rec.Stages = rec.Stages[:len(w.m.desc.Stages)]
	clear(rec.Stages)
	copy(rec.Stages[r.first:], r.deltas)
}

// subscribe registers a UI connection for each second's message.
func (w *webState) subscribe() chan []byte {
	ch := make(chan []byte, 4)
	w.subs[ch] = struct{}{}
	return ch
}

func (w *webState) unsubscribe(ch chan []byte) { delete(w.subs, ch) }
