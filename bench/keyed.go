package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
	"github.com/wstream/wstream/operators/job"
	"github.com/wstream/wstream/runtime"
	"github.com/wstream/wstream/runtime/wazero"
)

// idleKeys compares mapWithState with updateStateByKey as the number of
// idle keys grows, with the same 1000 touched records a batch: Spark's
// reason for mapWithState is that updateStateByKey calls every key every
// batch. Both run in the same suite run, one child process each.
func (s *suite) idleKeys() {
	const batch = 1000
	s.printf("## Idle keys: mapWithState vs updateStateByKey (%d records a batch over all keys, every key preloaded; wasm go)\n\n", batch)
	s.printf("| keys in state | mapWithState ms/batch | updateStateByKey ms/batch | updateStateByKey / mapWithState | mapWithState peak RSS MB | updateStateByKey peak RSS MB |\n")
	s.printf("|---:|---:|---:|---:|---:|---:|\n")
	sizes := []int{10000, 100000, 1000000}
	if s.cfg.Short {
		sizes = []int{1000, 10000}
	}
	for _, k := range sizes {
		mj := Job{Kind: "throughput", Workload: "mapstate-1e6", Plugin: s.art.goGuest, Keys: k, Batch: batch, Records: s.records(200 * batch), Seed: 1}
		uj := mj
		uj.Workload, uj.Records = "state-1e6", s.records(20*batch)
		m, u := s.job(mj), s.job(uj)
		s.rows = append(s.rows, Row{Section: "idle", Workload: mj.Workload, Impl: "wasm go", Param: fmt.Sprint(k), Job: &mj, Result: m},
			Row{Section: "idle", Workload: uj.Workload, Impl: "wasm go", Param: fmt.Sprint(k), Job: &uj, Result: u})
		s.printf("| %d | %s | %s | %s | %s | %s |\n", k, msPerBatch(m), msPerBatch(u), speedup(perBatchSecs(u), perBatchSecs(m)), mb(m.PeakRSSKB), mb(u.PeakRSSKB))
	}
	s.printf("\nmapWithState calls the guest for the batch's keys only and finds timed-out keys from the oldest end of a list kept in order of last change, so its cost per batch stays flat as idle keys grow; updateStateByKey calls and emits every key, every batch.\n\n")
}

func msPerBatch(r Result) string {
	if r.Batches == 0 || r.Err != "" {
		return "error: " + r.Err
	}
	return fmt.Sprintf("%.3f", perBatchSecs(r)*1000)
}

func perBatchSecs(r Result) float64 {
	if r.Batches == 0 {
		return 0
	}
	return r.Seconds / float64(r.Batches)
}

// ---- the stream-stream join over time ----

// joinPipeline is impressions (left) joined with the clicks (right) that
// come within 10 s of them, both keyed by impression id.
const joinPipeline = `plugin: %q
batch: %s
sources: {left: "bench:impressions", right: "bench:clicks"}
streams:
  - {name: clicks, from: right, stages: [{op: withWatermark, time: second, delay: 2s}, {op: map, fn: key-by-first}]}
  - {name: out, from: left, stages: [{op: withWatermark, time: second, delay: 2s}, {op: map, fn: key-by-first}, {op: join, other: clicks, within: 10s}]}
`

// Sample is the join's state at one moment of a join job.
type Sample struct {
	EventSeconds int     `json:"event_s"`
	StateMB      float64 `json:"state_mb,omitempty"` // the checkpoint snapshot's size, every 5 s
	RSSMB        float64 `json:"rss_mb"`
	HeapMB       float64 `json:"heap_mb"` // Go heap in use (guest memory is outside it)
	MeanMs       float64 `json:"mean_ms"` // per trigger since the last sample
	MaxMs        float64 `json:"max_ms"`
	CPUMs        float64 `json:"cpu_ms"` // process CPU per trigger since the last sample (all threads)
	Joined       int64   `json:"joined"` // rows out since the last sample
}

