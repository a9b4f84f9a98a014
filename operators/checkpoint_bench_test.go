package operators

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
)

// BenchmarkCheckpoint1e6Keys measures what a restart costs with a million
// keys of state: encoding the graph's state, committing the checkpoint file
// (write, fsync, rename), and on restart reading, checking and restoring it.
// Built-in sum keeps the guest out of the measurement.
//
//	go test -run '^$' -bench Checkpoint1e6Keys -benchtime 3x ./operators/
func BenchmarkCheckpoint1e6Keys(b *testing.B) {
	const keys = 1_000_000
	build := func() *Graph {
		s, err := pipeline.Parse([]byte(`stages: [{op: aggregateByKey, fn: sum, outputMode: update}]`))
		if err != nil {
			b.Fatal(err)
		}
		s.ApplyDefaults()
		g, err := Build(s, nil)
		if err != nil {
			b.Fatal(err)
		}
		return g
	}
	g := build()
	batch := make([]abi.Raw, 0, keys)
	for i := 0; i < keys; i++ {
		batch = append(batch, abi.AppendPair(nil, abi.AppendString(nil, fmt.Sprintf("key-%07d", i)), abi.AppendInt(nil, int64(i))))
	}
	if _, _, err := g.Process(context.Background(), 1000, map[string][]abi.Raw{"input": batch}); err != nil {
		b.Fatal(err)
	}
	batch = nil
	store, err := host.OpenCheckpoints(filepath.Join(b.TempDir(), "ckpt"), nil)
	if err != nil {
		b.Fatal(err)
	}
	var snapT, commitT, loadT, restoreT time.Duration
	var size int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		state := g.Snapshot(nil)
		t1 := time.Now()
		if err := store.Commit(&host.Checkpoint{Shape: g.Shape(), Time: 1000, Batches: 1, State: state, Sink: -1}); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		ck, err := store.Load()
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		g2 := build()
		if err := g2.Restore(ck.State); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		snapT += t1.Sub(t0)
		commitT += t2.Sub(t1)
		loadT += t3.Sub(t2)
		restoreT += t4.Sub(t3)
		size = len(state)
	}
	n := float64(b.N)
	b.ReportMetric(float64(snapT.Milliseconds())/n, "snapshot-ms")
	b.ReportMetric(float64(commitT.Milliseconds())/n, "commit-ms")
	b.ReportMetric(float64((loadT+restoreT).Milliseconds())/n, "restart-ms")
	b.ReportMetric(float64(size)/(1<<20), "state-MiB")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MiB")
}
