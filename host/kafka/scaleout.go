package kafka

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
)

// ScaleOut is a pipeline whose keyed state RunScaleOut partitions across the
// processes of a consumer group, as Kafka Streams does (host/kafka/kafka.md,
// "Scale-out and state").
type ScaleOut struct {
	// Source is the pipeline's only source, kafka://BROKERS/TOPIC?group=G.
	Source string
	// Sink receives the output of the keyed stage and the stages after it.
	Sink host.Sink
	// DeadLetter, when not nil, receives the records a guest failed on
	// (onError: deadletter) in either half.
	DeadLetter host.Sink
	// Prefix runs the stages before the keyed stateful one, which keep no
	// state, on the partitions of Source this process owns.
	Prefix host.Processor
	// KeyOf gives the key that routes a record to the keyed stage.
	KeyOf func(abi.Raw) (abi.Raw, error)
	// NewKeyed builds the keyed stage and the stages after it, once for
	// each partition of the repartition topic this process owns.
	NewKeyed func() (PartitionProcessor, error)

	Interval     time.Duration
	ExactlyOnce  bool
	MaxRate      float64 // records/s on Source; 0 is no cap
	Backpressure bool
	Log          *slog.Logger

	// PrefixObserver and KeyedObserver, when set, watch the runs of the
	// two halves; BeforeBatch is called before each batch of either.
	PrefixObserver, KeyedObserver host.Observer
	BeforeBatch                   func(t int64)
}

// PartitionProcessor is the keyed half of a pipeline for one partition.
type PartitionProcessor interface {
	host.Processor
	host.Snapshotter
	// StartAt sets the zero time (ms) before the first batch, so that the
	// partitions of every process slide their windows at the same times.
	StartAt(zero int64)
}

// ScaleOutTopics names the internal topics of group G: the repartition
// topic that routes each key to one partition, and the changelog topic
// that holds each partition's state.
func ScaleOutTopics(group string) (repartition, changelog string) {
	return "wstream-" + group + "-repartition", "wstream-" + group + "-changelog"
}

