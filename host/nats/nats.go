package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/format"
)

// natsURI is a parsed nats://HOST:PORT/STREAM?PARAMS (host/kafka/kafka.md, "NATS").
type natsURI struct {
	uri      string
	server   string
	stream   string
	subject  string        // the stream's subject (default: the stream name)
	durable  string        // source: the durable consumer
	format   format.Format // "text" or "json"
	full     bool          // record=full
	untilEnd bool          // until=end: stop when the consumer has nothing pending
	ackWait  time.Duration
	maxPull  int
	connect  time.Duration
}

// params are the query parameters a nats URI may have (host/kafka/kafka.md, "NATS").
var params = []host.Param{
	{Name: "durable", Help: "source: the durable consumer, which remembers what was acked across restarts"},
	{Name: "subject", Help: "the subject (default: the stream's name)"},
	{Name: "format", Help: "source: text (default) or json"},
	{Name: "record", Help: "source: value (default) or full (a map with subject, value, sequence, timestamp, headers)"},
	{Name: "until", Help: "source: end stops the run when nothing is pending"},
	{Name: "ackWait", Help: "source: how long JetStream waits for an ack before redelivering (default 30s)"},
	{Name: "maxPull", Help: "source: the most messages one fetch asks for (default 1000)"},
	{Name: "connectTimeout", Help: "how long to retry an unreachable server at start (default 1m; 0 forever)"},
}

func parseNATSURI(uri string) (*natsURI, error) {
	base, q, err := host.ParseQuery(uri, params)
	if err != nil {
		return nil, err
	}
	server, stream, _ := strings.Cut(strings.TrimPrefix(base, "nats://"), "/")
	n := &natsURI{uri: uri, server: server, stream: stream, format: format.Text, ackWait: 30 * time.Second, maxPull: 1000, connect: time.Minute}
	if server == "" || stream == "" || strings.ContainsAny(stream, "/.*> ") {
		return nil, fmt.Errorf("%s: want nats://HOST:PORT/STREAM, for example nats://127.0.0.1:4222/lines?durable=wordcount", uri)
	}
	for _, name := range q.Names() {
		v := q.Get(name)
		switch name {
		case "durable":
			n.durable = v
		case "subject":
			n.subject = v
		case "format":
			if n.format, err = format.Parse(v); err != nil {
				return nil, q.Bad(name, "text or json")
			}
		case "record":
			if v, err = q.OneOf(name, "value", "full"); err != nil {
				return nil, err
			}
			n.full = v == "full"
		case "until":
			if _, err = q.OneOf(name, "end"); err != nil {
				return nil, err
			}
			n.untilEnd = true
		case "ackWait":
			n.ackWait, err = q.Duration(name)
		case "connectTimeout":
			n.connect, err = q.Duration(name)
		case "maxPull":
			n.maxPull, err = q.Positive(name, "messages")
		}
		if err != nil {
			return nil, err
		}
	}
	if n.subject == "" {
		n.subject = n.stream
	}
	return n, nil
}

