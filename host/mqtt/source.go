package mqtt

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/format"
)

// source subscribes at QoS 1 with a persistent session and acknowledges
// each message once the batch holding it has committed (host.Acker). The
// broker's session is the position that counts: the checkpoint's is only
// a count of messages handed out, which Ack matches against.
type source struct {
	c         *config
	log       *slog.Logger
	defaulted bool // the client id was not given

	client paho.Client

	mu      sync.Mutex
	wake    chan struct{}
	arrived []pending // received, not yet handed out
	pending []pending // handed out, not yet acked, in order
	handed  uint64    // messages handed out, ever
	acked   uint64
	epoch   int // connections so far: a message of an older one is not acked
}

// pending is a message and the connection it came on.
type pending struct {
	m     paho.Message
	epoch int
}

func openSource(uri string, env host.Env) (*source, error) {
	c, err := parseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	if c.retain {
		return nil, fmt.Errorf("source %s: retain is a parameter of the sink", c.uri)
	}
	s := &source{c: c, log: env.Log, wake: make(chan struct{}, 1)}
	if c.client == "" {
		// The same for every run of the pipeline, so that the session is
		// found again; two pipelines on one topic need ids of their own.
		sum := sha256.Sum256([]byte(c.broker + "/" + c.topic))
		c.client, s.defaulted = "wstream-"+hex.EncodeToString(sum[:6]), true
	}
	return s, nil
}

func (s *source) URI() string { return s.c.uri }

// Open connects with the persistent session and subscribes. The messages
// the broker kept for the session arrive first; pos is not needed.
func (s *source) Open(ctx context.Context, _ []byte) error {
	if s.client != nil {
		return fmt.Errorf("%s: already open", s.c.uri)
	}
	o := s.c.options(s.log).SetCleanSession(false).SetAutoAckDisabled(true).SetOrderMatters(true).
		SetDefaultPublishHandler(s.receive).
		// Called before each reconnection attempt, once every message of
		// the lost connection has been received.
		SetReconnectingHandler(func(paho.Client, *paho.ClientOptions) {
			s.mu.Lock()
			s.epoch++
			s.mu.Unlock()
		})
	client := paho.NewClient(o)
	if err := s.c.dial(ctx, client, s.log); err != nil {
		return err
	}
	if err := wait(client.Subscribe(s.c.topic, 1, s.receive), 30*time.Second); err != nil {
		client.Disconnect(0)
		return fmt.Errorf("%s: subscribing to %s: %v", s.c.uri, s.c.topic, err)
	}
	s.client = client
	s.log.Info(fmt.Sprintf("%s: subscribed to %s at QoS 1 as client %s (persistent session)", s.c.uri, s.c.topic, s.c.client))
	if s.defaulted {
		s.log.Info(fmt.Sprintf("%s: the client id %s comes from the broker and topic; another pipeline reading this topic needs ?client=ID of its own, or the two take the session from each other", s.c.uri, s.c.client))
	}
	return nil
}

// receive queues a message; it must not block (the client's router calls
// it). The broker bounds how many unacknowledged messages it sends
// (mosquitto's max_inflight_messages), which bounds the queue.
func (s *source) receive(_ paho.Client, m paho.Message) {
	s.mu.Lock()
	s.arrived = append(s.arrived, pending{m, s.epoch})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next hands out every message received so far, blocking until there is
// one.
func (s *source) Next(ctx context.Context) (host.Unit, error) {
	if s.client == nil {
		return host.Unit{}, fmt.Errorf("%s: Next before Open", s.c.uri)
	}
	s.mu.Lock()
	for len(s.arrived) == 0 {
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return host.Unit{}, ctx.Err()
		}
		s.mu.Lock()
	}
	msgs := s.arrived
	s.arrived = nil
	s.mu.Unlock()
	recs := make([]abi.Raw, 0, len(msgs))
	for _, p := range msgs {
		v, err := s.value(p.m)
		if err != nil {
			return host.Unit{}, fmt.Errorf("%s: a message on %s is not %s: %v; publish it as %s, or read the topic with format=text and parse it in a stage (whose onError can skip or dead-letter it)", s.c.uri, p.m.Topic(), s.c.format, err, s.c.format)
		}
		recs = append(recs, v)
	}
	s.mu.Lock()
	s.pending = append(s.pending, msgs...)
	s.handed += uint64(len(msgs))
	pos := binary.BigEndian.AppendUint64(nil, s.handed)
	s.mu.Unlock()
	return host.Unit{Records: recs, Pos: pos}, nil
}

