package httpio

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
)

// freeAddr is a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// answer is what a POST got back.
type answer struct {
	status int
	body   string
	err    error
}

func post(url, contentType, body string, header ...string) answer {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: strings.TrimSpace(string(b))}
}

func postAsync(url, contentType, body string, header ...string) chan answer {
	ch := make(chan answer, 1)
	go func() { ch <- post(url, contentType, body, header...) }()
	return ch
}

// gate blocks each batch that has records until the test lets it go,
// so the test can look at the world while a batch is in flight.
type gate struct {
	hosttest.Pass
	in   chan []string // each batch's records, as JSON
	goOn chan struct{}
}

func newGate() *gate { return &gate{in: make(chan []string, 100), goOn: make(chan struct{}, 100)} }

func (g *gate) Process(ctx context.Context, t int64, inputs map[string][]abi.Raw) (host.Batch, bool, error) {
	b, emit, err := g.Pass.Process(ctx, t, inputs)
	if len(b.Records) > 0 {
		var recs []string
		for _, r := range b.Records {
			j, _ := abi.AppendJSON(nil, r)
			recs = append(recs, string(j))
		}
		g.in <- recs
		<-g.goOn
	}
	return b, emit, err
}

func (g *gate) Shape() string              { return "gate" }
func (g *gate) Snapshot(dst []byte) []byte { return abi.AppendNil(dst) }
func (g *gate) Restore([]byte) error       { return nil }