// joinJob feeds Rate rows per second to each side, in triggers of
// Interval, over Duration of event time: impressions with fresh ids, and
// clicks on impressions of the last 5 s; both arrive up to 1 s out of
// order. It samples the state and the process's RSS every second of event
// time. Only Process and ProcessNoData are timed.
func joinJob(ctx context.Context, j Job) (Result, error) {
	spec, err := pipeline.Parse([]byte(fmt.Sprintf(joinPipeline, j.Plugin, j.Interval)))
	if err != nil {
		return Result{}, err
	}
	spec.ApplyDefaults()
	engine := wazero.New(ctx)
	plugins := job.NewPlugins(engine, runtime.Config{Workers: j.Workers})
	defer engine.Close(ctx)
	defer plugins.Close()
	plugins.For(spec)
	g, err := operators.Build(spec, plugins)
	if err != nil {
		return Result{}, err
	}
	rng := rand.New(rand.NewPCG(j.Seed, 5))
	iv := j.Interval.Milliseconds()
	perTrigger := int(int64(j.Rate) * iv / 1000)
	triggers := int(j.Duration.Milliseconds() / iv)
	perSample := int(1000 / iv)
	var res Result
	var busy, sampleBusy, sampleMax, sampleCPU time.Duration
	var sampleOut int64
	next := int64(0) // the next impression id
	lag := int64(5 * j.Rate)
	const t0 = 60000 // event times start after the epoch by more than their jitter: none is late at watermark 0
	for b := 0; b < triggers; b++ {
		t := t0 + int64(b+1)*iv
		left, right := make([]abi.Raw, perTrigger), make([]abi.Raw, perTrigger)
		var buf []byte
		row := func(id, ts int64) abi.Raw {
			start := len(buf)
			buf = append(buf, 0x92)
			buf = abi.AppendInt(abi.AppendInt(buf, id), ts)
			return buf[start:len(buf):len(buf)]
		}
		for i := range left {
			left[i] = row(next, t-rng.Int64N(1000))
			next++
			id := next - 1 - rng.Int64N(min(next, lag))
			right[i] = row(id, t-rng.Int64N(1000))
		}
		c0, start := cpuTime(), time.Now()
		out, _, err := g.Process(ctx, t, map[string][]abi.Raw{"left": left, "right": right})
		if err != nil {
			return res, err
		}
		n := int64(len(out.Records))
		if g.NoDataPending() {
			if out, _, err = g.ProcessNoData(ctx, t); err != nil {
				return res, err
			}
			n += int64(len(out.Records))
		}
		d, c := time.Since(start), cpuTime()-c0
		res.CPUSeconds += c.Seconds()
		sampleCPU += c
		busy += d
		sampleBusy += d
		sampleMax = max(sampleMax, d)
		sampleOut += n
		res.Records += int64(2 * perTrigger)
		res.Out += n
		res.Batches++
		if (b+1)%perSample == 0 {
			var ms goruntime.MemStats
			goruntime.ReadMemStats(&ms)
			sample := Sample{
				EventSeconds: int((t - t0) / 1000),
				RSSMB:        float64(rssKB()) / 1024,
				HeapMB:       float64(ms.HeapInuse) / (1 << 20),
				MeanMs:       sampleBusy.Seconds() * 1000 / float64(perSample),
				MaxMs:        sampleMax.Seconds() * 1000,
				CPUMs:        sampleCPU.Seconds() * 1000 / float64(perSample),
				Joined:       sampleOut,
			}
			// The snapshot is what a checkpoint would write; building it
			// every second would add its own garbage to the RSS measured.
			if sample.EventSeconds%5 == 0 {
				sample.StateMB = float64(len(g.Snapshot(nil))) / (1 << 20)
			}
			res.Samples = append(res.Samples, sample)
			sampleBusy, sampleMax, sampleCPU, sampleOut = 0, 0, 0, 0
		}
	}
	res.Seconds = busy.Seconds()
	res.RecordsPerSec = float64(res.Records) / res.Seconds
	return res, nil
}

// rssKB is this process's resident set now, from /proc (0 elsewhere).
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == "VmRSS:" {
			n, _ := strconv.ParseInt(string(f[1]), 10, 64)
			return n
		}
	}
	return 0
}

// joins runs the join job and prints its state and RSS over time.
func (s *suite) joins() {
	j := Job{Kind: "join", Workload: "join", Plugin: s.art.goGuest, Rate: 100000, Interval: 100 * time.Millisecond, Duration: 60 * time.Second, Seed: 1}
	if s.cfg.Short {
		j.Rate, j.Duration = 10000, 5*time.Second
	}
	s.printf("## Stream-stream join in event time (%s rows/s a side, %v triggers, within 10s, watermark delay 2s, wasm go)\n\n", human(float64(j.Rate)), j.Interval)
	s.printf("Impressions with fresh ids join clicks on impressions of the last 5 s; rows arrive up to 1 s out of order. Every second of event time: the join's state (checkpoint bytes), the process's RSS, and the time per trigger.\n\n")
	r := s.job(j)
	s.rows = append(s.rows, Row{Section: "join", Workload: "join", Impl: "wasm go", Job: &j, Result: r})
	if r.Err != "" {
		s.printf("error: %s\n\n", r.Err)
		return
	}
	s.printf("| event time s | state MB | RSS MB | Go heap MB | ms/trigger (mean) | ms/trigger (max) | CPU ms/trigger | rows joined |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range r.Samples {
		if p.StateMB > 0 {
			s.printf("| %d | %.1f | %.0f | %.0f | %.1f | %.1f | %.1f | %d |\n", p.EventSeconds, p.StateMB, p.RSSMB, p.HeapMB, p.MeanMs, p.MaxMs, p.CPUMs, p.Joined)
		}
	}
	budget := j.Interval.Seconds() * 1000
	s.printf("\n%d rows in, %d joined, %s rows/s processed (both sides), %s rows per CPU-second; a trigger has %.0f ms of real time at this rate; peak RSS %s MB.\n\n",
		r.Records, r.Out, human(r.RecordsPerSec), human(float64(r.Records)/r.CPUSeconds), budget, mb(r.PeakRSSKB))
}
