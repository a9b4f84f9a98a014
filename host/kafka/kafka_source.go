package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
)

// kafkaPollSlice bounds one poll, so that Next notices until=end, a
// cancelled context and a transaction that wants the client.
const kafkaPollSlice = 200 * time.Millisecond

// kafkaSource reads a topic, in a consumer group when the URI names one.
//
// At-least-once (the default): offsets are not auto-committed. Each unit's
// Pos holds the next offset of every partition read so far; Run commits it
// in the wstream checkpoint and then calls Ack, which commits the offsets
// of the partitions this process still owns to the group. A partition this
// process is assigned starts at the later of its checkpointed offset and the
// group's committed offset (host/kafka/kafka.md, "Which offsets win").
//
// Exactly-once (a kafka sink with exactlyOnce bound itself to this source
// before Open): the client is a franz-go GroupTransactSession; the sink's
// transaction commits each batch's output together with the offsets of the
// records read for it, and only the group's committed offsets count. To
// make "what was polled" equal "what the batch holds", at most one unit is
// out at a time: Next waits until the batch holding the last unit has
// committed or aborted (after an abort the session rewinds to the committed
// offsets and the records are read again).
type kafkaSource struct {
	k   *kafkaURI
	log *slog.Logger

	eos        bool          // set by the sink's Bind
	txnID      string        // eos: transactional id
	txnTimeout time.Duration // eos

	cl    *kgo.Client // the consumer (the session's client when eos)
	sess  *kgo.GroupTransactSession
	admin *kgo.Client // metadata and group offsets
	dlq   *kgo.Client // dead-letter producer, when asked for

	// changelog, set by RunScaleOut, is a topic whose records name their
	// partition: the exactly-once session's client produces them too.
	changelog string

	resume map[int32]int64 // checkpointed positions (at-least-once)
	ends   map[int32]int64 // until=end: end offsets at Open (or at stopAtEnd)
	// stopping is until=end in effect: from Open, or once stopAtEnd set ends.
	stopping atomic.Bool
	// aborts counts transactions aborted by a rebalance, so state built
	// from their input can be thrown away (RunScaleOut).
	aborts atomic.Int64

	// mu serialises the client between Next's polls and the transaction's
	// Begin and End, which franz-go forbids running concurrently.
	mu          sync.Mutex
	next        map[int32]int64 // offset after the last record handed out
	outstanding bool            // eos: a unit is out and its batch not committed
	released    chan struct{}   // eos: closed when outstanding clears
	inTxn       bool            // eos: a transaction is open

	pollMu     sync.Mutex
	cancelPoll context.CancelFunc

	ackMu     sync.Mutex
	failedAck []byte // the position whose group commit failed last

	omu        sync.Mutex
	owned      map[int32]bool
	moved      map[int32]bool // assigned or revoked since next was last cleaned
	lastWarn   time.Time
	warnShared bool

	watch partitionWatch // lag and rebalances (observe.go)
}

func openKafkaSource(uri string, env host.Env) (*kafkaSource, error) {
	k, err := parseKafkaURI(uri)
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	if k.exactlyOnce {
		return nil, fmt.Errorf("source %s: exactlyOnce belongs on the kafka sink (or exactlyOnce: true in the pipeline)", uri)
	}
	if env.Stateful && k.group != "" {
		k.stateful = true
	}
	return &kafkaSource{k: k, log: env.Log, owned: map[int32]bool{}, next: map[int32]int64{}, released: make(chan struct{})}, nil
}

func (s *kafkaSource) URI() string { return s.k.uri }