// RunScaleOut runs a pipeline split at its first keyed stateful stage:
//
//   - the first half reads this process's partitions of the source, runs
//     the stages before the keyed one and writes each record to the
//     repartition topic with its key as the Kafka key, so every record of a
//     key lands in one partition;
//   - the second half reads the repartition topic in group G-keyed and runs
//     one copy of the keyed stages per partition it owns. After each batch,
//     the state of every partition that changed is written to the changelog
//     topic (one snapshot per partition), with the batch's output; a
//     process that is given a partition restores its state from there.
//
// With ExactlyOnce both halves commit in Kafka transactions: the first its
// repartition records with its source offsets, the second its output and
// changelog records with its repartition offsets, so the state restored by
// a new owner is exactly the state that produced the committed output.
// At-least-once, a crash may apply a replayed batch to the state twice.
//
// With ?until=end on Source, the run ends once the group has committed
// every source offset and the second half has consumed everything the
// first half wrote.
func RunScaleOut(ctx context.Context, so ScaleOut) (err error) {
	log := so.Log
	if log == nil {
		log = slog.Default()
	}
	closeAll := func() {
		so.Sink.Close()
		if so.DeadLetter != nil {
			so.DeadLetter.Close()
		}
	}
	k, err := parseKafkaURI(so.Source)
	if err != nil || k.group == "" {
		closeAll()
		if err == nil {
			err = fmt.Errorf("%s: scale-out needs a consumer group: add ?group=NAME", so.Source)
		}
		return fmt.Errorf("source %w", err)
	}
	rep, clog := ScaleOutTopics(k.group)
	n, err := createScaleOutTopics(ctx, k, rep, clog, log)
	if err != nil {
		closeAll()
		return err
	}
	log.Info(fmt.Sprintf("keyed state is partitioned across group %q: records are routed by key through topic %s (%d partitions), state is kept in %s", k.group, rep, n, clog))

	brokers := strings.Join(k.brokers, ",")
	txn := ""
	if sk, ok := so.Sink.(*kafkaSink); ok && sk.k.exactlyOnce {
		txn = "&transactionTimeout=" + sk.k.txnTimeout.String()
		if sk.k.txnID != "" {
			txn += "&transactionalId=" + sk.k.txnID + "-repartition"
		}
	}

	// The first half: source → stateless stages → repartition topic.
	src, err := openKafkaSource(so.Source, host.Env{Log: log})
	if err != nil {
		closeAll()
		return err
	}
	src.k.stateful = false // the state moves with its partitions: no warning
	sinkURI := "kafka://" + brokers + "/" + rep
	if so.ExactlyOnce {
		sinkURI += "?exactlyOnce=true" + txn
	}
	repSink, err := openKafkaSink(sinkURI, host.Env{Log: log})
	if err != nil {
		closeAll()
		return err
	}
	repSink.keyOf = so.KeyOf

	// The second half: repartition topic → keyed stages, one per partition.
	// maxPoll is the default (10000 exactly-once): the source's bounds the
	// first half's reads, and a second half that kept it would commit a
	// transaction per few records.
	keyedURI := fmt.Sprintf("kafka://%s/%s?group=%s-keyed&sessionTimeout=%s&connectTimeout=%s", brokers, rep, k.group, k.session, k.connect)
	ksrc, err := openKafkaSource(keyedURI, host.Env{Log: log})
	if err != nil {
		repSink.Close()
		closeAll()
		return err
	}
	ksrc.k.internal = true
	ksrc.changelog = clog
	cl := &changelog{topic: clog, k: k, log: log, id: randomID()}
	parts := &keyedPartitions{src: ksrc, newKeyed: so.NewKeyed, cl: cl, parts: map[int32]*partitionState{}, log: log}
	ksink := &keyedSink{Sink: so.Sink, kp: parts, cl: cl}
	if !so.ExactlyOnce {
		if cl.prod, err = kgo.NewClient(append(k.clientOpts(log), kgo.RecordPartitioner(changelogPartitioner{clog}))...); err != nil {
			repSink.Close()
			closeAll()
			return fmt.Errorf("changelog %s: %w", clog, err)
		}
	}
	if cl.admin, err = kgo.NewClient(k.clientOpts(log)...); err != nil {
		repSink.Close()
		closeAll()
		return fmt.Errorf("changelog %s: %w", clog, err)
	}
	defer cl.close()

	var dead map[string]host.Sink
	if so.DeadLetter != nil {
		shared := &sharedSink{Sink: so.DeadLetter}
		dead = map[string]host.Sink{"deadLetter": shared}
		defer so.DeadLetter.Close()
	}
	first := host.RunConfig{
		Sources:      map[string]host.Source{"input": src},
		Sink:         repSink,
		Processor:    so.Prefix,
		Interval:     so.Interval,
		Log:          log,
		SideSinks:    dead,
		Backpressure: so.Backpressure,
		Observer:     so.PrefixObserver,
		BeforeBatch:  so.BeforeBatch,
	}
	if so.MaxRate > 0 {
		first.MaxRate = map[string]float64{"input": so.MaxRate}
	}
	second := host.RunConfig{
		Sources:     map[string]host.Source{"input": ksrc},
		Sink:        ksink,
		Processor:   parts,
		Interval:    so.Interval,
		Log:         log,
		SideSinks:   dead,
		Observer:    so.KeyedObserver,
		BeforeBatch: so.BeforeBatch,
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	firstDone := make(chan error, 1)
	go func() {
		err := host.Run(rctx, first)
		if err == nil && k.untilEnd && rctx.Err() == nil {
			// Every source offset is committed by the group, so the
			// repartition topic holds everything it will: the second half
			// ends once it has consumed it.
			err = ksrc.stopAtEnd(rctx)
		}
		if err != nil {
			cancel()
		}
		firstDone <- err
	}()
	err = host.Run(rctx, second)
	if err != nil {
		cancel()
	}
	if ferr := <-firstDone; ferr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = ferr
	}
	return err
}

