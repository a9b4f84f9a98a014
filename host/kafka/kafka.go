package kafka

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/format"
)

// kafkaURI is a parsed kafka://BROKER[,BROKER]/TOPIC?PARAMS (host/kafka/kafka.md).
type kafkaURI struct {
	uri     string
	brokers []string
	topic   string

	group       string        // consumer group; "" reads every partition without a group
	format      format.Format // "text" (value as a string) or "json"
	full        bool          // record=full: a map with key, value, timestamp, ...
	pair        bool          // record=pair: [key, value]
	untilEnd    bool          // until=end: stop at the end offsets seen at Open
	startLatest bool          // start=latest: a partition without a position starts at its end
	deadLetter  string        // topic for undecodable records ("" fails the run)
	exactlyOnce bool          // sink: one transaction per batch (?exactlyOnce=true, or the pipeline's exactlyOnce: true)
	stateful    bool          // source: the pipeline keeps state that stays in this process
	txnID       string        // sink: transactional id ("" picks a unique one)
	session     time.Duration // group session timeout
	txnTimeout  time.Duration // transaction timeout
	connect     time.Duration // how long Open retries an unreachable broker (0: forever)
	maxPoll     int           // records per poll; 0: the default (kafkaSource.pollSize)

	// internal is set by RunScaleOut on its repartition topic, never by a
	// URI: values are msgpack as wstream wrote them, and a source tags each
	// record with its partition, [partition, value].
	internal bool
}

// params are the query parameters a kafka URI may have (kafka.md).
var params = []host.Param{
	{Name: "group", Help: "source: the consumer group; offsets are committed after each batch"},
	{Name: "format", Help: "source: text (a value is a string, the default) or json"},
	{Name: "record", Help: "source: value (default), pair ([key, value]) or full (a map with key, value, timestamp, topic, partition, offset, headers)"},
	{Name: "until", Help: "source: end stops the run at the end of the topic"},
	{Name: "start", Help: "source: earliest (default) or latest, for a group with no committed offset"},
	{Name: "deadLetter", Help: "source: a topic for values that do not decode in format"},
	{Name: "exactlyOnce", Help: "sink: true commits each batch's output with its input offsets in one transaction"},
	{Name: "stateful", Help: "source: true warns when the process shares the group's partitions (set by the pipeline)"},
	{Name: "transactionalId", Help: "sink: the transactional id (default: a unique one per process)"},
	{Name: "sessionTimeout", Help: "source: the group session timeout (default 10s)"},
	{Name: "transactionTimeout", Help: "sink: the transaction timeout (default 30s)"},
	{Name: "connectTimeout", Help: "how long to retry an unreachable broker at start (default 1m; 0 forever)"},
	{Name: "maxPoll", Help: "source: the most records one read hands out"},
}

