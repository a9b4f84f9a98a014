package monitor

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/runtime"
)

// metrics is the Prometheus side of a Monitor. Counters are read from the
// Monitor's totals and the plugins' counters when scraped (collector), so
// a batch costs three histogram observations here and no label lookups.
type metrics struct {
	m                  *Monitor
	reg                *prometheus.Registry
	proc, sched, total prometheus.Histogram
	ckpt               prometheus.Histogram
	reloads            *prometheus.CounterVec
}

func newMetrics(m *Monitor) *metrics {
	secs := make([]float64, len(histBounds))
	for i, b := range histBounds {
		secs[i] = b / 1000
	}
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: secs})
	}
	x := &metrics{
		m:       m,
		reg:     prometheus.NewRegistry(),
		proc:    hist("wstream_batch_processing_seconds", "Time to run a batch: the graph, the sink writes and the checkpoint (Spark's processing time)."),
		sched:   hist("wstream_batch_scheduling_delay_seconds", "How long after its batch time a batch started (Spark's scheduling delay); 0 under the manual clock."),
		total:   hist("wstream_batch_total_delay_seconds", "Scheduling delay plus processing time (Spark's total delay)."),
		ckpt:    hist("wstream_checkpoint_duration_seconds", "Time to write and sync one checkpoint."),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wstream_plugin_reloads_total", Help: "Hot reloads of a plugin's module, by result: applied or refused."}, []string{"plugin", "result"}),
	}
	x.reg.MustRegister(x.proc, x.sched, x.total, x.ckpt, x.reloads, collector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "wstream_build_info", Help: "Always 1; the version label is wstream's.", ConstLabels: prometheus.Labels{"version": m.cfg.Version}})
	info.Set(1)
	x.reg.MustRegister(info)
	return x
}

// batch observes one batch's times. m.mu is held.
func (x *metrics) batch(r *run, b *host.BatchStats, counted bool) {
	if b.Checkpoint != nil {
		x.ckpt.Observe(b.Checkpoint.Duration.Seconds())
	}
	if !counted {
		return
	}
	p, s := b.Processing.Seconds(), b.SchedulingDelay.Seconds()
	x.proc.Observe(p)
	x.sched.Observe(s)
	x.total.Observe(p + s)
}

// reload counts a reload event. m.mu is held.
func (x *metrics) reload(e Event) {
	switch e.Kind {
	case EventReload:
		x.reloads.WithLabelValues(e.Plugin, "applied").Inc()
	case EventReloadRefused:
		x.reloads.WithLabelValues(e.Plugin, "refused").Inc()
	}
}

// The kinds of Event.
const (
	EventReload        = "reload"
	EventReloadRefused = "reload-refused"
)

// collector reads the Monitor's totals at scrape time.
type collector struct{ m *Monitor }

var (
	stageLabels = []string{"stream", "stage", "op", "fn"}
	descs       = map[string]*prometheus.Desc{}
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	descs[name] = d
	return d
}

