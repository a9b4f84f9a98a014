package kafka

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/host"

	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/logs"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wstream/wstream/abi"
)

// The changelog cuts a snapshot into chunks and finds the last complete
// one: a snapshot cut short by a crash gives way to the one before.
func TestChangelogSnapshots(t *testing.T) {
	c := &changelog{topic: "wstream-g-changelog", id: "p1"}
	big := bytes.Repeat([]byte("0123456789"), changelogChunk/4) // 2.5 chunks
	older := c.records(3, []byte("old state"), "s1")
	newer := c.records(3, big, "s1")
	if len(older) != 1 || len(newer) != 3 {
		t.Fatalf("chunks: %d and %d, want 1 and 3", len(older), len(newer))
	}
	for _, r := range newer {
		if r.Partition != 3 || r.Topic != c.topic {
			t.Fatalf("record for %s/%d", r.Topic, r.Partition)
		}
	}
	recs := append(append([]*kgo.Record{}, older...), newer...)
	for i, r := range recs {
		r.Offset = int64(i)
	}
	got, ok, err := assemble(recs, "s1", "s1", c.topic, 3)
	if err != nil || !ok || !bytes.Equal(got, big) {
		t.Fatalf("complete: %d bytes, %v, %v", len(got), ok, err)
	}
	// The last snapshot lost its last chunk (at-least-once crash).
	got, ok, err = assemble(recs[:3], "s1", "s1", c.topic, 3)
	if err != nil || !ok || string(got) != "old state" {
		t.Fatalf("cut short: %q, %v, %v", got, ok, err)
	}
	// Only a part of one snapshot: none to restore, read further back.
	if _, ok, err = assemble(recs[2:3], "s1", "s1", c.topic, 3); ok || err != nil {
		t.Fatalf("a part only: %v, %v", ok, err)
	}
	// Another pipeline's state is refused, naming the fix.
	if got, ok, err := assemble(recs, "new", "s1", c.topic, 3); !ok || err != nil || len(got) == 0 {
		t.Errorf("a snapshot of the legacy shape: %q %v %v", got, ok, err)
	}
	if _, _, err = assemble(recs, "s2", "s2", c.topic, 3); !errors.Is(err, host.ErrCheckpointMismatch) || !strings.Contains(err.Error(), "needs a new group") {
		t.Fatalf("other shape: %v", err)
	}
	// A record wstream did not write.
	foreign := append(recs, &kgo.Record{Offset: 9, Value: []byte("x")})
	if _, _, err = assemble(foreign, "s1", "s1", c.topic, 3); err == nil || !strings.Contains(err.Error(), "offset 9: not a wstream state record") {
		t.Fatalf("foreign record: %v", err)
	}
}

// splitPairs is a stateless prefix: each line becomes [word, 1] pairs.
type splitPairs struct{}

func (splitPairs) Process(_ context.Context, t int64, in map[string][]abi.Raw) (host.Batch, bool, error) {
	var out []abi.Raw
	for _, recs := range in {
		for _, r := range recs {
			line, _, err := abi.ReadString(r)
			if err != nil {
				return host.Batch{}, false, err
			}
			for _, w := range strings.Fields(line) {
				out = append(out, abi.AppendPair(nil, hosttest.Str(w), abi.AppendInt(nil, 1)))
			}
		}
	}
	return host.Batch{Time: t, Records: out}, true, nil
}

// runningCount is a keyed stage in Go: each key's count so far, every key
// emitted every batch (updateStateByKey's contract).
type runningCount struct {
	counts map[string]int64
	zero   int64
}

func (r *runningCount) Process(_ context.Context, t int64, in map[string][]abi.Raw) (host.Batch, bool, error) {
	for _, recs := range in {
		for _, p := range recs {
			k, v, err := abi.SplitPair(p)
			if err != nil {
				return host.Batch{}, false, err
			}
			w, _, _ := abi.ReadString(k)
			n, _, _ := abi.ReadInt(v)
			r.counts[w] += n
		}
	}
	var out []abi.Raw
	for _, w := range slices.Sorted(maps.Keys(r.counts)) {
		out = append(out, abi.AppendPair(nil, hosttest.Str(w), abi.AppendInt(nil, r.counts[w])))
	}
	return host.Batch{Time: t, Records: out}, true, nil
}

