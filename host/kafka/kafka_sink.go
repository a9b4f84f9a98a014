package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
)

// kafkaSink produces each batch's records to a topic.
//
// At-least-once (the default): Write returns once the brokers acknowledged
// every record, so a batch is never checkpointed before its output is
// durable; a batch replayed after a crash is produced again.
//
// With record=full, each record is a map {key, value, headers, timestamp},
// the shape a source with record=full reads.
//
// Exactly-once (?exactlyOnce=true, which exactlyOnce: true in the pipeline
// sets): the sink binds itself to the pipeline's kafka source, whose client
// is a transactional session. Write begins a transaction and produces into
// it; CommitBatch commits it together with the input offsets of the batch.
// A read_committed consumer sees each batch's output exactly once.
type kafkaSink struct {
	k   *kafkaURI
	log *slog.Logger
	cl  *kgo.Client // at-least-once producer

	src     *kafkaSource // exactly-once: the bound source
	srcName string

	// keyOf, set by RunScaleOut on its repartition sink, routes records:
	// each is written whole as msgpack, with the msgpack of its key as the
	// Kafka key, so the default partitioner sends a key to one partition.
	keyOf func(abi.Raw) (abi.Raw, error)

	errMu sync.Mutex
	perr  error // first failed produce of the open batch
}

func openKafkaSink(uri string, env host.Env) (*kafkaSink, error) {
	k, err := parseKafkaURI(uri)
	if err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	if env.ExactlyOnce {
		k.exactlyOnce = true
	}
	for what, set := range map[string]bool{"group": k.group != "", "format": k.format != "text", "record=pair": k.pair, "until": k.untilEnd, "deadLetter": k.deadLetter != ""} {
		if set {
			return nil, fmt.Errorf("sink %s: %s is a source parameter", uri, what)
		}
	}
	s := &kafkaSink{k: k, log: env.Log}
	if !k.exactlyOnce {
		opts := append(k.clientOpts(env.Log), kgo.DefaultProduceTopic(k.topic), kgo.AllowAutoTopicCreation())
		if k.connect > 0 {
			// Retried until then; after it a batch fails with a clear error.
			opts = append(opts, kgo.RecordDeliveryTimeout(k.connect))
		}
		if s.cl, err = kgo.NewClient(opts...); err != nil {
			return nil, fmt.Errorf("sink %s: %w", uri, err)
		}
	}
	return s, nil
}

func (s *kafkaSink) URI() string { return s.k.uri }

// Open does nothing: the client connects at its first request.
func (s *kafkaSink) Open(context.Context, int64) error { return nil }

// Bind finds the kafka source whose group's offsets the transactions commit.
func (s *kafkaSink) Bind(sources map[string]host.Source) error {
	if !s.k.exactlyOnce {
		return nil
	}
	var names []string
	for name, src := range sources {
		if ks, ok := src.(*kafkaSource); ok && ks.k.group != "" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) != 1 || len(sources) != 1 {
		return fmt.Errorf("sink %s: exactly-once needs the pipeline's only source to be a kafka://BROKERS/TOPIC?group=G source (the transaction commits that group's offsets with the output); found sources %s", s.k.uri, strings.Join(sortedSourceURIs(sources), ", "))
	}
	src := sources[names[0]].(*kafkaSource)
	if a, b := strings.Join(sortedStrings(src.k.brokers), ","), strings.Join(sortedStrings(s.k.brokers), ","); a != b {
		return fmt.Errorf("sink %s: exactly-once needs the source and the sink on the same Kafka cluster (a transaction cannot span two); the source uses %s", s.k.uri, a)
	}
	src.eos, src.txnID, src.txnTimeout = true, s.k.txnID, s.k.txnTimeout
	s.src, s.srcName = src, names[0]
	return nil
}

func sortedSourceURIs(m map[string]host.Source) []string {
	var out []string
	for _, s := range m {
		out = append(out, s.URI())
	}
	return sortedStrings(out)
}

func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

func (s *kafkaSink) promise(_ *kgo.Record, err error) {
	if err != nil {
		s.errMu.Lock()
		if s.perr == nil {
			s.perr = err
		}
		s.errMu.Unlock()
	}
}