// createScaleOutTopics creates the repartition and changelog topics with as
// many partitions as the source topic, unless they exist, and checks that
// the two have the same number of partitions. It returns that number.
func createScaleOutTopics(ctx context.Context, k *kafkaURI, rep, clog string, log *slog.Logger) (int, error) {
	cl, err := kgo.NewClient(k.clientOpts(log)...)
	if err != nil {
		return 0, fmt.Errorf("source %s: %w", k.uri, err)
	}
	defer cl.Close()
	ends, err := k.waitReachable(ctx, cl, log)
	if err != nil {
		return 0, fmt.Errorf("source %w", err)
	}
	n := len(ends)
	adm := kadm.NewClient(cl)
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	compact := "compact"
	for _, t := range []struct {
		name    string
		configs map[string]*string
	}{{rep, nil}, {clog, map[string]*string{"cleanup.policy": &compact}}} {
		resp, err := adm.CreateTopic(cctx, int32(n), -1, t.configs, t.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return 0, fmt.Errorf("creating topic %s on %s: %w (create it with %d partitions, or give the group's principal create rights)", t.name, strings.Join(k.brokers, ","), err, n)
		}
	}
	parts := map[string]int{}
	for _, t := range []string{rep, clog} {
		u := *k
		u.topic = t
		e, err := u.waitReachable(cctx, cl, log)
		if err != nil {
			return 0, err
		}
		parts[t] = len(e)
	}
	if parts[rep] != parts[clog] {
		return 0, fmt.Errorf("topic %s has %d partitions and %s %d; the state of repartition partition P lives in changelog partition P, so they must match: delete both topics (the group's keyed state starts over) or give them the same number", rep, parts[rep], clog, parts[clog])
	}
	return parts[rep], nil
}

// keyedPartitions is the second half's processor: one PartitionProcessor
// per owned partition of the repartition topic, restored from the
// changelog when the partition arrives and dropped when it leaves.
type keyedPartitions struct {
	src      *kafkaSource
	newKeyed func() (PartitionProcessor, error)
	cl       *changelog
	parts    map[int32]*partitionState
	aborts   int64
	pending  []*kgo.Record // changelog records of the batch, for keyedSink
	log      *slog.Logger
	ignored  int // records of partitions no longer owned, since the last log line
}

type partitionState struct {
	p       PartitionProcessor
	shape   string
	written []byte // the state last written to the changelog
}