func (s *kafkaSource) Open(ctx context.Context, pos []byte) error {
	if s.cl != nil {
		return fmt.Errorf("%s: already open", s.k.uri)
	}
	if pos != nil && !s.eos {
		r, err := decodeKafkaPos(s.k.uri, s.k.topic, pos)
		if err != nil {
			return err
		}
		s.resume = r
	}
	var err error
	if s.admin, err = kgo.NewClient(s.k.clientOpts(s.log)...); err != nil {
		return fmt.Errorf("%s: %w", s.k.uri, err)
	}
	ends, err := s.k.waitReachable(ctx, s.admin, s.log)
	if err != nil {
		s.admin.Close()
		return err
	}
	if s.k.untilEnd {
		s.ends = ends
		s.stopping.Store(true)
	}
	start := kgo.NewOffset().AtStart()
	if s.k.startLatest {
		start = kgo.NewOffset().AtEnd()
	}
	opts := append(s.k.clientOpts(s.log),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(), // so offsets pass transaction markers (until=end)
		kgo.ConsumeResetOffset(start),
		kgo.FetchMaxWait(100*time.Millisecond),
	)
	if s.changelog != "" {
		opts = append(opts, kgo.RecordPartitioner(changelogPartitioner{s.changelog}))
	}
	if s.k.group == "" {
		offs := map[int32]kgo.Offset{}
		for p := range ends {
			offs[p] = start
			if r, ok := s.resume[p]; ok {
				offs[p] = kgo.NewOffset().At(r)
				s.next[p] = r
			}
			s.owned[p] = true
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.k.topic: offs}))
	} else {
		opts = append(opts,
			kgo.ConsumeTopics(s.k.topic),
			kgo.ConsumerGroup(s.k.group),
			kgo.DisableAutoCommit(),
			kgo.Balancers(kgo.CooperativeStickyBalancer()),
			kgo.SessionTimeout(s.k.session),
			kgo.AdjustFetchOffsetsFn(s.adjustOffsets),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.assigned(m[s.k.topic], len(ends)) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.revoked(m[s.k.topic], "revoked") }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.revoked(m[s.k.topic], "lost") }),
		)
	}
	if s.eos {
		id := s.txnID
		if id == "" {
			id = "wstream-" + s.k.group + "-" + randomID()
		}
		opts = append(opts,
			kgo.TransactionalID(id),
			kgo.TransactionTimeout(s.txnTimeout),
			kgo.RequireStableFetchOffsets(),
			kgo.AllowAutoTopicCreation(),
		)
		if s.sess, err = kgo.NewGroupTransactSession(opts...); err == nil {
			s.cl = s.sess.Client()
		}
	} else {
		s.cl, err = kgo.NewClient(opts...)
	}
	if err != nil {
		s.admin.Close()
		return fmt.Errorf("%s: %w", s.k.uri, err)
	}
	if s.k.deadLetter != "" {
		if s.dlq, err = kgo.NewClient(append(s.k.clientOpts(s.log), kgo.DefaultProduceTopic(s.k.deadLetter), kgo.AllowAutoTopicCreation())...); err != nil {
			s.Close()
			return fmt.Errorf("%s: dead-letter producer: %w", s.k.uri, err)
		}
	}
	return nil
}

// adjustOffsets picks where an assigned partition starts. At-least-once,
// the later of the checkpoint and the group's commit wins: the checkpoint
// is ahead only if this process died between its checkpoint and the group
// commit, and the group is ahead only if another member processed the
// partition since. Exactly-once, the group's offsets (committed in the
// transactions) are the truth and are kept.
func (s *kafkaSource) adjustOffsets(_ context.Context, m map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	if s.eos {
		return m, nil
	}
	for p, o := range m[s.k.topic] {
		if r, ok := s.resume[p]; ok && r > o.EpochOffset().Offset {
			m[s.k.topic][p] = kgo.NewOffset().At(r)
		}
	}
	return m, nil
}

func (s *kafkaSource) assigned(ps []int32, total int) {
	s.omu.Lock()
	defer s.omu.Unlock()
	for _, p := range ps {
		s.owned[p] = true
		s.markMoved(p)
	}
	s.rebalanced("assigned", ps)
	if s.k.stateful && len(s.owned) < total && !s.warnShared {
		s.warnShared = true
		s.log.Warn(fmt.Sprintf("%s: this process owns %d of %d partitions in group %q, and the pipeline keeps state that is not split by key (a window, a count or an event-time stage, or state in two stages). That state is per process and does not move with a partition: it is right only if all the records it needs reach this process. Run one process, or see host/kafka/kafka.md, \"Scale-out and state\"", s.k.uri, len(s.owned), total, s.k.group))
	}
}

// revoked drops partitions taken away in a rebalance, or lost (what says
// which: a lost partition's session expired).
func (s *kafkaSource) revoked(ps []int32, what string) {
	s.omu.Lock()
	defer s.omu.Unlock()
	for _, p := range ps {
		delete(s.owned, p)
		s.markMoved(p)
	}
	s.rebalanced(what, ps)
}

// markMoved notes that p changed hands; s.omu is held. The rebalance
// callbacks must not take s.mu (a transaction's End holds it while franz-go
// runs them), so next is cleaned later, by cleanMoved.
func (s *kafkaSource) markMoved(p int32) {
	if s.moved == nil {
		s.moved = map[int32]bool{}
	}
	s.moved[p] = true
}

// cleanMoved forgets the read offsets of partitions that changed hands: a
// partition that comes back starts again where the group committed, and an
// old offset would make until=end stop before it is read. s.mu is held.
func (s *kafkaSource) cleanMoved() {
	s.omu.Lock()
	defer s.omu.Unlock()
	for p := range s.moved {
		delete(s.next, p)
	}
	s.moved = nil
}

func (s *kafkaSource) isOwned(p int32) bool {
	s.omu.Lock()
	defer s.omu.Unlock()
	return s.owned[p]
}