// connect dials the server, retrying with backoff and one log line per
// attempt for at most n.connect (0: until ctx ends), and makes sure the
// stream exists (creating it with the subject when it does not).
func (n *natsURI) connectJS(ctx context.Context, log *slog.Logger) (*natsgo.Conn, natsgo.JetStreamContext, error) {
	start := time.Now()
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		nc, err := natsgo.Connect("nats://"+n.server, natsgo.Timeout(5*time.Second), natsgo.MaxReconnects(-1),
			natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
				if err != nil {
					log.Warn(fmt.Sprintf("%s: disconnected: %v; reconnecting", n.uri, err))
				}
			}),
			natsgo.ReconnectHandler(func(*natsgo.Conn) { log.Info(fmt.Sprintf("%s: reconnected", n.uri)) }))
		if err == nil {
			js, err := nc.JetStream()
			if err == nil {
				err = n.ensureStream(js)
			}
			if err != nil {
				nc.Close()
				return nil, nil, err
			}
			return nc, js, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if n.connect > 0 && time.Since(start)+backoff > n.connect {
			return nil, nil, fmt.Errorf("%s: no NATS server answered at %s within %v (last error: %v); is nats-server running with -js? Add ?connectTimeout=0 to wait forever", n.uri, n.server, n.connect, err)
		}
		log.Warn(fmt.Sprintf("%s: cannot reach NATS at %s (attempt %d: %v); retrying in %v", n.uri, n.server, attempt, err, backoff))
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (n *natsURI) ensureStream(js natsgo.JetStreamContext) error {
	_, err := js.StreamInfo(n.stream)
	if errors.Is(err, natsgo.ErrStreamNotFound) {
		_, err = js.AddStream(&natsgo.StreamConfig{Name: n.stream, Subjects: []string{n.subject}})
	}
	if errors.Is(err, natsgo.ErrJetStreamNotEnabled) || errors.Is(err, natsgo.ErrJetStreamNotEnabledForAccount) {
		return fmt.Errorf("%s: JetStream is not enabled on %s; start nats-server with -js", n.uri, n.server)
	}
	if err != nil {
		return fmt.Errorf("%s: stream %s: %w", n.uri, n.stream, err)
	}
	return nil
}

// ---- source ----

// natsSource reads a JetStream stream through a durable pull consumer.
// Several processes with the same durable share the messages. A message is
// acked only after the batch holding it is checkpointed (or written, without
// checkpoints); a process that dies leaves its messages unacked, and the
// server redelivers them after ackWait: at-least-once. The server's ack
// state is the position that counts; Pos is kept for the checkpoint.
type natsSource struct {
	n   *natsURI
	log *slog.Logger
	nc  *natsgo.Conn
	js  natsgo.JetStreamContext
	sub *natsgo.Subscription

	pending []*natsgo.Msg // handed out, not yet acked, in delivery order
	acked   int64         // deliveries acked so far
	handed  int64         // deliveries handed out so far
	pendMu  chan struct{}
}

type natsPos struct {
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	N      int64  `json:"n"`
}

func openNATSSource(uri string, env host.Env) (*natsSource, error) {
	n, err := parseNATSURI(uri)
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	if n.durable == "" {
		return nil, fmt.Errorf("source %s: name the durable consumer with ?durable=NAME (it remembers what was acked across restarts)", uri)
	}
	s := &natsSource{n: n, log: env.Log, pendMu: make(chan struct{}, 1)}
	return s, nil
}

func (s *natsSource) URI() string { return s.n.uri }

func (s *natsSource) Open(ctx context.Context, pos []byte) error {
	if s.nc != nil {
		return fmt.Errorf("%s: already open", s.n.uri)
	}
	nc, js, err := s.n.connectJS(ctx, s.log)
	if err != nil {
		return err
	}
	if _, err := js.ConsumerInfo(s.n.stream, s.n.durable); errors.Is(err, natsgo.ErrConsumerNotFound) {
		_, err = js.AddConsumer(s.n.stream, &natsgo.ConsumerConfig{
			Durable: s.n.durable, AckPolicy: natsgo.AckExplicitPolicy, AckWait: s.n.ackWait,
			DeliverPolicy: natsgo.DeliverAllPolicy, MaxAckPending: 1 << 16,
		})
		if err != nil && !errors.Is(err, natsgo.ErrConsumerNameAlreadyInUse) {
			nc.Close()
			return fmt.Errorf("%s: creating durable consumer %s: %w", s.n.uri, s.n.durable, err)
		}
	}
	sub, err := js.PullSubscribe("", s.n.durable, natsgo.Bind(s.n.stream, s.n.durable))
	if err != nil {
		nc.Close()
		return fmt.Errorf("%s: durable consumer %s: %w", s.n.uri, s.n.durable, err)
	}
	s.nc, s.js, s.sub = nc, js, sub
	return nil
}

func (s *natsSource) Next(ctx context.Context) (host.Unit, error) {
	if s.sub == nil {
		return host.Unit{}, fmt.Errorf("%s: Next before Open", s.n.uri)
	}
	for {
		if err := ctx.Err(); err != nil {
			return host.Unit{}, err
		}
		msgs, err := s.sub.Fetch(s.n.maxPull, natsgo.MaxWait(fetchSlice))
		if err != nil && !errors.Is(err, natsgo.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			if errors.Is(err, natsgo.ErrConnectionClosed) || errors.Is(err, natsgo.ErrBadSubscription) {
				return host.Unit{}, fmt.Errorf("%s: %w", s.n.uri, err)
			}
			s.log.Warn(fmt.Sprintf("%s: fetch: %v (retrying)", s.n.uri, err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		if len(msgs) == 0 {
			if s.n.untilEnd {
				if info, err := s.sub.ConsumerInfo(); err == nil && info.NumPending == 0 && info.NumAckPending <= len(s.pendingSnapshot()) {
					return host.Unit{}, io.EOF
				}
			}
			continue
		}
		recs := make([]abi.Raw, 0, len(msgs))
		var last uint64
		for _, m := range msgs {
			meta, _ := m.Metadata()
			if meta != nil {
				last = meta.Sequence.Stream
			}
			v, err := s.n.value(m, meta)
			if err != nil {
				where := "message"
				if meta != nil {
					where = fmt.Sprintf("stream %s sequence %d", s.n.stream, meta.Sequence.Stream)
				}
				return host.Unit{}, fmt.Errorf("%s: %s: the data is not %s: %v; fix or remove the message", s.n.uri, where, s.n.format, err)
			}
			recs = append(recs, v)
		}
		s.lock()
		s.pending = append(s.pending, msgs...)
		s.handed += int64(len(msgs))
		p, _ := json.Marshal(natsPos{Stream: s.n.stream, Seq: last, N: s.handed})
		s.unlock()
		return host.Unit{Records: recs, Pos: p}, nil
	}
}

func (s *natsSource) lock()   { s.pendMu <- struct{}{} }
func (s *natsSource) unlock() { <-s.pendMu }

func (s *natsSource) pendingSnapshot() []*natsgo.Msg {
	s.lock()
	defer s.unlock()
	return s.pending
}

func (n *natsURI) value(m *natsgo.Msg, meta *natsgo.MsgMetadata) (abi.Raw, error) {
	payload := func(dst []byte) ([]byte, error) {
		if m.Data == nil {
			return abi.AppendStringBytes(dst, nil), nil
		}
		return format.Append(dst, m.Data, n.format)
	}
	if !n.full {
		return payload(nil)
	}
	dst := abi.AppendMapHeader(nil, 5)
	dst = abi.AppendString(abi.AppendString(dst, "subject"), m.Subject)
	dst = abi.AppendString(dst, "value")
	dst, err := payload(dst)
	if err != nil {
		return nil, err
	}
	var seq, ts int64
	if meta != nil {
		seq, ts = int64(meta.Sequence.Stream), meta.Timestamp.UnixMilli()
	}
	dst = abi.AppendInt(abi.AppendString(dst, "sequence"), seq)
	dst = abi.AppendInt(abi.AppendString(dst, "timestamp"), ts)
	dst = abi.AppendString(dst, "headers")
	dst = abi.AppendMapHeader(dst, len(m.Header))
	for k, vs := range m.Header {
		dst = abi.AppendString(abi.AppendString(dst, k), vs[len(vs)-1])
	}
	return dst, nil
}

// Ack acknowledges every message handed out up to pos.
func (s *natsSource) Ack(pos []byte) error {
	var p natsPos
	if err := json.Unmarshal(pos, &p); err != nil {
		return fmt.Errorf("%s: bad position %q", s.n.uri, pos)
	}
	s.lock()
	k := p.N - s.acked
	if k <= 0 || k > int64(len(s.pending)) { // a position from an earlier run: the server has the truth
		s.unlock()
		return nil
	}
	done := s.pending[:k]
	s.pending = s.pending[k:]
	s.acked = p.N
	s.unlock()
	for _, m := range done {
		if err := m.Ack(); err != nil {
			s.log.Warn(fmt.Sprintf("%s: ack: %v (the message will be redelivered)", s.n.uri, err))
			break
		}
	}
	return nil
}

func (s *natsSource) Close() error {
	if s.nc == nil {
		return nil
	}
	s.nc.Flush()
	s.nc.Close()
	s.nc, s.sub = nil, nil
	return nil
}

// ---- sink ----

// natsSink publishes each record to the stream's subject and waits for the
// server's acknowledgements before Write returns: at-least-once.
type natsSink struct {
	n   *natsURI
	log *slog.Logger
	nc  *natsgo.Conn
	js  natsgo.JetStreamContext
}

func openNATSSink(uri string, env host.Env) (*natsSink, error) {
	n, err := parseNATSURI(uri)
	if err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	if n.durable != "" || n.full || n.untilEnd || n.format != format.Text {
		return nil, fmt.Errorf("sink %s: durable, record, until and format are source parameters", uri)
	}
	return &natsSink{n: n, log: env.Log}, nil
}

func (s *natsSink) URI() string { return s.n.uri }

// Open does nothing: the sink connects at its first write.
func (s *natsSink) Open(context.Context, int64) error { return nil }

func (s *natsSink) Write(b host.Batch) error {
	if s.nc == nil {
		nc, js, err := s.n.connectJS(context.Background(), s.log)
		if err != nil {
			return err
		}
		s.nc, s.js = nc, js
	}
	futures := make([]natsgo.PubAckFuture, 0, len(b.Records))
	for i, r := range b.Records {
		m := natsgo.NewMsg(s.n.subject)
		if abi.TypeOf(r) == abi.TypeArray {
			if k, v, err := abi.SplitPair(r); err == nil {
				key, err := format.Bytes(k)
				if err != nil {
					return fmt.Errorf("sink %s: batch %d ms, record %d: %w", s.n.uri, b.Time, i, err)
				}
				m.Header.Set("Wstream-Key", string(key))
				r = v
			}
		}
		data, err := format.Bytes(r)
		if err != nil {
			return fmt.Errorf("sink %s: batch %d ms, record %d: %w", s.n.uri, b.Time, i, err)
		}
		m.Data = data
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("sink %s: batch %d ms: %w", s.n.uri, b.Time, err)
		}
		futures = append(futures, f)
	}
	timeout := time.After(time.Minute)
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("sink %s: batch %d ms: %w", s.n.uri, b.Time, err)
		case <-timeout:
			return fmt.Errorf("sink %s: batch %d ms: the server did not acknowledge the batch within a minute", s.n.uri, b.Time)
		}
	}
	return nil
}

func (s *natsSink) Close() error {
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
	return nil
}

func init() {
	host.Register(host.Connector{Scheme: "nats",
		SourceForm: "nats://HOST:PORT/STREAM?durable=NAME  a JetStream stream, acked after each commit",
		SinkForm:   "nats://HOST:PORT/STREAM  publish to a JetStream stream",
		Params:     params,
		Source:     func(uri string, env host.Env) (host.Source, error) { return openNATSSource(uri, env) },
		Sink:       func(uri string, env host.Env) (host.Sink, error) { return openNATSSink(uri, env) },
	})
}

// fetchSlice bounds one fetch, so that Next notices until=end and
// cancellation promptly.
const fetchSlice = 200 * time.Millisecond