var (
	dSourceRecords = desc("wstream_source_records_total", "Records each source gave the batches.", "source")
	dSinkRecords   = desc("wstream_sink_records_total", "Records written to each sink: the output, and the late and deadLetter side outputs.", "sink")
	dBatches       = desc("wstream_batches_total", "Batches run.")
	dLateBatches   = desc("wstream_batches_late_total", "Batches that started more than one interval after their time: the run was falling behind (no batch time is ever skipped; late ones run back to back).")
	dStageIn       = desc("wstream_stage_records_in_total", "Records into each stage.", stageLabels...)
	dStageOut      = desc("wstream_stage_records_out_total", "Records out of each stage.", stageLabels...)
	dStageSecs     = desc("wstream_stage_seconds_total", "Wall time each stage took.", stageLabels...)
	dStageGuest    = desc("wstream_stage_guest_seconds_total", "Time each stage spent inside guest calls (parallel chunks add up).", stageLabels...)
	dStageHost     = desc("wstream_stage_host_seconds_total", "Time each stage spent in the host: its wall time less its guest time.", stageLabels...)
	dStageLate     = desc("wstream_stage_late_rows_total", "Rows each event-time stage dropped behind the watermark.", stageLabels...)
	dStageDead     = desc("wstream_stage_dead_letters_total", "Records each stage set aside under onError: deadletter.", stageLabels...)
	dStateKeys     = desc("wstream_state_keys", "Keys (or buffered records) each stateful stage holds, sampled once a second.", stageLabels...)
	dStateBytes    = desc("wstream_state_bytes", "Bytes of state each stateful stage holds, sampled once a second.", stageLabels...)
	dWatermark     = desc("wstream_watermark_seconds", "The event-time watermark, in seconds since the epoch.")
	dLate          = desc("wstream_late_rows_total", "Rows dropped behind the watermark, all stages.")
	dDead          = desc("wstream_dead_letters_total", "Records set aside under onError: deadletter, all stages.")
	dCheckpoints   = desc("wstream_checkpoints_total", "Checkpoints committed.")
	dCkptBytes     = desc("wstream_checkpoint_bytes", "Size of the last checkpoint committed.")
	dGuestCalls    = desc("wstream_guest_calls_total", "Guest calls per plugin and function (one per batch per stage, or per chunk of a large batch).", "plugin", "function")
	dGuestItems    = desc("wstream_guest_items_total", "Items the guest calls carried, per plugin and function.", "plugin", "function")
	dGuestSecs     = desc("wstream_guest_seconds_total", "Time inside the guest per plugin and function.", "plugin", "function")
	dSandbox       = desc("wstream_sandbox_events_total", "Guests stopped by a limit or broken, per plugin and kind: timeout, memory-limit, trap, output-limit.", "plugin", "kind")
	dRestarts      = desc("wstream_sandbox_instance_restarts_total", "Guest instances discarded after a failed call and replaced.", "plugin")
	dLag           = desc("wstream_kafka_lag_records", "Records between the position read and the end of each owned Kafka partition.", "source", "partition")
	dRebalances    = desc("wstream_kafka_rebalances_total", "Partition assignments, revocations and losses seen by each Kafka group source.", "source")
	dReady         = desc("wstream_ready", "1 while the run is running batches, 0 while it starts or stops.")
	dUptime        = desc("wstream_run_seconds", "Seconds since the run started.")
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &m.tot
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for i, e := range m.desc.Sources {
		counter(dSourceRecords, float64(t.in[i]), e.Name)
	}
	counter(dSinkRecords, float64(t.out), "output")
	if m.desc.Late != "" {
		counter(dSinkRecords, float64(t.late), "late")
	}
	if m.desc.DeadLetter != "" {
		counter(dSinkRecords, float64(t.dead), "deadLetter")
	}
	counter(dBatches, float64(t.batches))
	counter(dLateBatches, float64(t.lateBatches))
	for i, s := range m.desc.Stages {
		st := t.stages[i]
		l := []string{s.Stream, strconv.Itoa(s.Index), s.Op, s.Fn}
		counter(dStageIn, float64(st.RecordsIn), l...)
		counter(dStageOut, float64(st.RecordsOut), l...)
		counter(dStageSecs, st.Time.Seconds(), l...)
		counter(dStageGuest, st.Guest.Seconds(), l...)
		counter(dStageHost, max(st.Time-st.Guest, 0).Seconds(), l...)
		if s.EventTime {
			counter(dStageLate, float64(st.Late), l...)
		}
		counter(dStageDead, float64(st.DeadLetters), l...)
		if s.Stateful && m.desc.Split == 0 {
			if k := t.state[i].Keys; k >= 0 {
				gauge(dStateKeys, float64(k), l...)
			}
			gauge(dStateBytes, float64(t.state[i].Bytes), l...)
		}
	}
	if t.watermark != nil {
		gauge(dWatermark, float64(*t.watermark)/1000)
	}
	counter(dLate, float64(t.late))
	counter(dDead, float64(t.dead))
	counter(dCheckpoints, float64(t.checkpoints))
	if t.checkpoints > 0 && m.web != nil {
		if last := m.web.ckpts.last(1); len(last) == 1 {
			gauge(dCkptBytes, float64(last[0].Bytes))
		}
	}
	type fnKey struct{ plugin, fn string }
	calls := map[fnKey]runtime.CallStats{}
	for _, p := range m.plugins {
		for _, f := range p.Funcs() {
			k := fnKey{p.Name(), f.Name()}
			s, cs := calls[k], f.Stats()
			s.Calls, s.Items, s.Guest = s.Calls+cs.Calls, s.Items+cs.Items, s.Guest+cs.Guest
			calls[k] = s
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(calls), func(a, b fnKey) int {
		return strings.Compare(a.plugin+"\x00"+a.fn, b.plugin+"\x00"+b.fn)
	}) {
		s := calls[k]
		counter(dGuestCalls, float64(s.Calls), k.plugin, k.fn)
		counter(dGuestItems, float64(s.Items), k.plugin, k.fn)
		counter(dGuestSecs, s.Guest.Seconds(), k.plugin, k.fn)
	}
	sandbox := map[string]runtime.SandboxStats{}
	for _, p := range m.plugins {
		sb := p.Sandbox()
		if old, ok := sandbox[p.Name()]; ok { // two plugins of one base name
			for k, v := range old.Events {
				sb.Events[k] += v
			}
			sb.Restarts += old.Restarts
		}
		sandbox[p.Name()] = sb
	}
	for name, sb := range sandbox {
		for _, kind := range []string{runtime.EventTimeout, runtime.EventMemoryLimit, runtime.EventTrap, runtime.EventOutputLimit} {
			counter(dSandbox, float64(sb.Events[kind]), name, kind)
		}
		counter(dRestarts, float64(sb.Restarts), name)
	}
	for _, r := range m.runs {
		for _, name := range slices.Sorted(maps.Keys(r.sources)) {
			ls, ok := r.sources[name].(host.LagSource)
			if !ok {
				continue
			}
			label := name
			if r.role == Keyed {
				label = "repartition"
			}
			for p, lag := range ls.Lag() {
				gauge(dLag, float64(lag), label, strconv.Itoa(int(p)))
			}
			counter(dRebalances, float64(ls.Rebalances()), label)
		}
	}
	ready := 0.0
	if m.state == "running" {
		ready = 1
	}
	gauge(dReady, ready)
	gauge(dUptime, time.Since(m.start).Seconds())
}
