package textio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/wstream/wstream/host"
)

const (
	socketMinBackoff  = 100 * time.Millisecond
	socketMaxBackoff  = 5 * time.Second
	socketDialTimeout = 10 * time.Second
)

// socketSource is Spark's socketTextStream: a TCP client reading lines. A
// server that is down at start is a user error (Open fails with a hint);
// a server that goes away later is weather: Next reconnects with backoff
// and never ends by itself. It cannot replay, so units carry no position.
type socketSource struct {
	uri, addr, port string
	opt             textOptions
	log             *slog.Logger

	minBackoff, maxBackoff time.Duration

	conn net.Conn
	// tr reads every connection in turn: line numbers go on across them,
	// and a CSV header is read again on each.
	tr *textReader
	// dirty is set when a cancelled ctx left a read deadline on conn.
	dirty  bool
	closed bool
}

func (s *socketSource) URI() string { return s.uri }

func (s *socketSource) Open(ctx context.Context, pos []byte) error {
	if pos != nil {
		return fmt.Errorf("%s cannot resume from a position (a socket cannot be replayed)", s.uri)
	}
	if s.conn != nil {
		return fmt.Errorf("%s: already open", s.uri)
	}
	conn, err := s.dial(ctx)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("cannot connect to %s: %w — start the server first (e.g. nc -lk %s)", s.uri, syscall.ECONNREFUSED, s.port)
		}
		return fmt.Errorf("cannot connect to %s: %w", s.uri, dialCause(err))
	}
	s.attach(conn)
	return nil
}

func (s *socketSource) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: socketDialTimeout}
	return d.DialContext(ctx, "tcp", s.addr)
}

// dialCause strips the "dial tcp ADDR:" layers, which the message already
// names.
func dialCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) && sys.Err != nil {
		err = sys.Err
	}
	return err
}

func (s *socketSource) attach(conn net.Conn) {
	s.conn, s.dirty = conn, false
	if s.tr == nil {
		s.tr = newTextReader(conn, s.uri, s.opt)
		return
	}
	s.tr.reset(conn)
}

func (s *socketSource) Next(ctx context.Context) (host.Unit, error) {
	for {
		if err := ctx.Err(); err != nil {
			return host.Unit{}, err
		}
		if s.conn == nil {
			if s.tr == nil || s.closed {
				return host.Unit{}, fmt.Errorf("%s: Next on a source that is not open", s.uri)
			}
			if err := s.reconnect(ctx); err != nil {
				return host.Unit{}, err
			}
			continue
		}
		u, err := s.tr.next(func() ([]byte, error) { return s.readLine(ctx) })
		if err == nil {
			return u, nil
		}
		if ctx.Err() != nil {
			return host.Unit{}, ctx.Err()
		}
		var bad badInput
		if errors.Is(err, errLineTooLong) || errors.As(err, &bad) {
			return host.Unit{}, err
		}
		why := err.Error()
		if err == io.EOF {
			why = "the server closed the connection"
		}
		s.log.Warn(fmt.Sprintf("%s: disconnected (%s); reconnecting", s.uri, why))
		s.conn.Close()
		s.conn = nil
	}
}

// readLine reads one line, interrupting a blocked read when ctx ends. When
// a whole line is already buffered it skips the ctx hook, which keeps the
// common case cheap.
func (s *socketSource) readLine(ctx context.Context) ([]byte, error) {
	lr := s.tr.lr
	if n := lr.r.Buffered(); n > 0 {
		if b, _ := lr.r.Peek(n); bytes.IndexByte(b, '\n') >= 0 {
			return lr.next()
		}
	}
	conn := s.conn
	if s.dirty {
		conn.SetReadDeadline(time.Time{})
		s.dirty = false
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	line, err := lr.next()
	if !stop() {
		<-fired
		s.dirty = true
	}
	return line, err
}

func (s *socketSource) reconnect(ctx context.Context) error {
	delay := s.minBackoff
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		conn, err := s.dial(ctx)
		if err == nil {
			s.log.Info(fmt.Sprintf("%s: reconnected (attempt %d)", s.uri, attempt))
			s.attach(conn)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay = min(2*delay, s.maxBackoff)
	}
}

func (s *socketSource) Close() error {
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

func openSocket(uri string, env host.Env) (host.Source, error) {
	base, opt, err := parseText(uri, env)
	if err != nil {
		return nil, err
	}
	addr := strings.TrimPrefix(base, "socket://")
	h, port, err := net.SplitHostPort(addr)
	if err != nil || h == "" || port == "" {
		return nil, fmt.Errorf("source %s: want socket://HOST:PORT, for example socket://127.0.0.1:7777", uri)
	}
	return &socketSource{uri: uri, addr: addr, port: port, opt: opt, log: env.Log,
		minBackoff: socketMinBackoff, maxBackoff: socketMaxBackoff}, nil
}
