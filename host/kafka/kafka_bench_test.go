package kafka

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/wstream/wstream/host/internal/hosttest"
)

// TestKafkaWordCountThroughput measures records/s of Kafka source → WASM
// word count → Kafka sink through the real binary on loopback, at-least-once
// and exactly-once. It runs only when asked:
//
//	WSTREAM_KAFKA_BENCH=200000 go test ./host -run TestKafkaWordCountThroughput -v
//
// The figure is input lines (5 words each) over the wall time of the whole
// `wstream run` process, start-up, group join and plugin compile included.
func TestKafkaWordCountThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WSTREAM_KAFKA_BENCH"))
	if n <= 0 {
		t.Skip("set WSTREAM_KAFKA_BENCH=LINES to measure")
	}
	batch := os.Getenv("WSTREAM_KAFKA_BENCH_BATCH")
	if batch == "" {
		batch = "100ms"
	}
	brokers := kafkaBrokers(t)
	dir := t.TempDir()
	bin := goBuild(t, dir, "cmd/wstream")
	admin := kafkaClient(t, brokers)
	in := createTopic(t, admin, "in", 6)
	lines, want := wordLines(n)
	produceValues(t, brokers, in, lines)
	// The transport alone: source → identity → sink in this process.
	for _, eos := range []string{"", "?exactlyOnce=true"} {
		out := createTopic(t, admin, "out", 6)
		var log hosttest.SyncBuffer
		start := time.Now()
		if err := runKafka(t, "kafka://"+brokers+"/"+in+"?group=bench-"+randomID()+"&until=end", "kafka://"+brokers+"/"+out+eos, &log); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		t.Logf("identity processor in-process%s: %d records in %v: %.0f records/s", eos, n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}
	// Per-batch word count, and the running count (updateStateByKey), whose
	// keyed state goes through the repartition and changelog topics.
	for _, running := range []bool{false, true} {
		for _, eos := range []bool{false, true} {
			out := createTopic(t, admin, "out", 6)
			state := ""
			if running {
				state = "\n  - {op: updateStateByKey, fn: sum-into-state, plugin: " + pluginWasm(t, dir, "conformance") + "}"
			}
			pipe := writePipeline(t, dir, fmt.Sprintf(`plugin: %s
batch: %s
exactlyOnce: %v
source: kafka://%s/%s?group=bench-%s&until=end
stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}%s
sink: kafka://%s/%s
`, wordcountWasm(t, dir), batch, eos, brokers, in, randomID(), state, brokers, out))
			start := time.Now()
			p := startProc(t, bin, "run", "--pipeline", pipe)
			p.wait(t, 10*time.Minute)
			d := time.Since(start)
			what := "word count per batch"
			if running {
				what = "running word count (keyed state through repartition + changelog)"
				last := lastPerKey(readCommitted(t, brokers, out))
				for w, n := range want {
					if last[w] != fmt.Sprint(n) { // no process dies here, so at-least-once is exact too
						t.Fatalf("%s: last count %q, want %d", w, last[w], n)
					}
				}
			} else if diff := sameCounts(wordTotals(t, readCommitted(t, brokers, out)), want); diff != "" {
				t.Fatalf("counts differ: %s", diff)
			}
			mode := "at-least-once"
			if eos {
				mode = "exactly-once"
			}
			t.Logf("%s, %s, batch %s: %d lines (%d words) in %v: %.0f lines/s, %.0f words/s (wstream CPU: user %v, system %v)",
				what, mode, batch, n, 5*n, d.Round(time.Millisecond), float64(n)/d.Seconds(), float64(5*n)/d.Seconds(),
				p.cmd.ProcessState.UserTime().Round(time.Millisecond), p.cmd.ProcessState.SystemTime().Round(time.Millisecond))
		}
	}
}
