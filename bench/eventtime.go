package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/logs"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
)

// The keyed event-time workload: sensor readings {sensor, ts, temp} at 1e5
// rows/s of event time over 1e5 sensors, per-sensor average temperature in
// 10 s windows sliding every 1 s, a 5 s watermark, append mode. wstream
// runs it with paths and a built-in (no plugin, no guest call); the native
// version is the same query in plain Go: a map per window from sensor to a
// running sum and count, closed windows emitted and dropped as the
// watermark passes them. The native side gets its rows as Go structs,
// already parsed; wstream gets msgpack maps, as ?format=json makes them.
// Neither side's parsing is timed.

const keyedWindowName = "keyed-window-1e5"

const keyedWindowPipeline = `batch: 100ms
stages:
  - {op: withWatermark, time: .ts, delay: 5s}
  - {op: aggregateByWindow, window: 10s, slide: 1s, key: .sensor, value: .temp, fn: avg}
`

// ktRow is one reading.
type ktRow struct {
	sensor string
	ts     int64
	temp   float64
}

// ktGen makes rows at rate rows/s of event time starting at epoch ms,
// arriving up to 2 s out of order.
func ktGen(seed uint64, keys, rate int, epoch int64) func() ktRow {
	rng := rand.New(rand.NewPCG(seed, 7))
	i := int64(0)
	return func() ktRow {
		ts := epoch + i*1000/int64(rate) - rng.Int64N(2000)
		i++
		return ktRow{sensor: keyName(rng.IntN(keys)), ts: ts, temp: 15 + float64(rng.IntN(200))/10}
	}
}

// ktEncode encodes a row as the msgpack map a json line source makes.
func ktEncode(dst []byte, r ktRow) []byte {
	dst = abi.AppendMapHeader(dst, 3)
	dst = abi.AppendStringBytes(abi.AppendString(dst, "sensor"), []byte(r.sensor))
	dst = abi.AppendInt(abi.AppendString(dst, "ts"), r.ts)
	return abi.AppendFloat(abi.AppendString(dst, "temp"), r.temp)
}