func parseKafkaURI(uri string) (*kafkaURI, error) {
	base, q, err := host.ParseQuery(uri, params)
	if err != nil {
		return nil, err
	}
	hosts, topic, _ := strings.Cut(strings.TrimPrefix(base, "kafka://"), "/")
	k := &kafkaURI{uri: uri, topic: topic, format: format.Text, session: 10 * time.Second,
		txnTimeout: 30 * time.Second, connect: time.Minute}
	for _, h := range strings.Split(hosts, ",") {
		if h != "" {
			k.brokers = append(k.brokers, h)
		}
	}
	if len(k.brokers) == 0 || topic == "" || strings.Contains(topic, "/") {
		return nil, fmt.Errorf("%s: want kafka://BROKER[,BROKER]/TOPIC, for example kafka://127.0.0.1:9092/lines?group=wordcount", uri)
	}
	for _, name := range q.Names() {
		v := q.Get(name)
		switch name {
		case "group":
			k.group = v
		case "format":
			if k.format, err = format.Parse(v); err != nil {
				return nil, q.Bad(name, "text or json")
			}
		case "record":
			if v, err = q.OneOf(name, "value", "pair", "full"); err != nil {
				return nil, err
			}
			k.full, k.pair = v == "full", v == "pair"
		case "until":
			if _, err = q.OneOf(name, "end"); err != nil {
				return nil, err
			}
			k.untilEnd = true
		case "start":
			if v, err = q.OneOf(name, "earliest", "latest"); err != nil {
				return nil, err
			}
			k.startLatest = v == "latest"
		case "deadLetter":
			k.deadLetter = v
		case "exactlyOnce":
			k.exactlyOnce, err = q.Bool(name)
		case "stateful":
			k.stateful, err = q.Bool(name)
		case "transactionalId":
			k.txnID = v
		case "sessionTimeout":
			k.session, err = q.Duration(name)
		case "transactionTimeout":
			k.txnTimeout, err = q.Duration(name)
		case "connectTimeout":
			k.connect, err = q.Duration(name)
		case "maxPoll":
			k.maxPoll, err = q.Positive(name, "records")
		}
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}

// clientOpts are the options every client of this URI shares: brokers, a
// logger that writes franz-go's warnings (failed dials, retries) to log.
func (k *kafkaURI) clientOpts(log *slog.Logger) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(k.brokers...),
		kgo.WithLogger(&quietLogger{log: log, prefix: k.uri + ": kafka client: ", last: map[string]time.Time{}}),
		kgo.DialTimeout(5 * time.Second),
	}
}

// quietLogger writes franz-go's warnings and errors, each distinct message
// at most once per quietEvery: while a broker is down, the client retries
// several connections with backoff and would otherwise repeat itself.
type quietLogger struct {
	log    *slog.Logger
	prefix string
	mu     sync.Mutex
	last   map[string]time.Time
	quiet  map[string]int
}

const quietEvery = 5 * time.Second

func (l *quietLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l *quietLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if level > kgo.LogLevelWarn {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[msg]; ok && time.Since(t) < quietEvery {
		if l.quiet == nil {
			l.quiet = map[string]int{}
		}
		l.quiet[msg]++
		return
	}
	l.last[msg] = time.Now()
	var b strings.Builder
	b.WriteString(l.prefix)
	b.WriteString(msg)
	for i := 0; i+1 < len(keyvals); i += 2 {
		fmt.Fprintf(&b, "; %v: %v", keyvals[i], keyvals[i+1])
	}
	if n := l.quiet[msg]; n > 0 {
		fmt.Fprintf(&b, " (and %d more like it)", n)
		delete(l.quiet, msg)
	}
	if level <= kgo.LogLevelError {
		l.log.Error(b.String())
	} else {
		l.log.Warn(b.String())
	}
}

// waitReachable lists the topic's partitions and end offsets, retrying with
// backoff while no broker answers, one log line per attempt, for at most
// k.connect (0: until ctx ends). A topic that does not exist is an error at
// once.
func (k *kafkaURI) waitReachable(ctx context.Context, cl *kgo.Client, log *slog.Logger) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	start := time.Now()
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		offs, err := adm.ListEndOffsets(actx, k.topic)
		cancel()
		if err == nil {
			err = offs.Error()
		}
		if err == nil {
			ends := map[int32]int64{}
			offs.Each(func(o kadm.ListedOffset) {
				if o.Topic == k.topic && o.Partition >= 0 {
					ends[o.Partition] = o.Offset
				}
			})
			if len(ends) == 0 {
				return nil, fmt.Errorf("%s: topic %q does not exist on %s; create it first (for example with kafka-topics.sh --create --topic %s --partitions 6)", k.uri, k.topic, strings.Join(k.brokers, ","), k.topic)
			}
			return ends, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, errUnknownTopic) || strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
			return nil, fmt.Errorf("%s: topic %q does not exist on %s; create it first (for example with kafka-topics.sh --create --topic %s --partitions 6)", k.uri, k.topic, strings.Join(k.brokers, ","), k.topic)
		}
		if k.connect > 0 && time.Since(start)+backoff > k.connect {
			return nil, fmt.Errorf("%s: no Kafka broker answered at %s within %v (last error: %v); is the broker running and the address right? Add ?connectTimeout=0 to wait forever", k.uri, strings.Join(k.brokers, ","), k.connect, err)
		}
		log.Warn(fmt.Sprintf("%s: cannot reach Kafka at %s (attempt %d: %v); retrying in %v", k.uri, strings.Join(k.brokers, ","), attempt, err, backoff))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// errUnknownTopic is matched by text as well: kadm wraps kerr values.