func (kp *keyedPartitions) Process(ctx context.Context, t int64, inputs map[string][]abi.Raw) (host.Batch, bool, error) {
	if a := kp.src.aborts.Load(); a != kp.aborts {
		// A rebalance aborted a transaction whose batch had already
		// updated the state: start again from the committed changelog.
		kp.aborts, kp.parts = a, map[int32]*partitionState{}
	}
	owned := kp.src.ownedPartitions()
	own := make(map[int32]bool, len(owned))
	for _, p := range owned {
		own[p] = true
	}
	for p := range kp.parts {
		if !own[p] {
			delete(kp.parts, p) // its new owner restores it
			kp.log.Info(fmt.Sprintf("partition %d of %s moved to another process, which restores its state from %s", p, kp.src.k.topic, kp.cl.topic))
		}
	}
	for _, p := range owned {
		if kp.parts[p] == nil {
			st, err := kp.restore(ctx, p)
			if err != nil {
				return host.Batch{}, false, err
			}
			kp.parts[p] = st
		}
	}
	byPart := map[int32][]abi.Raw{}
	for _, recs := range inputs {
		for _, r := range recs {
			n, rest, err := abi.ArrayHeader(r)
			var p int64
			if err == nil && n == 2 {
				p, rest, err = abi.ReadInt(rest)
			}
			if err != nil || n != 2 {
				return host.Batch{}, false, fmt.Errorf("repartition topic %s: a record is not [partition, value]: %s", kp.src.k.topic, abi.Describe(r))
			}
			if !own[int32(p)] {
				// Read just before the partition moved: its new owner reads
				// it again from the group's committed offset.
				kp.ignored++
				continue
			}
			byPart[int32(p)] = append(byPart[int32(p)], abi.Raw(rest))
		}
	}
	if kp.ignored > 0 {
		kp.log.Info(fmt.Sprintf("%d records of partitions that moved to another process were left to it", kp.ignored))
		kp.ignored = 0
	}
	out := host.Batch{Time: t}
	emit := false
	for _, p := range owned {
		st := kp.parts[p]
		b, e, err := st.p.Process(ctx, t, map[string][]abi.Raw{"input": byPart[p]})
		if err != nil {
			return host.Batch{}, false, fmt.Errorf("partition %d: %w", p, err)
		}
		if e {
			emit = true
			out.Records = append(out.Records, b.Records...)
		}
		for name, recs := range b.Side {
			if out.Side == nil {
				out.Side = map[string][]abi.Raw{}
			}
			out.Side[name] = append(out.Side[name], recs...)
		}
		snap := st.p.Snapshot(nil)
		if !bytes.Equal(snap, st.written) {
			kp.pending = append(kp.pending, kp.cl.records(p, snap, st.shape)...)
			st.written = snap
		}
	}
	return out, emit, nil
}

// restore builds partition p's processor from its latest snapshot in the
// changelog, or fresh when there is none.
func (kp *keyedPartitions) restore(ctx context.Context, p int32) (*partitionState, error) {
	pp, err := kp.newKeyed()
	if err != nil {
		return nil, err
	}
	st := &partitionState{p: pp, shape: shapeHash(pp.Shape())}
	legacy := st.shape
	if l, ok := pp.(host.LegacyShaper); ok {
		legacy = shapeHash(l.LegacyShape())
	}
	snap, err := kp.cl.latest(ctx, p, st.shape, legacy)
	if err != nil {
		return nil, err
	}
	if snap == nil {
		pp.StartAt(0)
		return st, nil
	}
	if err := pp.Restore(snap); err != nil {
		return nil, fmt.Errorf("changelog %s partition %d: %w: %v", kp.cl.topic, p, host.ErrCheckpointCorrupt, err)
	}
	// written stays nil: the first batch writes the state again, so a
	// snapshot a former owner wrote after this one's never comes last.
	kp.log.Info(fmt.Sprintf("partition %d: state restored from %s (%d bytes)", p, kp.cl.topic, len(snap)))
	return st, nil
}

// keyedSink writes the changelog records of each batch: into the batch's
// transaction when the pipeline is exactly-once, otherwise before the
// batch's input offsets are committed.
type keyedSink struct {
	host.Sink
	kp *keyedPartitions
	cl *changelog
}

func (s *keyedSink) Bind(sources map[string]host.Source) error {
	if bc, ok := s.Sink.(host.BatchCommitter); ok {
		return bc.Bind(sources)
	}
	return nil
}

func (s *keyedSink) CommitBatch(pos map[string][]byte) error {
	recs := s.kp.pending
	s.kp.pending = nil
	if len(recs) > 0 {
		if err := s.cl.write(s.Sink, recs); err != nil {
			return err
		}
	}
	if bc, ok := s.Sink.(host.BatchCommitter); ok {
		return bc.CommitBatch(pos)
	}
	return nil
}

// sharedSink lets both halves write one dead-letter sink; the first
// half's run opens it, and RunScaleOut closes it once both are done.
type sharedSink struct {
	host.Sink
	mu     sync.Mutex
	opened bool
}

