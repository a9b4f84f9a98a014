package nats

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/host"

	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/logs"

	natsgo "github.com/nats-io/nats.go"

	"github.com/wstream/wstream/abi"
)

// startNATS runs the real nats-server (Debian's package, which
// .ci/toolchains installs) with JetStream on a free loopback port, for the
// test, and returns its address.
func startNATS(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nats-server"); serr == nil {
			bin = "/usr/sbin/nats-server"
		} else if os.Getenv("CI") != "" {
			t.Fatal("nats-server is not installed; .ci/toolchains installs it (apt-get install nats-server)")
		} else {
			t.Skip("nats-server is not installed (apt-get install nats-server)")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
	var out hosttest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := natsgo.Connect("nats://" + addr)
		if err == nil {
			js, _ := nc.JetStream()
			_, err = js.AccountInfo()
			nc.Close()
			if err == nil {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling an external process
	}
}

// collectSink keeps every record written, as JSON.
type collectSink struct {
	mu   sync.Mutex
	recs []string
}

func (s *collectSink) URI() string { return "collect" }

func (s *collectSink) Open(context.Context, int64) error { return nil }
func (s *collectSink) Write(b host.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range b.Records {
		j, err := abi.AppendJSON(nil, r)
		if err != nil {
			return err
		}
		s.recs = append(s.recs, string(j))
	}
	return nil
}
func (s *collectSink) Close() error { return nil }

func (s *collectSink) sorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.recs...)
	sort.Strings(out)
	return out
}

func publishNATS(t *testing.T, uri string, recs ...abi.Raw) {
	t.Helper()
	sink, err := host.OpenSink(uri)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if err := sink.Write(host.Batch{Time: 1, Records: recs}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNATSErrors(t *testing.T) {
	if _, err := host.OpenSource("nats://127.0.0.1:4222/s"); err == nil || err.Error() != "source nats://127.0.0.1:4222/s: name the durable consumer with ?durable=NAME (it remembers what was acked across restarts)" {
		t.Errorf("source: %v", err)
	}
}

func TestNATSSourceSink(t *testing.T) {
	addr := startNATS(t)
	var want []string
	var recs []abi.Raw
	for i := 0; i < 300; i++ {
		s := fmt.Sprintf("line %03d", i)
		want = append(want, strconv.Quote(s))
		recs = append(recs, hosttest.Str(s))
	}
	publishNATS(t, "nats://"+addr+"/lines", recs...)

	src, err := host.OpenSource("nats://" + addr + "/lines?durable=wc&until=end&maxPull=50")
	if err != nil {
		t.Fatal(err)
	}
	sink := &collectSink{}
	if err := host.Run(hosttest.Ctx(t), host.RunConfig{Sources: map[string]host.Source{"input": src}, Sink: sink, Processor: hosttest.Pass{}, Interval: 10 * time.Millisecond, Log: logs.Discard()}); err != nil {
		t.Fatal(err)
	}
	if got := sink.sorted(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %d records, want %d: %v", len(got), len(want), got)
	}
	// Everything was acked: the durable has nothing left.
	src, _ = host.OpenSource("nats://" + addr + "/lines?durable=wc&until=end")
	sink = &collectSink{}
	if err := host.Run(hosttest.Ctx(t), host.RunConfig{Sources: map[string]host.Source{"input": src}, Sink: sink, Processor: hosttest.Pass{}, Interval: 10 * time.Millisecond, Log: logs.Discard()}); err != nil {
		t.Fatal(err)
	}
	if got := sink.sorted(); len(got) != 0 {
		t.Errorf("a second run read %d records again", len(got))
	}
}

// Messages handed out but not acked (the process died before its batch was
// checkpointed) are delivered again after ackWait; acked ones are not.
func TestNATSAckAfterBatch(t *testing.T) {
	addr := startNATS(t)
	uri := "nats://" + addr + "/events?durable=d&ackWait=300ms&format=json&record=full"
	j1, _ := abi.FromJSON(nil, []byte(`{"n":1}`))
	j2, _ := abi.FromJSON(nil, []byte(`{"n":2}`))
	publishNATS(t, "nats://"+addr+"/events", j1, abi.AppendPair(nil, hosttest.Str("k"), j2))
	ctx := hosttest.Ctx(t)

	next := func() []string {
		src, err := host.OpenSource(uri)
		if err != nil {
			t.Fatal(err)
		}
		if err := src.Open(ctx, nil); err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		u, err := src.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return hosttest.Texts(t, u.Records)
	}
	first := next() // not acked
	if len(first) != 2 || !strings.Contains(first[0], `"value":{"n":1}`) || !strings.Contains(first[1], `"headers":{"Wstream-Key":"k"}`) || !strings.Contains(first[1], `"sequence":2`) {
		t.Fatalf("got %v", first)
	}
	if again := next(); len(again) != 2 { // redelivered after ackWait
		t.Fatalf("redelivery: %v", again)
	}

	src, _ := host.OpenSource(uri)
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	u, err := src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.(host.Acker).Ack(u.Pos); err != nil {
		t.Fatal(err)
	}
	src.Close()
	src, _ = host.OpenSource(uri + "&until=end")
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if u, err := src.Next(ctx); err != io.EOF {
		t.Errorf("after the ack: %v %v", hosttest.Texts(t, u.Records), err)
	}
}

func TestNATSBadInput(t *testing.T) {
	var log hosttest.SyncBuffer
	src, err := host.OpenSource("nats://127.0.0.1:1/s?durable=d&connectTimeout=1s", host.WithLog(hosttest.Logger(&log)))
	if err != nil {
		t.Fatal(err)
	}
	err = src.Open(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "no NATS server answered at 127.0.0.1:1 within 1s") {
		t.Errorf("unreachable: %v", err)
	}
	if !strings.Contains(log.String(), "cannot reach NATS at 127.0.0.1:1 (attempt 1:") {
		t.Errorf("log: %s", log.String())
	}

	addr := startNATS(t)
	publishNATS(t, "nats://"+addr+"/bad", hosttest.Str("not json"))
	src, _ = host.OpenSource("nats://" + addr + "/bad?durable=d&format=json")
	ctx := hosttest.Ctx(t)
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Next(ctx); err == nil || !strings.Contains(err.Error(), "stream bad sequence 1: the data is not json") {
		t.Errorf("got %v", err)
	}
	for uri, want := range map[string]string{
		"nats://a:1/s?durable=d&bogus=1": `unknown parameter "bogus"`,
		"nats://a:1/":                    "want nats://HOST:PORT/STREAM",
	} {
		if _, err := host.OpenSource(uri); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", uri, err)
		}
	}
	if _, err := host.OpenSink("nats://a:1/s?durable=d"); err == nil {
		t.Error("a sink took a durable")
	}
}