func (s *source) value(m paho.Message) (abi.Raw, error) {
	if !s.c.full {
		return format.Append(nil, m.Payload(), s.c.format)
	}
	dst := abi.AppendMapHeader(nil, 4)
	dst = abi.AppendString(abi.AppendString(dst, "topic"), m.Topic())
	dst = abi.AppendString(dst, "value")
	dst, err := format.Append(dst, m.Payload(), s.c.format)
	if err != nil {
		return nil, err
	}
	dst = abi.AppendBool(abi.AppendString(dst, "retained"), m.Retained())
	return abi.AppendBool(abi.AppendString(dst, "duplicate"), m.Duplicate()), nil
}

// Ack acknowledges, in order, every message handed out up to pos. A
// message that came on a connection since lost is not acknowledged: the
// broker sends it again on the new one, where that copy is acknowledged.
func (s *source) Ack(pos []byte) error {
	if len(pos) != 8 {
		return fmt.Errorf("%s: bad position %x", s.c.uri, pos)
	}
	upTo := binary.BigEndian.Uint64(pos)
	s.mu.Lock()
	if upTo <= s.acked || upTo > s.handed { // a position from an earlier run: the broker has the truth
		s.mu.Unlock()
		return nil
	}
	k := upTo - s.acked
	done := s.pending[:k]
	s.pending = append([]pending(nil), s.pending[k:]...)
	s.acked = upTo
	epoch := s.epoch
	s.mu.Unlock()
	for _, p := range done {
		if p.epoch == epoch {
			p.m.Ack()
		}
	}
	return nil
}

// Close disconnects. Messages handed out but not acknowledged stay with
// the broker's session and come again at the next start.
func (s *source) Close() error {
	if s.client == nil {
		return nil
	}
	s.client.Disconnect(250)
	s.client = nil
	return nil
}

// sink publishes each record to the topic at QoS 1 and waits for the
// broker to acknowledge them all before the batch counts as written: at
// least once. A record is its text if it is a string, its JSON otherwise.
type sink struct {
	c      *config
	log    *slog.Logger
	client paho.Client
}

func openSink(uri string, env host.Env) (*sink, error) {
	c, err := parseURI(uri)
	if err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	if strings.ContainsAny(c.topic, "+#") {
		return nil, fmt.Errorf("sink %s: topic %s has a wildcard (+ or #), which a subscription may have but a message may not", c.uri, c.topic)
	}
	if c.full || c.format != format.Text {
		return nil, fmt.Errorf("sink %s: format and record are source parameters", c.uri)
	}
	if c.client == "" {
		c.client = randomID()
	}
	return &sink{c: c, log: env.Log}, nil
}

func (s *sink) URI() string { return s.c.uri }

func (s *sink) Open(ctx context.Context, _ int64) error {
	client := paho.NewClient(s.c.options(s.log).SetCleanSession(true))
	if err := s.c.dial(ctx, client, s.log); err != nil {
		return err
	}
	s.client = client
	return nil
}

func (s *sink) Write(b host.Batch) error {
	if s.client == nil {
		return fmt.Errorf("sink %s: not open", s.c.uri)
	}
	toks := make([]paho.Token, 0, len(b.Records))
	for i, r := range b.Records {
		payload, err := format.Bytes(r)
		if err != nil {
			return fmt.Errorf("sink %s: batch %d ms, record %d: %w", s.c.uri, b.Time, i, err)
		}
		toks = append(toks, s.client.Publish(s.c.topic, 1, s.c.retain, payload))
	}
	deadline := time.Now().Add(time.Minute)
	for _, t := range toks {
		if err := wait(t, time.Until(deadline)); err != nil {
			return fmt.Errorf("sink %s: batch %d ms: %v", s.c.uri, b.Time, err)
		}
	}
	return nil
}

func (s *sink) Close() error {
	if s.client != nil {
		s.client.Disconnect(250)
		s.client = nil
	}
	return nil
}