func (s *kafkaSource) Next(ctx context.Context) (host.Unit, error) {
	if s.cl == nil {
		return host.Unit{}, fmt.Errorf("%s: Next before Open", s.k.uri)
	}
	if s.eos {
		for {
			s.mu.Lock()
			out, ch := s.outstanding, s.released
			s.mu.Unlock()
			if !out {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				return host.Unit{}, ctx.Err()
			}
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return host.Unit{}, err
		}
		if s.stopping.Load() {
			done, err := s.done(ctx)
			if err != nil {
				return host.Unit{}, err
			}
			if done {
				return host.Unit{}, io.EOF
			}
		}
		u, ok, err := s.poll(ctx)
		if err != nil || ok {
			return u, err
		}
	}
}

// poll reads what is there within one slice; ok is false when nothing was.
func (s *kafkaSource) poll(ctx context.Context) (host.Unit, bool, error) {
	pctx, cancel := context.WithTimeout(ctx, kafkaPollSlice)
	defer cancel()
	s.pollMu.Lock()
	s.cancelPoll = cancel
	s.pollMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanMoved()
	fs := s.cl.PollRecords(pctx, s.pollSize())
	s.pollMu.Lock()
	s.cancelPoll = nil
	s.pollMu.Unlock()
	if fs.IsClientClosed() {
		return host.Unit{}, false, fmt.Errorf("%s: the client was closed", s.k.uri)
	}
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		if time.Since(s.lastWarn) > 5*time.Second { // franz-go retries; say so once in a while
			s.lastWarn = time.Now()
			where := ""
			if t != "" {
				where = fmt.Sprintf("topic %s partition %d: ", t, p)
			}
			s.log.Warn(fmt.Sprintf("%s: %s%v (retrying)", s.k.uri, where, err))
		}
	})
	var buf []byte
	var ends []int
	advanced := false
	var ferr error
	fs.EachRecord(func(r *kgo.Record) {
		if ferr != nil || r.Topic != s.k.topic {
			return
		}
		s.next[r.Partition] = r.Offset + 1
		advanced = true
		if r.Attrs.IsControl() {
			return
		}
		var err error
		nb, err := s.k.recordValue(buf, r)
		if err != nil {
			ferr = s.undecodable(ctx, r, err)
			return
		}
		buf = nb
		ends = append(ends, len(buf))
	})
	if ferr != nil {
		return host.Unit{}, false, ferr
	}
	s.noteLag(fs)
	if !advanced {
		return host.Unit{}, false, nil
	}
	recs := make([]abi.Raw, len(ends))
	from := 0
	for i, e := range ends {
		recs[i] = abi.Raw(buf[from:e:e])
		from = e
	}
	if s.eos {
		s.outstanding = true
	}
	return host.Unit{Records: recs, Pos: encodeKafkaPos(s.k.topic, s.next)}, true, nil
}

// pollSize is the most records one read hands out. At-least-once, reads run
// ahead of the batches by up to the scheduler's buffer of units, so a read
// is kept small to bound memory; exactly-once, one read is a whole batch.
func (s *kafkaSource) pollSize() int {
	switch {
	case s.k.maxPoll > 0:
		return s.k.maxPoll
	case s.eos:
		return 10000
	}
	return 1000
}

// undecodable sends a record that does not decode to the dead-letter topic,
// or fails naming where it is.
func (s *kafkaSource) undecodable(ctx context.Context, r *kgo.Record, err error) error {
	where := fmt.Sprintf("topic %s partition %d offset %d", r.Topic, r.Partition, r.Offset)
	if s.dlq == nil {
		return fmt.Errorf("%s: %s: the value is not %s: %v; fix or skip the record, or add ?deadLetter=TOPIC to divert such records", s.k.uri, where, s.k.format, err)
	}
	dr := &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp,
		Headers: append(append([]kgo.RecordHeader{}, r.Headers...),
			kgo.RecordHeader{Key: "wstream-error", Value: []byte(err.Error())},
			kgo.RecordHeader{Key: "wstream-origin", Value: []byte(where)})}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if perr := s.dlq.ProduceSync(pctx, dr).FirstErr(); perr != nil {
		return fmt.Errorf("%s: %s: undecodable (%v), and writing it to dead-letter topic %s failed: %w", s.k.uri, where, err, s.k.deadLetter, perr)
	}
	s.log.Warn(fmt.Sprintf("%s: %s: the value is not %s (%v); sent to dead-letter topic %s", s.k.uri, where, s.k.format, err, s.k.deadLetter))
	return nil
}