func (s *kafkaSink) takeErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	err := s.perr
	s.perr = nil
	return err
}

func (s *kafkaSink) Write(b host.Batch) error {
	if s.k.exactlyOnce && s.src == nil {
		return fmt.Errorf("sink %s: exactly-once sink used without a bound kafka source", s.k.uri)
	}
	if len(b.Records) == 0 {
		return nil
	}
	recs := make([]*kgo.Record, len(b.Records))
	for i, r := range b.Records {
		var kr *kgo.Record
		var err error
		switch {
		case s.keyOf != nil:
			var key abi.Raw
			if key, err = s.keyOf(r); err == nil {
				kr = &kgo.Record{Topic: s.k.topic, Key: append([]byte{}, key...), Value: append([]byte{}, r...)}
			}
		case s.k.full:
			kr, err = fullSinkRecord(s.k.topic, r)
		default:
			kr, err = sinkRecord(s.k.topic, r)
		}
		if err != nil {
			return fmt.Errorf("sink %s: batch %d ms, record %d: %w", s.k.uri, b.Time, i, err)
		}
		recs[i] = kr
	}
	return s.produce(recs, b.Time)
}

// produce writes records: at-least-once, it returns when the brokers have
// them; exactly-once, they join the batch's transaction.
func (s *kafkaSink) produce(recs []*kgo.Record, t int64) error {
	ctx := context.Background()
	if s.src == nil {
		for _, r := range recs {
			s.cl.Produce(ctx, r, s.promise)
		}
		if err := s.cl.Flush(ctx); err != nil {
			return fmt.Errorf("sink %s: %w", s.k.uri, err)
		}
		if err := s.takeErr(); err != nil {
			return fmt.Errorf("sink %s: batch %d ms: %w", s.k.uri, t, err)
		}
		return nil
	}
	src := s.src
	src.lockForTxn()
	defer src.mu.Unlock()
	if !src.inTxn {
		if err := src.sess.Begin(); err != nil {
			return fmt.Errorf("sink %s: begin transaction: %w", s.k.uri, err)
		}
		src.inTxn = true
	}
	for _, r := range recs {
		src.sess.Produce(ctx, r, s.promise)
	}
	return nil
}

// CommitBatch ends the batch's transaction: its output and the offsets of
// its input commit together, or neither does. pos holds the positions of
// the sources that contributed a unit to the batch.
func (s *kafkaSink) CommitBatch(pos map[string][]byte) error {
	if s.src == nil {
		return nil
	}
	src := s.src
	src.lockForTxn()
	defer src.mu.Unlock()
	_, mine := pos[s.srcName]
	if !mine && (src.outstanding || !src.inTxn) {
		// Output with no input of ours while a unit is still on its way to
		// the next batch: keep the transaction open until that batch, so
		// the offsets committed never run ahead of what was processed.
		return nil
	}
	if !src.inTxn {
		if err := src.sess.Begin(); err != nil {
			return fmt.Errorf("sink %s: begin transaction: %w", s.k.uri, err)
		}
		src.inTxn = true
	}
	perr := s.takeErr()
	try := kgo.TryCommit
	if perr != nil {
		try = kgo.TryAbort
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*s.k.txnTimeout+time.Minute)
	defer cancel()
	committed, err := src.sess.End(ctx, try)
	src.inTxn = false
	src.release()
	switch {
	case perr != nil:
		return fmt.Errorf("sink %s: producing the batch failed, its transaction was aborted: %w", s.k.uri, perr)
	case err != nil:
		return fmt.Errorf("sink %s: ending the transaction: %w", s.k.uri, err)
	case !committed:
		src.rewound()
		s.log.Warn(fmt.Sprintf("%s: the group rebalanced during the batch, so its transaction was aborted; its input is read again", s.k.uri))
	}
	return nil
}

func (s *kafkaSink) Close() error {
	if s.cl == nil {
		return nil // exactly-once: the source owns the client
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := s.cl.Flush(ctx)
	s.cl.Close()
	s.cl = nil
	if err != nil {
		return fmt.Errorf("sink %s: %w", s.k.uri, err)
	}
	return nil
}