func (s *sharedSink) Open(ctx context.Context, resume int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opened {
		return nil
	}
	s.opened = true
	return s.Sink.Open(ctx, resume)
}

func (s *sharedSink) Write(b host.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Sink.Write(b)
}

func (s *sharedSink) Close() error { return nil }

// changelog holds each repartition partition's state in the partition of
// the same number: one snapshot per batch that changed it, cut into chunks
// that fit in a Kafka record.
type changelog struct {
	topic string
	k     *kafkaURI
	log   *slog.Logger
	id    string      // this process, in snapshot ids
	seq   int64       // snapshots written
	prod  *kgo.Client // at-least-once producer; nil when the sink's transaction carries the records
	admin *kgo.Client
}

// changelogChunk keeps each record well below Kafka's default 1 MB limit.
const changelogChunk = 512 << 10

const (
	headerSnapshot = "wstream-snapshot" // "ID I N": chunk I of N of snapshot ID
	headerShape    = "wstream-shape"    // a digest of the operators the state is for
)

func (c *changelog) records(p int32, snap []byte, shape string) []*kgo.Record {
	c.seq++
	id := c.id + "-" + strconv.FormatInt(c.seq, 10)
	n := max(1, (len(snap)+changelogChunk-1)/changelogChunk)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		chunk := snap[min(i*changelogChunk, len(snap)):min((i+1)*changelogChunk, len(snap))]
		recs[i] = &kgo.Record{Topic: c.topic, Partition: p, Key: fmt.Appendf(nil, "%d/%d", p, i), Value: chunk,
			Headers: []kgo.RecordHeader{
				{Key: headerSnapshot, Value: fmt.Appendf(nil, "%s %d %d", id, i, n)},
				{Key: headerShape, Value: []byte(shape)},
			}}
	}
	return recs
}

// write produces changelog records: with exactly-once into the sink's open
// transaction (the sink is a kafka sink bound to the second half's source,
// whose client routes changelog records by their partition), otherwise
// with the changelog's producer, waiting for the brokers.
func (c *changelog) write(sink host.Sink, recs []*kgo.Record) error {
	if c.prod == nil {
		ks, ok := sink.(*kafkaSink)
		if !ok || ks.src == nil {
			return fmt.Errorf("changelog %s: exactly-once needs the pipeline's sink to be a kafka sink", c.topic)
		}
		return ks.produce(recs, 0)
	}
	var mu sync.Mutex
	var first error
	ctx := context.Background()
	for _, r := range recs {
		c.prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		})
	}
	if err := c.prod.Flush(ctx); err != nil {
		return fmt.Errorf("changelog %s: %w", c.topic, err)
	}
	if first != nil {
		return fmt.Errorf("changelog %s: writing state: %w", c.topic, first)
	}
	return nil
}

// latest returns the last complete snapshot of partition p among committed
// records, nil when there is none. It reads backwards from the end in
// growing windows, so a long changelog costs only its tail.
func (c *changelog) latest(ctx context.Context, p int32, shape, legacy string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, max(c.k.connect, time.Minute))
	defer cancel()
	offs, err := kadm.NewClient(c.admin).ListCommittedOffsets(cctx, c.topic) // read_committed: the last stable offset
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("changelog %s partition %d: finding its end: %w", c.topic, p, err)
	}
	o, ok := offs.Lookup(c.topic, p)
	if !ok || o.Offset <= 0 {
		return nil, nil
	}
	end := o.Offset
	for window := int64(64); ; window *= 8 {
		start := max(0, end-window)
		recs, err := c.read(cctx, p, start, end)
		if err != nil {
			return nil, err
		}
		snap, found, err := assemble(recs, shape, legacy, c.topic, p)
		if err != nil || found {
			return snap, err
		}
		if start == 0 {
			if len(recs) > 0 {
				c.log.Warn(fmt.Sprintf("changelog %s partition %d holds no complete snapshot; the partition starts with empty state", c.topic, p))
			}
			return nil, nil
		}
	}
}