func ktEncodeAll(rows []ktRow) []abi.Raw {
	buf := make([]byte, 0, len(rows)*48)
	out := make([]abi.Raw, len(rows))
	for i, r := range rows {
		start := len(buf)
		buf = ktEncode(buf, r)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// ktNative is the query in plain Go.
type ktNative struct {
	window, slide, delay int64
	wins                 map[int64]map[string]*ktAcc
	wm, maxEvent         int64
	seen                 bool
}

type ktAcc struct {
	sum float64
	n   int64
}

type ktResult struct {
	start, end int64
	sensor     string
	avg        float64
}

// batch runs one trigger, with the semantics of the graph's: rows late for
// every window they fall in are dropped, windows the watermark in effect
// closed are emitted and dropped, and the watermark moves at the end.
func (k *ktNative) batch(rows []ktRow) []ktResult {
	for _, r := range rows {
		last := r.ts - ((r.ts%k.slide)+k.slide)%k.slide
		for s := last; s > r.ts-k.window; s -= k.slide {
			if s+k.window <= k.wm {
				continue
			}
			w := k.wins[s]
			if w == nil {
				w = map[string]*ktAcc{}
				k.wins[s] = w
			}
			a := w[r.sensor]
			if a == nil {
				a = &ktAcc{}
				w[r.sensor] = a
			}
			a.sum += r.temp
			a.n++
		}
		if !k.seen || r.ts > k.maxEvent {
			k.maxEvent, k.seen = r.ts, true
		}
	}
	var closed []int64
	for s := range k.wins {
		if s+k.window <= k.wm {
			closed = append(closed, s)
		}
	}
	sort.Slice(closed, func(i, j int) bool { return closed[i] < closed[j] })
	var out []ktResult
	for _, s := range closed {
		for sensor, a := range k.wins[s] {
			out = append(out, ktResult{s, s + k.window, sensor, a.sum / float64(a.n)})
		}
		delete(k.wins, s)
	}
	if k.seen && k.maxEvent-k.delay > k.wm {
		k.wm = k.maxEvent - k.delay
	}
	return out
}

// ktEpoch is where event time starts: a whole second, so windows align.
const ktEpoch = 1_700_000_000_000

// ktWarm is how much event time runs before timing starts: the windows
// and the watermark reach their steady state (every window open, one
// closing per second).
const ktWarm = 16 * time.Second

func keyedWindowJob(ctx context.Context, j Job) (Result, error) {
	switch j.Kind {
	case "throughput":
		return keyedWindowThroughput(ctx, j)
	case "latency":
		return keyedWindowLatency(ctx, j)
	}
	return Result{}, fmt.Errorf("unknown job kind %q", j.Kind)
}

// keyedWindowThroughput feeds batches of j.Batch rows (100 ms of event time
// at j.Rate, default 1e5 rows/s) and times only the query: Graph.Process
// for wstream, the plain Go loop for native.
func keyedWindowThroughput(ctx context.Context, j Job) (Result, error) {
	rate := j.Rate
	if rate == 0 {
		rate = 100000
	}
	next := ktGen(j.Seed, j.Keys, rate, ktEpoch)
	warm := int(ktWarm.Seconds()) * rate / j.Batch
	iv := int64(j.Batch) * 1000 / int64(rate) // the event time a batch spans, in ms
	var g *operators.Graph
	var nat *ktNative
	if j.Plugin == "" {
		nat = &ktNative{window: 10000, slide: 1000, delay: 5000, wins: map[int64]map[string]*ktAcc{}}
	} else {
		spec, err := pipeline.Parse([]byte(keyedWindowPipeline))
		if err != nil {
			return Result{}, err
		}
		spec.ApplyDefaults()
		if g, err = operators.Build(spec, nil); err != nil {
			return Result{}, err
		}
	}
	var res Result
	var busy time.Duration
	for b := 0; (res.Records < int64(j.Records) && !j.over(busy)) || b < warm; b++ {
		rows := make([]ktRow, j.Batch)
		for i := range rows {
			rows[i] = next()
		}
		var recs []abi.Raw
		if g != nil {
			recs = ktEncodeAll(rows)
		}
		t := ktEpoch + int64(b+1)*iv
		c0, start := cpuTime(), time.Now()
		var n int
		if g != nil {
			out, _, err := g.Process(ctx, t, map[string][]abi.Raw{"input": recs})
			if err != nil {
				return Result{}, err
			}
			n = len(out.Records)
		} else {
			n = len(nat.batch(rows))
		}
		d, c := time.Since(start), cpuTime()-c0
		if b < warm {
			continue
		}
		busy += d
		res.CPUSeconds += c.Seconds()
		res.Records += int64(j.Batch)
		res.Batches++
		res.Out += int64(n)
	}
	res.Seconds = busy.Seconds()
	res.RecordsPerSec = float64(res.Records) / res.Seconds
	return res, nil
}

// keyedWindowLatency runs the query under host.Run with the system clock
// and j.Interval batches, fed at j.Rate rows/s whose event times follow the
// wall clock, and reports the latency percentiles of the batches that
// carried input (latencySink).
func keyedWindowLatency(ctx context.Context, j Job) (Result, error) {
	spec, err := pipeline.Parse([]byte(keyedWindowPipeline))
	if err != nil {
		return Result{}, err
	}
	spec.Batch = pipeline.Duration(j.Interval)
	spec.ApplyDefaults()
	g, err := operators.Build(spec, nil)
	if err != nil {
		return Result{}, err
	}
	per := max(j.Rate/1000, 1)
	// Readings are made as they are due, their event time the time they
	// are due, up to 2 s out of order.
	gen := ktGen(j.Seed, j.Keys, j.Rate, time.Now().UnixMilli())
	next := func(int) []abi.Raw {
		rows := make([]ktRow, per)
		for i := range rows {
			rows[i] = gen()
		}
		return ktEncodeAll(rows)
	}
	arr := &arrivals{}
	tg := &timedGraph{g: g, arr: arr}
	warm := min(ktWarm, j.Duration/2)
	sink := &latencySink{tg: tg, skip: int(warm / j.Interval), until: time.Now().Add(j.Duration)}
	rctx, cancel := context.WithTimeout(ctx, j.Duration)
	defer cancel()
	start := time.Now()
	err = host.Run(rctx, host.RunConfig{
		Sources:       map[string]host.Source{"input": &pacedSource{per: per, arr: arr, make: next}},
		Sink:          sink,
		Processor:     tg,
		Interval:      j.Interval,
		Log:           logs.Discard(),
		NoDataBatches: true,
		Buffer:        1000,
	})
	if err != nil {
		return Result{}, err
	}
	return sink.result(start, per, j, warm)
}

// keyedWindow is the suite's section for the workload: throughput and
// peak RSS of native Go and of wstream, and wstream's latency at 100 ms
// batches.
func (s *suite) keyedWindow() {
	keys, records := 100000, s.records(3000000)
	if s.cfg.Short {
		keys = 1000
	}
	s.printf("## Event time: %s\n\n", keyedWindowName)
	s.printf("Per-sensor average temperature: %d sensors, 10 s windows sliding every 1 s, a 5 s watermark, append mode, 1e5 readings/s of event time (up to 2 s out of order), batches of 100 ms (10000 readings). wstream: `key: .sensor, value: .temp, fn: avg` (paths and a built-in, no guest call); native: the same query in plain Go (a map per window), given rows already parsed. Timing starts after %v of event time, when every window is open and one closes each second.\n\n", keys, ktWarm)
	s.printf("| impl | rows/s | × native | rows/CPU-s | × native (CPU) | p50 ms | p99 ms | peak RSS MB (throughput) | peak RSS MB (100 ms run) | output check |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	base := Job{Kind: "throughput", Workload: keyedWindowName, Keys: keys, Batch: 10000, Records: records, Seed: 1, MaxSeconds: 60}
	if s.cfg.Short {
		base.MaxSeconds = 2
	}
	nat := s.job(base)
	j := base
	j.Plugin = "host"
	r := s.job(j)
	dur := 30 * time.Second
	if s.cfg.Short {
		dur = time.Second
	}
	lat := s.job(Job{Kind: "latency", Workload: keyedWindowName, Plugin: "host", Keys: keys, Rate: 100000, Interval: 100 * time.Millisecond, Duration: dur, Seed: 1})
	check := fmt.Sprintf("ok (%d = native)", r.Out)
	switch {
	case r.Err != "":
		check = "error: " + r.Err
	case lat.Err != "":
		check = "latency error: " + lat.Err
	case r.Records != nat.Records:
		check = fmt.Sprintf("%d rows timed (time limit; native %d), output not compared", r.Records, nat.Records)
	case r.Out != nat.Out:
		check = fmt.Sprintf("MISMATCH: %d, native %d", r.Out, nat.Out)
	}
	row := func(impl string, x Result, ratio, cpuRatio float64, p50, p99 float64, latRSS int64, check string) {
		cpuRate := "—"
		if x.CPUSeconds > 0 {
			cpuRate = human(float64(x.Records) / x.CPUSeconds)
		}
		s.printf("| %s | %s | %.2f | %s | %.2f | %s | %s | %s | %s | %s |\n", impl, human(x.RecordsPerSec), ratio, cpuRate, cpuRatio, ms(p50), ms(p99), mb(x.PeakRSSKB), mb(latRSS), check)
	}
	row("native Go", nat, 1, 1, 0, 0, 0, fmt.Sprintf("%d windows×sensors emitted", nat.Out))
	ratio, cpuRatio := 0.0, 0.0
	if nat.RecordsPerSec > 0 {
		ratio = r.RecordsPerSec / nat.RecordsPerSec
	}
	if nat.CPUSeconds > 0 && r.CPUSeconds > 0 {
		cpuRatio = nat.CPUSeconds / float64(nat.Records) * float64(r.Records) / r.CPUSeconds
	}
	row("wstream (paths + avg in the host)", r, ratio, cpuRatio, lat.P50ms, lat.P99ms, lat.PeakRSSKB, check)
	s.rows = append(s.rows, Row{Section: "eventtime", Workload: keyedWindowName, Impl: "native Go", Job: &base, Result: nat, Ratio: 1},
		Row{Section: "eventtime", Workload: keyedWindowName, Impl: "wstream", Job: &j, Result: r, Ratio: ratio, CPURatio: cpuRatio, LatP50: lat.P50ms, LatP99: lat.P99ms, LatRSSKB: lat.PeakRSSKB, Check: check})
	s.printf("\n")
}