// startSource runs host.Run over an http source on a free port and
// returns the URL to POST to.
func startSource(t *testing.T, params string, p host.Processor, ckpt string) (url string, src *source, stop func() error) {
	t.Helper()
	addr := freeAddr(t)
	uri := "http://" + addr + "/in"
	if params != "" {
		uri += "?" + params
	}
	src = hosttest.MustSource(t, uri).(*source)
	cfg := host.RunConfig{Sources: map[string]host.Source{"in": src}, Sink: hosttest.NewTestSink(), Processor: p, Interval: 5 * time.Millisecond}
	if ckpt != "" {
		cfg.Checkpoint, _ = host.OpenCheckpoints(ckpt, nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := hosttest.RunAsync(ctx, cfg)
	url = "http://" + addr + "/in"
	for post(url, "", "").err != nil { // listening yet?
		select {
		case err := <-done:
			t.Fatalf("run ended: %v", err)
		case <-time.After(5 * time.Millisecond): // polling a server we started
		}
	}
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = hosttest.Wait(t, done)
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return url, src, stop
}

// Each content type becomes records its way, and a request is answered
// only after the batch holding it has committed.
func TestSourceContentTypes(t *testing.T) {
	g := newGate()
	url, _, stop := startSource(t, "", g, "")
	for _, c := range []struct {
		ctype, body string
		want        []string
	}{
		{"text/plain; charset=utf-8", "to be\r\nor not\n\nto be", []string{`"to be"`, `"or not"`, `""`, `"to be"`}},
		{"", "no type is text\n", []string{`"no type is text"`}},
		{"application/json", `{"sensor": "s1", "temp": 20.5}`, []string{`{"sensor":"s1","temp":20.5}`}},
		{"application/json", `[1, "two", [3]]`, []string{`1`, `"two"`, `[3]`}},
		{"application/x-ndjson", "{\"a\": 1}\n\n[2, 3]\n", []string{`{"a":1}`, `[2,3]`}},
		{"text/csv", "sensor,temp\r\ns1,20.5\ns2,\"19\"\n", []string{`{"sensor":"s1","temp":20.5}`, `{"sensor":"s2","temp":"19"}`}},
		{"text/csv; header=absent", "s1,20.5\n", []string{`["s1",20.5]`}},
	} {
		ch := postAsync(url, c.ctype, c.body)
		got := <-g.in
		select {
		case a := <-ch:
			t.Fatalf("%s: answered %d %s before its batch committed", c.ctype, a.status, a.body)
		default:
		}
		g.goOn <- struct{}{}
		a := <-ch
		if fmt.Sprint(got) != fmt.Sprint(c.want) || a.status != 200 || a.body != fmt.Sprintf(`{"records":%d}`, len(c.want)) {
			t.Errorf("%s %q: records %v, answer %d %s; want %v", c.ctype, c.body, got, a.status, a.body, c.want)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// Bad requests are refused whole, with a status and a message that say
// what to change; no record of them reaches a batch.
func TestSourceRefusals(t *testing.T) {
	g := newGate()
	url, _, stop := startSource(t, "maxBody=64B", g, "")
	base := strings.TrimSuffix(url, "/in")
	for _, c := range []struct {
		url, ctype, body string
		status           int
		want             string
	}{
		{base + "/other", "text/plain", "x", 404, "no such path /other: POST to /in"},
		{url, "application/json", `{"a": `, 400, "the body is not JSON"},
		{url, "application/x-ndjson", "1\n{\n", 400, "line 2: not JSON"},
		{url, "text/csv", "a,b\n1,\"2\n", 400, "a quoted field is not closed"},
		{url, "application/x-www-form-urlencoded", "a=b", 415, "curl --data-binary"},
		{url, "image/png", "x", 415, "send text/plain"},
		{url, "text/plain", strings.Repeat("x", 65), 413, "over 64 bytes (maxBody)"},
		{url, "text/plain", "x", 400, "Idempotency-Key is longer than 256 bytes"},
	} {
		var hdr []string
		if c.status == 400 && c.ctype == "text/plain" {
			hdr = []string{"Idempotency-Key", strings.Repeat("k", 257)}
		}
		a := post(c.url, c.ctype, c.body, hdr...)
		if a.status != c.status || !strings.Contains(a.body, c.want) {
			t.Errorf("%s %q: %d %s, want %d %q", c.ctype, c.body, a.status, a.body, c.status, c.want)
		}
	}
	resp, err := http.Get(url)
	if err != nil || resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %v %v", resp, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case recs := <-g.in:
		t.Errorf("a refused request reached a batch: %v", recs)
	default:
	}
}

// A request id already committed is answered without counting it again,
// also after a restart from the checkpoint; a retry of a request still in
// flight waits for it and gets its answer.
func TestSourceRequestIDs(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "ckpt")
	g := newGate()
	url, src, stop := startSource(t, "", g, ckpt)
	first := postAsync(url, "text/plain", "a\nb", "Idempotency-Key", "req-1")
	if got := <-g.in; fmt.Sprint(got) != `["a" "b"]` {
		t.Fatalf("batch %v", got)
	}
	retry := postAsync(url, "text/plain", "a\nb", "Idempotency-Key", "req-1") // the client gave up waiting and retried
	for waiters(src, "req-1") == 0 {
		time.Sleep(time.Millisecond) // until the retry has joined the request in flight
	}
	g.goOn <- struct{}{}
	for _, ch := range []chan answer{first, retry} {
		if a := <-ch; a.status != 200 {
			t.Errorf("answer %d %s", a.status, a.body)
		}
	}
	if a := post(url, "text/plain", "a\nb", "Idempotency-Key", "req-1"); a.status != 200 || a.body != `{"records":2,"duplicate":true}` {
		t.Errorf("a committed id again: %d %s", a.status, a.body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	url, _, stop = startSource(t, "", g, ckpt)
	if a := post(url, "text/plain", "a\nb", "Idempotency-Key", "req-1"); a.status != 200 || a.body != `{"records":2,"duplicate":true}` {
		t.Errorf("after a restart, a committed id again: %d %s", a.status, a.body)
	}
	ch := postAsync(url, "text/plain", "c", "Idempotency-Key", "req-2")
	if got := <-g.in; fmt.Sprint(got) != `["c"]` {
		t.Errorf("after a restart: batch %v, want only the new request", got)
	}
	g.goOn <- struct{}{}
	if a := <-ch; a.status != 200 {
		t.Errorf("new request after restart: %d %s", a.status, a.body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func waiters(s *source, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.inflight[id]; r != nil {
		return r.waiters
	}
	return 0
}

// A full queue answers 429 with Retry-After: the scheduler is not taking
// requests as fast as they come (its buffer is full, or maxRate or
// backpressure hold it back).
func TestSourceQueueFull(t *testing.T) {
	s, err := openSource("http://"+freeAddr(t)+"/in?queue=10B", host.Env{Log: hosttest.Logger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	url := "http://" + s.addr + "/in"
	first := postAsync(url, "text/plain", "0123456789")
	for queued(s) == 0 {
		time.Sleep(time.Millisecond) // until the request is in
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("a request over the queue: %v %v", resp, err)
	}
	resp.Body.Close()
	u, err := s.Next(context.Background())
	if err != nil || len(u.Records) != 1 {
		t.Fatalf("Next: %v %v", u, err)
	}
	s.Ack(u.Pos)
	if a := <-first; a.status != 200 || a.body != `{"records":1}` {
		t.Errorf("first: %d %s", a.status, a.body)
	}
}

// A run that stops finishes the batch in flight, answers its requests,
// and stops listening.
func TestSourceStop(t *testing.T) {
	g := newGate()
	url, _, stop := startSource(t, "", g, "")
	ch := postAsync(url, "text/plain", "last")
	<-g.in
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	g.goOn <- struct{}{}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if a := <-ch; a.status != 200 {
		t.Errorf("the request of the last batch: %d %s", a.status, a.body)
	}
	if a := post(url, "text/plain", "late"); a.err == nil {
		t.Errorf("after the run: %d %s, want no server", a.status, a.body)
	}
}

func queued(s *source) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Requests the run could not commit get 503: the source closes with them
// still waiting.
func TestSourceCloseAnswers503(t *testing.T) {
	s, err := openSource("http://"+freeAddr(t)+"/in", host.Env{Log: hosttest.Logger(io.Discard)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.addr + "/in"
	ch := postAsync(url, "text/plain", "x")
	if _, err := s.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if a := <-ch; a.status != 503 || !strings.Contains(a.body, "send it again") {
		t.Errorf("%d %s", a.status, a.body)
	}
}

// The sink POSTs each batch as JSON with its time, retries what a retry
// may fix and stops the run, quoting the endpoint, on what it cannot.
func TestSink(t *testing.T) {
	var mu sync.Mutex
	var got []string
	fail := map[string]int{} // path -> how many more failures
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Content-Type")+" "+r.Header.Get("Wstream-Batch-Time")+" "+strings.TrimSpace(string(b)))
		switch {
		case r.URL.Path == "/bad":
			http.Error(w, "no such dashboard", http.StatusBadRequest)
		case r.URL.Path == "/slow":
			<-r.Context().Done()
		case fail[r.URL.Path] > 0:
			fail[r.URL.Path]--
			w.Header().Set("Retry-After", "0")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	open := func(path, params string) *sink {
		s, err := openSink(srv.URL+path+params, host.Env{Log: hosttest.Logger(io.Discard)})
		if err != nil {
			t.Fatal(err)
		}
		s.sleep = func(time.Duration) {}
		if err := s.Open(context.Background(), -1); err != nil {
			t.Fatal(err)
		}
		return s
	}
	wm := int64(500)
	s := open("/ok", "")
	fail["/ok"] = 2
	batch := host.Batch{Time: 1000, Records: []abi.Raw{abi.AppendString(nil, "a"), abi.AppendPair(nil, abi.AppendString(nil, "k"), abi.AppendInt(nil, 1))}, Watermark: &wm}
	if err := s.Write(batch); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(host.Batch{Time: 2000}); err != nil { // empty: not sent
		t.Fatal(err)
	}
	want := `/ok application/json 1000 {"time":1000,"records":["a",["k",1]],"watermark":500}`
	if len(got) != 3 || got[2] != want {
		t.Errorf("requests %q\nwant two failures then %s", got, want)
	}
	got = nil
	if err := open("/ok", "?empty=true").Write(host.Batch{Time: 2000}); err != nil || fmt.Sprint(got) != `[/ok application/json 2000 {"time":2000,"records":[]}]` {
		t.Errorf("empty=true: %q %v", got, err)
	}
	fail["/down"] = 100
	err := open("/down", "?retries=2").Write(batch)
	if err == nil || !strings.Contains(err.Error(), "batch 1000 ms: POST failed 3 times over") || !strings.Contains(err.Error(), "the last: 503 Service Unavailable: busy") {
		t.Errorf("an endpoint that keeps failing: %v", err)
	}
	err = open("/bad", "").Write(batch)
	if err == nil || !strings.Contains(err.Error(), "the endpoint refused the batch: 400 Bad Request: no such dashboard") {
		t.Errorf("a 400: %v", err)
	}
	err = open("/slow", "?timeout=50ms&retries=0").Write(batch)
	if err == nil || !strings.Contains(err.Error(), "no answer within 50ms (timeout)") {
		t.Errorf("a slow endpoint: %v", err)
	}
	_, err = openSink("http://"+freeAddr(t)+"/x?retries=0", host.Env{})
	if err != nil {
		t.Fatal(err)
	}
}

// https with a CA of the pipeline's own.
func TestSinkTLS(t *testing.T) {
	hits := 0
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	batch := host.Batch{Time: 1, Records: []abi.Raw{abi.AppendInt(nil, 1)}}
	for _, c := range []struct{ uri, want string }{
		{srv.URL + "/x?retries=0", "certificate signed by unknown authority"},
		{srv.URL + "/x?retries=0&ca=" + ca, ""},
	} {
		s, err := host.OpenSink(c.uri)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Open(context.Background(), -1); err != nil {
			t.Fatal(err)
		}
		err = s.Write(batch)
		if (c.want == "" && err != nil) || (c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want))) {
			t.Errorf("%s: %v, want %q", c.uri, err, c.want)
		}
	}
	if hits != 1 {
		t.Errorf("%d requests reached the server, want 1", hits)
	}
}

// URIs are checked without listening or connecting.
func TestURIs(t *testing.T) {
	for _, c := range []struct {
		uri, want string
		sink      bool
	}{
		{"http://127.0.0.1:8080/in?timeout=1s", "timeout is a parameter of the sink", false},
		{"http://127.0.0.1:8080/in?maxBody=1MiB", "maxBody is a parameter of the source", true},
		{"http://127.0.0.1:8080/in?maxBody=lots", `maxBody="lots": want a size such as 16MiB`, false},
		{"http:///in", "want http://HOST:PORT/PATH", false},
		{"http://u:p@h/in", "want http://HOST:PORT/PATH", true},
		{"https://127.0.0.1:8443/in", "unknown source", false},
		{"http://h/x?ca=/etc/ca.pem", "ca= applies to https:// URLs", true},
		{"http://h/x?retries=-1", "want a number of retries", true},
	} {
		var err error
		if c.sink {
			_, err = host.OpenSink(c.uri)
		} else {
			_, err = host.OpenSource(c.uri)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.uri, err, c.want)
		}
	}
	// A dry run finds a port in use.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	src, _ := host.OpenSource("http://" + l.Addr().String() + "/in")
	if err := src.(host.Checker).Check(); err == nil || !strings.Contains(err.Error(), "cannot listen on") {
		t.Errorf("check of a port in use: %v", err)
	}
}
