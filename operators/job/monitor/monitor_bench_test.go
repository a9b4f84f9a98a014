package monitor

import (
	"testing"
	"time"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
)

// BenchmarkObserveBatch is what the monitor adds to one batch of a
// four-stage pipeline: reading the stages' counters, the totals, and with
// the web side on, the per-second aggregate, the batch table and three
// histogram observations. Divide by the batch interval for its share of a
// run (at 10ms batches, 10µs would be 0.1%).
//
//	go test -run - -bench ObserveBatch -benchmem ./operators/job/monitor/
func BenchmarkObserveBatch(b *testing.B) {
	spec, err := pipeline.Parse([]byte("batch: 10ms\nsource: stdin\nstages: [{op: reduceByKey, fn: sum}, {op: countByValue}, {op: countByValueAndWindow, window: 100ms}, {op: count}]\n"))
	if err != nil {
		b.Fatal(err)
	}
	spec.ApplyDefaults()
	for _, web := range []bool{false, true} {
		name := "totals"
		if web {
			name = "web"
		}
		b.Run(name, func(b *testing.B) {
			g, err := operators.Build(spec, nil)
			if err != nil {
				b.Fatal(err)
			}
			m := New(Config{Web: web})
			defer m.Close()
			m.Describe(spec, g)
			obs := m.Watch(Whole, g, 0)
			obs.Started(host.RunInfo{Interval: 10 * time.Millisecond})
			st := &host.BatchStats{Start: time.Now(), Processing: time.Millisecond, SchedulingDelay: 100 * time.Microsecond,
				Sources: []host.SourceRecords{{Name: "input", Records: 10000}}, Out: 100, Emitted: true}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				st.Time = int64(i) * 10
				obs.Batch(st)
			}
		})
	}
}