// done reports whether every partition has reached the end offset it had
// at Open. Without a group that is this process's reading. In a group it
// is the group's committed offsets, for every partition: a process that
// has read its partitions to the end waits until its batches are committed
// (its partitions may move to another member before that), and until the
// other members, or whoever takes over a dead member's partitions, have
// committed theirs.
func (s *kafkaSource) done(ctx context.Context) (bool, error) {
	s.mu.Lock()
	s.cleanMoved()
	next := make(map[int32]int64, len(s.next))
	for p, o := range s.next {
		if s.isOwned(p) || s.k.group == "" {
			next[p] = o
		}
	}
	s.mu.Unlock()
	for p, end := range s.ends {
		if o, ok := next[p]; end > 0 && (ok || s.k.group == "") && o < end {
			return false, nil // still reading it
		}
	}
	if s.k.group == "" {
		return true, nil
	}
	s.retryAck()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(s.admin).FetchOffsetsForTopics(cctx, s.k.group, s.k.topic)
	if err != nil {
		return false, nil // asked again at the next poll; the client logs
	}
	for p, end := range s.ends {
		if end == 0 {
			continue
		}
		if o, ok := offs.Lookup(s.k.topic, p); !ok || o.Err != nil || o.At < end {
			return false, nil
		}
	}
	return true, nil
}

// Ack commits the offsets of a checkpointed (or, without checkpoints, a
// written) batch to the group, for the partitions this process still owns.
// Exactly-once, the transaction already did.
func (s *kafkaSource) Ack(pos []byte) error {
	if s.eos || s.k.group == "" || s.cl == nil {
		return nil
	}
	offs, err := decodeKafkaPos(s.k.uri, s.k.topic, pos)
	if err != nil {
		return err
	}
	commit := map[int32]kgo.EpochOffset{}
	for p, o := range offs {
		if s.isOwned(p) {
			commit[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
	}
	if len(commit) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var cerr error
	s.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{s.k.topic: commit}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = err
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode != 0 && cerr == nil {
						cerr = fmt.Errorf("partition %d: error code %d", p.Partition, p.ErrorCode)
					}
				}
			}
		}
	})
	s.ackMu.Lock()
	s.failedAck = nil
	if cerr != nil {
		// Not fatal: the checkpoint holds the offsets, and a rebalance in
		// flight is the usual cause; the next batch commits again, and
		// until=end retries while it waits.
		s.failedAck = pos
		s.log.Warn(fmt.Sprintf("%s: committing offsets to group %q: %v (the checkpoint has them; retrying with the next batch)", s.k.uri, s.k.group, cerr))
	}
	s.ackMu.Unlock()
	return nil
}

// retryAck commits again the offsets whose commit failed last.
func (s *kafkaSource) retryAck() {
	s.ackMu.Lock()
	pos := s.failedAck
	s.ackMu.Unlock()
	if pos != nil {
		s.Ack(pos)
	}
}

// lockForTxn takes the client from Next, interrupting a poll in progress.
func (s *kafkaSource) lockForTxn() {
	s.pollMu.Lock()
	if s.cancelPoll != nil {
		s.cancelPoll()
	}
	s.pollMu.Unlock()
	s.mu.Lock()
}

// release marks the outstanding unit done and wakes Next.
func (s *kafkaSource) release() {
	if s.outstanding {
		s.outstanding = false
		close(s.released)
		s.released = make(chan struct{})
	}
}

// rewound resets the positions after an aborted transaction, to where the
// session rewound the client: the group's committed offsets.
func (s *kafkaSource) rewound() {
	s.aborts.Add(1)
	for t, ps := range s.cl.CommittedOffsets() {
		if t != s.k.topic {
			continue
		}
		for p, o := range ps {
			s.next[p] = o.Offset
		}
	}
}

// stopAtEnd makes the source end, as until=end does, at the topic's end
// offsets as of now: RunScaleOut calls it once everything that writes the
// topic has finished.
func (s *kafkaSource) stopAtEnd(ctx context.Context) error {
	ends, err := s.k.waitReachable(ctx, s.admin, s.log)
	if err != nil {
		return err
	}
	s.ends = ends
	s.stopping.Store(true)
	return nil
}

// ownedPartitions lists the partitions this process owns, in order.
func (s *kafkaSource) ownedPartitions() []int32 {
	s.omu.Lock()
	defer s.omu.Unlock()
	out := make([]int32, 0, len(s.owned))
	for p := range s.owned {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (s *kafkaSource) Close() error {
	if s.cl == nil {
		return nil
	}
	if s.sess != nil {
		s.lockForTxn()
		if s.inTxn {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			s.sess.End(ctx, kgo.TryAbort)
			cancel()
			s.inTxn = false
		}
		s.mu.Unlock()
		s.sess.Close()
	} else {
		s.cl.Close()
	}
	s.admin.Close()
	if s.dlq != nil {
		s.dlq.Close()
	}
	s.cl = nil
	return nil
}