// read returns the committed records of partition p in [start, end).
func (c *changelog) read(ctx context.Context, p int32, start, end int64) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(append(c.k.clientOpts(c.log),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: {p: kgo.NewOffset().At(start)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200*time.Millisecond),
	)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	fetched, quiet := false, 0
	for {
		// Records of aborted transactions are never delivered, so offset
		// end-1 may never be seen. The broker answering twice with
		// nothing more for the partition is the end; a client that has
		// not had an answer yet (still connecting, a slow broker) keeps
		// waiting until ctx ends, which is an error, never empty state.
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("changelog %s partition %d: reading state: %w", c.topic, p, ctx.Err())
		}
		last, got := int64(-1), false
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if fp.Topic != c.topic || fp.Partition != p || fp.Err != nil {
				return
			}
			fetched = true
			for _, r := range fp.Records {
				got, last = true, r.Offset
				if r.Offset < end && !r.Attrs.IsControl() {
					out = append(out, r)
				}
			}
		})
		switch {
		case last >= end-1:
			return out, nil
		case got || !fetched:
			quiet = 0
		default:
			if quiet++; quiet >= 2 {
				return out, nil
			}
		}
	}
}

// assemble finds the last snapshot whose chunks are all in recs.
// A snapshot of shape, or of legacy (the same operators as an older
// wstream described them), is taken.
func assemble(recs []*kgo.Record, shape, legacy, topic string, p int32) ([]byte, bool, error) {
	type snap struct {
		n      int
		chunks map[int][]byte
		shape  string
	}
	snaps := map[string]*snap{}
	var order []string // ids, last written first
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		var id, sh string
		var ci, n int
		for _, h := range r.Headers {
			switch h.Key {
			case headerSnapshot:
				fmt.Sscanf(string(h.Value), "%s %d %d", &id, &ci, &n)
			case headerShape:
				sh = string(h.Value)
			}
		}
		if id == "" || n < 1 || ci < 0 || ci >= n {
			return nil, false, fmt.Errorf("changelog %s partition %d offset %d: not a wstream state record; the topic is wstream's own, do not write to it", topic, p, r.Offset)
		}
		s := snaps[id]
		if s == nil {
			s = &snap{n: n, chunks: map[int][]byte{}, shape: sh}
			snaps[id] = s
			order = append(order, id)
		}
		s.chunks[ci] = r.Value
	}
	for _, id := range order {
		s := snaps[id]
		if len(s.chunks) != s.n {
			continue // cut short by a crash (at-least-once): an older one
		}
		if s.shape != shape && s.shape != legacy {
			return nil, false, fmt.Errorf("%w: changelog %s partition %d holds state of a pipeline with other keyed stages; a changed pipeline needs a new group, or delete the group's topics %s and %s to start its state over",
				host.ErrCheckpointMismatch, topic, p, strings.TrimSuffix(topic, "-changelog")+"-repartition", topic)
		}
		var b []byte
		for i := 0; i < s.n; i++ {
			b = append(b, s.chunks[i]...)
		}
		return b, true, nil
	}
	return nil, false, nil
}

// shapeHash is the short digest of a shape that changelog records carry.
func shapeHash(shape string) string {
	h := sha256.Sum256([]byte(shape))
	return hex.EncodeToString(h[:8])
}

func (c *changelog) close() {
	if c.prod != nil {
		c.prod.Close()
	}
	if c.admin != nil {
		c.admin.Close()
	}
}

// changelogPartitioner sends changelog records to the partition they name
// and every other record where franz-go's default partitioner would.
type changelogPartitioner struct{ topic string }

func (c changelogPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if t == c.topic {
		return kgo.ManualPartitioner().ForTopic(t)
	}
	return kgo.StickyKeyPartitioner(nil).ForTopic(t)
}