var errUnknownTopic = errors.New("UNKNOWN_TOPIC_OR_PARTITION")

// kafkaPos is a kafka source's position: for each partition, the offset of
// the next record to read.
type kafkaPos struct {
	Topic   string           `json:"topic"`
	Offsets map[string]int64 `json:"offsets"`
}

func encodeKafkaPos(topic string, next map[int32]int64) []byte {
	p := kafkaPos{Topic: topic, Offsets: make(map[string]int64, len(next))}
	for part, off := range next {
		p.Offsets[strconv.Itoa(int(part))] = off
	}
	b, _ := json.Marshal(p)
	return b
}

func decodeKafkaPos(uri, topic string, b []byte) (map[int32]int64, error) {
	var p kafkaPos
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: bad position %q", uri, b)
	}
	if p.Topic != topic {
		return nil, fmt.Errorf("%s: the checkpoint's position is for topic %q, not %q; use a new checkpoint directory for a new topic", uri, p.Topic, topic)
	}
	out := make(map[int32]int64, len(p.Offsets))
	for s, off := range p.Offsets {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || off < 0 {
			return nil, fmt.Errorf("%s: bad position %q", uri, b)
		}
		out[int32(n)] = off
	}
	return out, nil
}

// recordValue maps a Kafka record to a wstream record (host/kafka/kafka.md): by
// default the value as a string, or parsed as JSON; with record=pair a
// [key, value] pair (the key a string), which reads back what a kafka sink
// wrote for pairs; with record=full a
// map of key, value, timestamp, topic, partition, offset and headers.
func (k *kafkaURI) recordValue(dst []byte, r *kgo.Record) ([]byte, error) {
	if k.internal {
		if n, err := abi.Skip(r.Value); err != nil || n != len(r.Value) {
			return dst, fmt.Errorf("not one msgpack value as wstream writes to its repartition topics (was the topic written by something else?)")
		}
		dst = abi.AppendArrayHeader(dst, 2)
		dst = abi.AppendInt(dst, int64(r.Partition))
		return append(dst, r.Value...), nil
	}
	if k.pair {
		dst = abi.AppendArrayHeader(dst, 2)
		if r.Key == nil {
			dst = abi.AppendNil(dst)
		} else {
			dst = abi.AppendStringBytes(dst, r.Key)
		}
		return format.Append(dst, r.Value, k.format)
	}
	if !k.full {
		return format.Append(dst, r.Value, k.format)
	}
	dst = abi.AppendMapHeader(dst, 7)
	dst = abi.AppendString(dst, "key")
	if r.Key == nil {
		dst = abi.AppendNil(dst)
	} else {
		dst = abi.AppendStringBytes(dst, r.Key)
	}
	dst = abi.AppendString(dst, "value")
	var err error
	if dst, err = format.Append(dst, r.Value, k.format); err != nil {
		return dst, err
	}
	dst = abi.AppendInt(abi.AppendString(dst, "timestamp"), r.Timestamp.UnixMilli())
	dst = abi.AppendString(abi.AppendString(dst, "topic"), r.Topic)
	dst = abi.AppendInt(abi.AppendString(dst, "partition"), int64(r.Partition))
	dst = abi.AppendInt(abi.AppendString(dst, "offset"), r.Offset)
	dst = abi.AppendString(dst, "headers")
	last := map[string]int{} // a repeated header keeps its last value
	for i, h := range r.Headers {
		last[h.Key] = i
	}
	dst = abi.AppendMapHeader(dst, len(last))
	for i, h := range r.Headers {
		if last[h.Key] == i {
			dst = abi.AppendStringBytes(abi.AppendString(dst, h.Key), h.Value)
		}
	}
	return dst, nil
}