func (r *runningCount) Shape() string      { return "runningCount" }
func (r *runningCount) StartAt(zero int64) { r.zero = zero }
func (r *runningCount) Snapshot(dst []byte) []byte {
	b, _ := json.Marshal(r.counts)
	return append(dst, b...)
}
func (r *runningCount) Restore(b []byte) error { return json.Unmarshal(b, &r.counts) }

// Two RunScaleOut in one process (so -race sees both halves of both, the
// rebalances between them and the end of the run) share a group over six
// partitions, exactly-once: the last count of every word is its total.
func TestRunScaleOutInProcess(t *testing.T) {
	brokers := kafkaBrokers(t)
	admin := kafkaClient(t, brokers)
	in, out := createTopic(t, admin, "in", 6), createTopic(t, admin, "out", 6)
	lines, want := wordLines(3000)
	produceValues(t, brokers, in, lines)
	group := "so-" + randomID()
	errs := make(chan error, 2)
	logs := make([]*hosttest.SyncBuffer, 2)
	for i := range logs {
		logs[i] = &hosttest.SyncBuffer{}
		sink, err := host.OpenSink("kafka://"+brokers+"/"+out+"?exactlyOnce=true&transactionTimeout=10s", host.WithLog(hosttest.Logger(logs[i])))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			errs <- RunScaleOut(context.Background(), ScaleOut{
				Source:      "kafka://" + brokers + "/" + in + "?group=" + group + "&until=end&maxPoll=50&sessionTimeout=6s",
				Sink:        sink,
				Prefix:      splitPairs{},
				KeyOf:       func(r abi.Raw) (abi.Raw, error) { k, _, err := abi.SplitPair(r); return k, err },
				NewKeyed:    func() (PartitionProcessor, error) { return &runningCount{counts: map[string]int64{}}, nil },
				Interval:    20 * time.Millisecond,
				ExactlyOnce: true,
				Log:         hosttest.Logger(logs[i]),
			})
		}()
	}
	for range logs {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("the runs did not end:\n%s\n%s", logs[0].String(), logs[1].String())
		}
	}
	last := lastPerKey(readCommitted(t, brokers, out))
	for w, n := range want {
		if last[w] != fmt.Sprint(n) {
			t.Errorf("%s: last count %q, want %d", w, last[w], n)
		}
	}
	_, clog := ScaleOutTopics(group)
	if !strings.Contains(logs[0].String()+logs[1].String(), "routed by key through topic wstream-"+group+"-repartition") {
		t.Errorf("logs do not name the topics (%s):\n%s", clog, logs[0].String())
	}
}

// Restoring reads the changelog from a real broker: the last committed
// snapshot wins over one whose transaction aborted at the tail (whose
// records are never delivered, so the end offset is never seen).
func TestChangelogRestoreSkipsAbortedTail(t *testing.T) {
	brokers := kafkaBrokers(t)
	admin := kafkaClient(t, brokers)
	topic := createTopic(t, admin, "wstream-g-changelog", 2)
	k, _ := parseKafkaURI("kafka://" + brokers + "/in")
	c := &changelog{topic: topic, k: k, log: logs.Discard(), id: "t", admin: admin}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if snap, err := c.latest(ctx, 1, "s", "s"); err != nil || snap != nil {
		t.Fatalf("empty changelog: %q, %v", snap, err)
	}
	plain := kafkaClient(t, brokers, kgo.RecordPartitioner(changelogPartitioner{topic}))
	if err := plain.ProduceSync(ctx, c.records(1, []byte("committed"), "s")...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	txn := kafkaClient(t, brokers, kgo.RecordPartitioner(changelogPartitioner{topic}), kgo.TransactionalID("t-"+randomID()))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, c.records(1, []byte("aborted"), "s")...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	snap, err := c.latest(ctx, 1, "s", "s")
	if err != nil || string(snap) != "committed" {
		t.Fatalf("restored %q, %v; want the committed snapshot", snap, err)
	}
	if snap, err := c.latest(ctx, 0, "s", "s"); err != nil || snap != nil {
		t.Fatalf("other partition: %q, %v", snap, err)
	}
}
