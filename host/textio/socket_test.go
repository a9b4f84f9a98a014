package textio

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/host"

	"github.com/wstream/wstream/host/internal/hosttest"
)

func nextLine(t *testing.T, s host.Source) string {
	t.Helper()
	u, err := s.Next(hosttest.Ctx(t))
	if err != nil {
		t.Fatalf("%s: %v", s.URI(), err)
	}
	if u.Pos != nil || u.Whole || len(u.Records) != 1 {
		t.Fatalf("socket unit %+v", u)
	}
	return hosttest.Strs(t, u.Records)[0]
}

// A real listener: the source reads lines, reconnects when the server
// closes the connection, and Next stays cancellable while blocked.
func TestSocketSourceReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c
		}
	}()

	var log hosttest.SyncBuffer
	uri := "socket://" + ln.Addr().String()
	src, err := host.OpenSource(uri, host.WithLog(hosttest.Logger(&log)))
	if err != nil {
		t.Fatal(err)
	}
	src.(*socketSource).minBackoff = time.Millisecond // keep the test fast
	if err := src.Open(hosttest.Ctx(t), nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	c1 := <-conns
	c1.Write([]byte("a\r\nb\nhalf"))
	c1.Close() // the server goes away; the last partial line is still a line
	for _, want := range []string{"a", "b", "half"} {
		if got := nextLine(t, src); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}

	// The next read finds the connection closed and reconnects.
	got := make(chan string)
	go func() { got <- nextLine(t, src) }()
	c2 := <-conns
	defer c2.Close()
	c2.Write([]byte("c\n"))
	if g := <-got; g != "c" {
		t.Fatalf("after reconnect: %q", g)
	}
	wantLog := "wstream: warning: " + uri + ": disconnected (the server closed the connection); reconnecting\n" +
		"wstream: " + uri + ": reconnected (attempt 1)\n"
	if log.String() != wantLog {
		t.Errorf("log:\n%s\nwant:\n%s", log.String(), wantLog)
	}

	// A blocked read ends with ctx ...
	ctx, cancel := context.WithCancel(hosttest.Ctx(t))
	errc := make(chan error)
	go func() {
		_, err := src.Next(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v", err)
	}
	// ... and the source still works afterwards, on the same connection.
	c2.Write([]byte("d\n"))
	if g := nextLine(t, src); g != "d" {
		t.Fatalf("after a cancelled Next: %q", g)
	}
	if n := strings.Count(log.String(), "\n"); n != 2 {
		t.Errorf("a cancelled read was logged as a disconnect:\n%s", log.String())
	}
}

func TestSocketSourceRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	err = openSourceErr(t, "socket://"+addr, nil)
	want := "cannot connect to socket://" + addr + ": connection refused — start the server first (e.g. nc -lk " + port + ")"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}
