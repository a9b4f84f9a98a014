package mqtt

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
	"github.com/wstream/wstream/host/mqtt/mqtttest"
)

var quiet = host.Env{Log: hosttest.Logger(io.Discard)}

// publish sends payloads at QoS 1 from a client of its own and waits for
// the broker's acknowledgements.
func publish(t *testing.T, addr, topic string, payloads ...string) {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(randomID()))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer c.Disconnect(100)
	for _, p := range payloads {
		if tok := c.Publish(topic, 1, false, p); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
}

// next reads units until n records came, as JSON.
func next(t *testing.T, s *source, n int) ([]string, []byte) {
	t.Helper()
	var got []string
	var pos []byte
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < n {
		u, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, hosttest.Texts(t, u.Records)...)
		pos = u.Pos
	}
	return got, pos
}

func openSrc(t *testing.T, uri string) *source {
	t.Helper()
	s, err := openSource(uri, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return s
}

// A message is acknowledged only by Ack: closed without it, the session
// gives it again to the next client with the same id; acknowledged, it
// is gone, and messages published while no client was connected wait for
// the session.
func TestSourceAcksAfterCommit(t *testing.T) {
	addr := mqtttest.Broker(t)
	uri := "mqtt://" + addr + "/sensors/+/temp?client=wordcount"
	s := openSrc(t, uri)
	publish(t, addr, "sensors/a/temp", "20.5", "21")
	publish(t, addr, "sensors/b/humidity", "ignored: another topic")
	got, _ := next(t, s, 2)
	if fmt.Sprint(got) != `["20.5" "21"]` {
		t.Fatalf("records %v", got)
	}
	s.Close() // a crash before the commit: nothing acknowledged

	s = openSrc(t, uri)
	got, pos := next(t, s, 2)
	if fmt.Sprint(got) != `["20.5" "21"]` {
		t.Fatalf("after a restart without commit: %v, want both again", got)
	}
	if err := s.Ack(pos); err != nil {
		t.Fatal(err)
	}
	s.Close()

	publish(t, addr, "sensors/c/temp", "19") // while no client is connected
	s = openSrc(t, uri)
	defer s.Close()
	if got, _ := next(t, s, 1); fmt.Sprint(got) != `["19"]` {
		t.Fatalf("after a commit and a restart: %v, want only the new message", got)
	}
}

// format=json parses payloads, record=full adds the topic and flags.
func TestSourceRecords(t *testing.T) {
	addr := mqtttest.Broker(t)
	s := openSrc(t, "mqtt://"+addr+"/dev/%23?client=full&format=json&record=full")
	defer s.Close()
	publish(t, addr, "dev/1", `{"temp": 20.5}`)
	got, _ := next(t, s, 1)
	if want := `{"topic":"dev/1","value":{"temp":20.5},"retained":false,"duplicate":false}`; fmt.Sprint(got) != "["+want+"]" {
		t.Errorf("record %v\nwant %s", got, want)
	}
	publish(t, addr, "dev/2", `{"temp": `)
	u, err := s.Next(context.Background())
	if err == nil || !strings.Contains(err.Error(), "a message on dev/2 is not json") {
		t.Errorf("a payload that is not JSON: %v %v", u, err)
	}
}

// The sink publishes each record at QoS 1: strings as their text, other
// values as JSON.
func TestSink(t *testing.T) {
	addr := mqtttest.Broker(t)
	var mu sync.Mutex
	var got []string
	arrived := make(chan struct{}, 10)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("out", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got = append(got, string(m.Payload()))
		mu.Unlock()
		arrived <- struct{}{}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	s, err := host.OpenSink("mqtt://" + addr + "/out")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), -1); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := []abi.Raw{abi.AppendString(nil, "on"), abi.AppendPair(nil, abi.AppendString(nil, "t"), abi.AppendFloat(nil, 20.5))}
	if err := s.Write(host.Batch{Time: 1000, Records: recs}); err != nil {
		t.Fatal(err)
	}
	for range recs {
		select {
		case <-arrived:
		case <-time.After(10 * time.Second):
			t.Fatal("the subscriber got nothing")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	sort.Strings(got)
	if fmt.Sprint(got) != `[["t",20.5] on]` {
		t.Errorf("payloads %q", got)
	}
}

// URIs are checked without connecting; a password never shows.
func TestURIs(t *testing.T) {
	for _, c := range []struct {
		uri, want string
		sink      bool
	}{
		{"mqtt://127.0.0.1:1883/?client=a", "want mqtt://HOST:PORT/TOPIC", false},
		{"mqtt://127.0.0.1:1883/t?client=a&qos=2", `unknown parameter "qos"`, false},
		{"mqtt://127.0.0.1:1883/t?client=a&format=xml", `format="xml": want text or json`, false},
		{"mqtt://127.0.0.1:1883/t?client=a&retain=true", "retain is a parameter of the sink", false},
		{"mqtt://127.0.0.1:1883/a/+/b", "has a wildcard", true},
		{"mqtt://127.0.0.1:1883/t?format=json", "format and record are source parameters", true},
		{"mqtt://u:secret@127.0.0.1:1883/t?bad=1", "mqtt://u:xxxxx@127.0.0.1:1883/t?bad=1", false},
	} {
		var err error
		if c.sink {
			_, err = host.OpenSink(c.uri)
		} else {
			_, err = host.OpenSource(c.uri)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v, want %q", c.uri, err, c.want)
		}
	}
	a, _ := openSource("mqtt://h:1883/t", quiet)
	b, _ := openSource("mqtt://h:1883/t?format=json", quiet)
	o, _ := openSource("mqtt://h:1883/u", quiet)
	if a.c.client != b.c.client || a.c.client == o.c.client || !strings.HasPrefix(a.c.client, "wstream-") {
		t.Errorf("default client ids: %s, %s for the same topic, %s for another", a.c.client, b.c.client, o.c.client)
	}
	c, err := parseURI("mqtt://u:p@h/a/b/%23?client=x")
	if err != nil || c.broker != "tcp://h:1883" || c.topic != "a/b/#" || c.user != "u" || c.password != "p" {
		t.Errorf("%+v %v", c, err)
	}
}