// sinkRecord maps an output record to a Kafka record: a [k, v] pair gives
// key k and value v, anything else the value only; strings are written as
// their text, other values as JSON.
func sinkRecord(topic string, rec abi.Raw) (*kgo.Record, error) {
	r := &kgo.Record{Topic: topic}
	if abi.TypeOf(rec) == abi.TypeArray {
		if k, v, err := abi.SplitPair(rec); err == nil {
			var kerr error
			if r.Key, kerr = format.Bytes(k); kerr != nil {
				return nil, kerr
			}
			rec = v
		}
	}
	var err error
	r.Value, err = format.Bytes(rec)
	return r, err
}

// fullSinkRecord maps a map {key, value, headers, timestamp} (what a source
// with record=full reads; every field optional) to a Kafka record, for a
// sink with record=full.
func fullSinkRecord(topic string, rec abi.Raw) (*kgo.Record, error) {
	n, rest, err := abi.MapHeader(rec)
	if err != nil {
		return nil, fmt.Errorf("record=full wants a map {key, value, headers, timestamp}, got %s", abi.Describe(rec))
	}
	r := &kgo.Record{Topic: topic}
	for i := 0; i < n; i++ {
		var name string
		var v abi.Raw
		if name, rest, err = abi.ReadString(rest); err != nil {
			return nil, err
		}
		if v, rest, err = abi.Next(rest); err != nil {
			return nil, err
		}
		switch name {
		case "key":
			r.Key, err = format.Bytes(v)
		case "value":
			r.Value, err = format.Bytes(v)
		case "timestamp":
			var ms int64
			if ms, _, err = abi.ReadInt(v); err == nil {
				r.Timestamp = time.UnixMilli(ms)
			}
		case "headers":
			var m int
			var hs []byte
			if m, hs, err = abi.MapHeader(v); err != nil {
				break
			}
			for j := 0; j < m && err == nil; j++ {
				var hk string
				var hv abi.Raw
				if hk, hs, err = abi.ReadString(hs); err == nil {
					if hv, hs, err = abi.Next(hs); err == nil {
						var b []byte
						b, err = format.Bytes(hv)
						r.Headers = append(r.Headers, kgo.RecordHeader{Key: hk, Value: b})
					}
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", name, err)
		}
	}
	return r, nil
}

// randomID is a short random hex string for ids that must be unique.
func randomID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func addParam(uri, p string) string {
	if strings.Contains(uri, "?") {
		return uri + "&" + p
	}
	return uri + "?" + p
}

// Group returns the consumer group of a kafka:// source URI: "" for
// another URI, a bad one, or one without ?group=.
func Group(uri string) string {
	if !strings.HasPrefix(uri, "kafka://") {
		return ""
	}
	k, err := parseKafkaURI(uri)
	if err != nil {
		return ""
	}
	return k.group
}

func init() {
	host.Register(host.Connector{Scheme: "kafka",
		SourceForm:    "kafka://BROKERS/TOPIC?group=G  a Kafka consumer group (at-least-once, or exactly-once with exactlyOnce: true)",
		SinkForm:      "kafka://BROKERS/TOPIC  a Kafka topic (transactions with exactlyOnce: true)",
		Transactional: true,
		Params:        params,
		Source:        func(uri string, env host.Env) (host.Source, error) { return openKafkaSource(uri, env) },
		Sink:          func(uri string, env host.Env) (host.Sink, error) { return openKafkaSink(uri, env) },
	})
}
