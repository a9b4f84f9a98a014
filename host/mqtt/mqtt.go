// Package mqtt is the mqtt:// connector (MQTT 3.1.1, with Eclipse Paho),
// for devices. The source subscribes at QoS 1 in a persistent session:
// the broker keeps the subscription and every message not yet
// acknowledged under the source's client id, and the source acknowledges
// a message only once the batch that holds it has committed, so a
// restart (or a crash) resumes where the last commit left off: at least
// once. The sink publishes each record at QoS 1 and waits for the
// broker's acknowledgements.
package mqtt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/format"
)

func init() {
	host.Register(host.Connector{Scheme: "mqtt",
		SourceForm: "mqtt://HOST:PORT/TOPIC  a topic (wildcards + and # allowed) at QoS 1 in a persistent session, acked after each commit",
		SinkForm:   "mqtt://HOST:PORT/TOPIC  publish each record at QoS 1",
		Params:     params,
		Source:     func(uri string, env host.Env) (host.Source, error) { return openSource(uri, env) },
		Sink:       func(uri string, env host.Env) (host.Sink, error) { return openSink(uri, env) },
	})
}

// params are the query parameters of an mqtt:// URI.
var params = []host.Param{
	{Name: "client", Help: "the client id; source: the broker keeps the persistent session (subscription, unacknowledged messages) under it (default: one made from the broker and topic)"},
	{Name: "format", Help: "source: text (default) or json"},
	{Name: "record", Help: "source: value (default) or full (a map with topic, value, retained, duplicate)"},
	{Name: "retain", Help: "sink: true publishes retained messages, which a new subscriber receives first (default false)"},
	{Name: "connectTimeout", Help: "how long to retry an unreachable broker at start (default 1m; 0 forever)"},
}

// config is a parsed mqtt:// URI.
type config struct {
	uri      string // with the password masked
	broker   string // tcp://HOST:PORT
	user     string
	password string
	hasPass  bool
	topic    string
	client   string
	format   format.Format
	full     bool
	retain   bool
	connect  time.Duration
}

func parseURI(uri string) (*config, error) {
	base, raw, hasQuery := strings.Cut(uri, "?")
	rest, ok := strings.CutPrefix(base, "mqtt://")
	example := "mqtt://HOST:PORT/TOPIC, for example mqtt://127.0.0.1:1883/sensors/+/temp?client=wstream-temps"
	if !ok {
		return nil, fmt.Errorf("%s: want %s", uri, example)
	}
	hostPart, topic, _ := strings.Cut(rest, "/")
	c := &config{uri: uri, format: format.Text, connect: time.Minute}
	if at := strings.LastIndexByte(hostPart, '@'); at >= 0 {
		ui, err := url.Parse("mqtt://" + hostPart[:at+1] + "h")
		if err != nil || ui.User == nil {
			return nil, fmt.Errorf("%s: want %s", uri, example)
		}
		c.user = ui.User.Username()
		c.password, c.hasPass = ui.User.Password()
		hostPart = hostPart[at+1:]
		masked := ui.User.Username()
		if c.hasPass {
			masked += ":xxxxx"
		}
		c.uri = "mqtt://" + masked + "@" + hostPart + "/" + topic
		if hasQuery {
			c.uri += "?" + raw
		}
	}
	_, q, err := host.ParseQuery(c.uri, params)
	if err != nil {
		return nil, err
	}
	if topic, err = url.PathUnescape(topic); err != nil || hostPart == "" || topic == "" {
		return nil, fmt.Errorf("%s: want %s", c.uri, example)
	}
	if !strings.Contains(hostPart, ":") {
		hostPart += ":1883"
	}
	c.broker, c.topic = "tcp://"+hostPart, topic
	for _, name := range q.Names() {
		v := q.Get(name)
		switch name {
		case "client":
			if v == "" || len(v) > 65535 {
				return nil, q.Bad(name, "a client id")
			}
			c.client = v
		case "format":
			if c.format, err = format.Parse(v); err != nil {
				return nil, q.Bad(name, "text or json")
			}
		case "record":
			if v, err = q.OneOf(name, "value", "full"); err != nil {
				return nil, err
			}
			c.full = v == "full"
		case "retain":
			c.retain, err = q.Bool(name)
		case "connectTimeout":
			c.connect, err = q.Duration(name)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// options are the client options common to the source and the sink.
func (c *config) options(log *slog.Logger) *paho.ClientOptions {
	o := paho.NewClientOptions().AddBroker(c.broker).SetClientID(c.client).
		SetKeepAlive(30 * time.Second).SetConnectTimeout(10 * time.Second).
		SetAutoReconnect(true).SetMaxReconnectInterval(10 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Warn(fmt.Sprintf("%s: disconnected: %v; reconnecting", c.uri, err))
		})
	if c.user != "" {
		o.SetUsername(c.user)
	}
	if c.hasPass {
		o.SetPassword(c.password)
	}
	return o
}

// dial connects, retrying an unreachable broker with backoff and one
// log line per attempt for at most c.connect (0: until ctx ends). A broker
// that refuses the client (a bad password) is not retried.
func (c *config) dial(ctx context.Context, client paho.Client, log *slog.Logger) error {
	start := time.Now()
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		tok := client.Connect()
		tok.Wait()
		err := tok.Error()
		if err == nil {
			return nil
		}
		if strings.Contains(err.Error(), "not Authorized") || strings.Contains(err.Error(), "bad user name or password") || strings.Contains(err.Error(), "identifier rejected") {
			return fmt.Errorf("%s: the broker at %s refused the connection: %v", c.uri, c.broker, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if c.connect > 0 && time.Since(start)+backoff > c.connect {
			return fmt.Errorf("%s: no MQTT broker answered at %s within %v (last error: %v); is it running? Add ?connectTimeout=0 to wait forever", c.uri, c.broker, c.connect, err)
		}
		log.Warn(fmt.Sprintf("%s: cannot reach the MQTT broker at %s (attempt %d: %v); retrying in %v", c.uri, c.broker, attempt, err, backoff))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// wait waits for a token, for at most d.
func wait(tok paho.Token, d time.Duration) error {
	if !tok.WaitTimeout(d) {
		return fmt.Errorf("no answer from the broker within %v", d)
	}
	return tok.Error()
}

func randomID() string {
	var b [6]byte
	rand.Read(b[:])
	return "wstream-" + hex.EncodeToString(b[:])
}
