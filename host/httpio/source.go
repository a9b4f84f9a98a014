package httpio

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/format"
)

// source is an HTTP server whose POSTs are the records. A request is
// queued whole (all its records or none), handed to the scheduler by
// Next, and answered when Ack says the batch that holds it has committed:
// 200 then, 503 if the run stops first, so that a client retrying until
// it gets a 200 loses nothing. A request carrying an id (idHeader) that
// was already committed is answered 200 without counting it again; the
// ids committed last are part of the source's position, so this holds
// across restarts.
type source struct {
	uri      string
	addr     string
	path     string
	maxBody  int64
	queueMax int64
	idHeader string
	dedupe   int
	log      *slog.Logger

	srv    *http.Server
	served chan struct{}

	mu       sync.Mutex
	wake     chan struct{}
	queue    []*request          // accepted, not yet handed out
	queued   int64               // their bytes
	handed   []*request          // handed out, waiting for their commit, in order
	inflight map[string]*request // queued or handed, by id
	seen     map[string]bool     // committed ids
	ring     []string            // the same, oldest first, at most dedupe
	seq      uint64              // requests handed out, ever
	pos      []byte              // the position log; see appendID
	closed   bool
}

// request is one accepted POST.
type request struct {
	seq     uint64
	id      string
	recs    []abi.Raw
	n       int           // records
	bytes   int64         // body size, counted against the queue
	waiters int           // retries with the same id waiting for it
	done    chan struct{} // closed once status and body are set
	status  int
	body    []byte
}

const (
	defaultMaxBody = 16 << 20
	defaultQueue   = 64 << 20
	defaultDedupe  = 10000
	maxIDLen       = 256
)

func openSource(uri string, env host.Env) (*source, error) {
	u, q, err := splitURI(uri)
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("source %s: an http source listens on plain http://ADDR/PATH (put a TLS proxy in front of it)", uri)
	}
	if err := only(uri, q, "source:"); err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	s := &source{uri: uri, addr: u.Host, path: u.Path, idHeader: "Idempotency-Key", dedupe: defaultDedupe, log: env.Log,
		wake: make(chan struct{}, 1), inflight: map[string]*request{}, seen: map[string]bool{}}
	if s.maxBody, err = size(q, "maxBody", defaultMaxBody); err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	if s.queueMax, err = size(q, "queue", defaultQueue); err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	if q.Has("idHeader") {
		if s.idHeader = http.CanonicalHeaderKey(q.Get("idHeader")); s.idHeader == "" {
			return nil, fmt.Errorf("source %w", q.Bad("idHeader", "a header name"))
		}
	}
	if q.Has("dedupe") {
		if s.dedupe, err = strconv.Atoi(q.Get("dedupe")); err != nil || s.dedupe < 0 {
			return nil, fmt.Errorf("source %w", q.Bad("dedupe", "a number of request ids, 0 or more"))
		}
	}
	return s, nil
}

func (s *source) URI() string { return s.uri }

// Check tries the address, as a dry run does: a port in use fails here.
func (s *source) Check() error {
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%s: cannot listen on %s: %v", s.uri, s.addr, err)
	}
	return l.Close()
}

// Open restores the committed request ids from pos and starts listening.
func (s *source) Open(ctx context.Context, pos []byte) error {
	if s.srv != nil {
		return fmt.Errorf("%s: already open", s.uri)
	}
	if pos != nil {
		ids, seq, err := decodePos(pos)
		if err != nil {
			return fmt.Errorf("%s: the checkpoint's position does not decode: %v", s.uri, err)
		}
		for _, id := range ids {
			s.remember(id)
		}
		s.seq = seq
	}
	s.pos = s.basePos()
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%s: cannot listen on %s: %v", s.uri, s.addr, err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		s.srv.Serve(l)
	}()
	s.log.Info(fmt.Sprintf("%s: listening on %s for POSTs to %s", s.uri, l.Addr(), s.path))
	return nil
}

// remember adds a committed id, forgetting the oldest beyond dedupe.
func (s *source) remember(id string) {
	if s.dedupe == 0 || s.seen[id] {
		return
	}
	s.seen[id] = true
	s.ring = append(s.ring, id)
	if over := len(s.ring) - s.dedupe; over > 0 {
		for _, old := range s.ring[:over] {
			delete(s.seen, old)
		}
		s.ring = append(s.ring[:0], s.ring[over:]...)
	}
}

// The position is a log of records: 'i' and an id (committed, or handed
// out after the ids before it), 's' and the count of requests handed out.
// Next appends to it and hands out a prefix, so that a position costs
// what its unit adds, not the whole id set; Ack starts a new log from the
// ids then committed and those still in flight.
func appendID(dst []byte, id string) []byte {
	dst = binary.AppendUvarint(append(dst, 'i'), uint64(len(id)))
	return append(dst, id...)
}

func appendSeq(dst []byte, seq uint64) []byte {
	return binary.AppendUvarint(append(dst, 's'), seq)
}

func decodePos(b []byte) (ids []string, seq uint64, err error) {
	for len(b) > 0 {
		tag := b[0]
		n, k := binary.Uvarint(b[1:])
		if k <= 0 {
			return nil, 0, errors.New("bad varint")
		}
		b = b[1+k:]
		switch tag {
		case 'i':
			if uint64(len(b)) < n {
				return nil, 0, errors.New("truncated id")
			}
			ids = append(ids, string(b[:n]))
			b = b[n:]
		case 's':
			seq = n
		default:
			return nil, 0, fmt.Errorf("unknown record %q", tag)
		}
	}
	return ids, seq, nil
}

// basePos is a new position log: the committed ids, the ids handed out
// but not committed, and the count handed out. Called with s.mu held.
func (s *source) basePos() []byte {
	var b []byte
	for _, id := range s.ring {
		b = appendID(b, id)
	}
	for _, r := range s.handed {
		if r.id != "" {
			b = appendID(b, r.id)
		}
	}
	return appendSeq(b, s.seq)
}

// Next hands out every request queued, as one unit; it blocks until there
// is one.
func (s *source) Next(ctx context.Context) (host.Unit, error) {
	s.mu.Lock()
	for len(s.queue) == 0 {
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return host.Unit{}, ctx.Err()
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.queue {
		n += len(r.recs)
	}
	recs := make([]abi.Raw, 0, n)
	for _, r := range s.queue {
		s.seq++
		r.seq = s.seq
		recs = append(recs, r.recs...)
		r.recs = nil
		if r.id != "" {
			s.pos = appendID(s.pos, r.id)
		}
		s.handed = append(s.handed, r)
	}
	s.queue, s.queued = s.queue[:0], 0
	s.pos = appendSeq(s.pos, s.seq)
	return host.Unit{Records: recs, Pos: s.pos[:len(s.pos):len(s.pos)]}, nil
}

// Ack answers every request handed out up to pos: its batch has committed.
func (s *source) Ack(pos []byte) error {
	_, seq, err := decodePos(pos)
	if err != nil {
		return fmt.Errorf("%s: bad position: %v", s.uri, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for k < len(s.handed) && s.handed[k].seq <= seq {
		r := s.handed[k]
		if r.id != "" {
			delete(s.inflight, r.id)
			s.remember(r.id)
		}
		r.finish(http.StatusOK, fmt.Sprintf(`{"records":%d}`, r.n))
		k++
	}
	if k > 0 {
		s.handed = append(s.handed[:0], s.handed[k:]...)
		s.pos = s.basePos()
	}
	return nil
}

func (r *request) finish(status int, body string) {
	r.status, r.body = status, []byte(body+"\n")
	close(r.done)
}

// Close answers what was not committed with 503 (retry), and stops the
// server once those answers are out.
func (s *source) Close() error {
	if s.srv == nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	for _, r := range append(s.queue, s.handed...) {
		r.finish(http.StatusServiceUnavailable, `{"error":"the run stopped before this request was committed; send it again"}`)
	}
	s.queue, s.handed, s.inflight = nil, nil, map[string]*request{}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.served
	s.srv = nil
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", s.uri, err)
	}
	return nil
}

// ServeHTTP accepts a POST: it reads and decodes the whole body, queues
// it, and answers once its batch has committed.
func (s *source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.path {
		reply(w, http.StatusNotFound, fmt.Sprintf("no such path %s: POST to %s", r.URL.Path, s.path))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	id := r.Header.Get(s.idHeader)
	if len(id) > maxIDLen {
		reply(w, http.StatusBadRequest, fmt.Sprintf("%s is longer than %d bytes", s.idHeader, maxIDLen))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reply(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes (maxBody); send fewer records per request", s.maxBody))
			return
		}
		reply(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	recs, status, err := decode(r.Header.Get("Content-Type"), body)
	if err != nil {
		reply(w, status, err.Error())
		return
	}
	if len(recs) == 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{\"records\":0}\n"))
		return
	}
	req, status, msg := s.accept(id, recs, int64(len(body)))
	if req == nil {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		if status == http.StatusOK {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(msg + "\n"))
			return
		}
		reply(w, status, msg)
		return
	}
	select {
	case <-req.done:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(req.status)
		w.Write(req.body)
	case <-r.Context().Done():
		s.abandon(req)
	}
}

// accept queues a request, or says why not: a committed id is answered
// at once, an id in flight waits for that request, a full queue is 429.
func (s *source) accept(id string, recs []abi.Raw, size int64) (*request, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, http.StatusServiceUnavailable, "the run is stopping; send it again once it is back"
	case id != "" && s.seen[id]:
		return nil, http.StatusOK, fmt.Sprintf(`{"records":%d,"duplicate":true}`, len(recs))
	case id != "" && s.inflight[id] != nil:
		req := s.inflight[id]
		req.waiters++
		return req, 0, ""
	case s.queued > 0 && s.queued+size > s.queueMax:
		return nil, http.StatusTooManyRequests, fmt.Sprintf("%d bytes of requests are waiting for a batch (queue); slow down and retry", s.queued)
	}
	req := &request{id: id, recs: recs, n: len(recs), bytes: size, done: make(chan struct{})}
	s.queue = append(s.queue, req)
	s.queued += size
	if id != "" {
		s.inflight[id] = req
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return req, 0, ""
}

// abandon drops a request whose client went away while it was still
// queued and nobody else waits for it: its client will send it again.
// Once handed out it counts, as its batch may already have run.
func (s *source) abandon(req *request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.waiters > 0 {
		req.waiters--
		return
	}
	for i, q := range s.queue {
		if q == req {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			s.queued -= req.bytes
			if req.id != "" {
				delete(s.inflight, req.id)
			}
			return
		}
	}
}

func reply(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// decode turns a body into records by its content type: text/plain (or
// none) is one record per line, application/json one value or, for an
// array, one per element, application/x-ndjson one value per line, and
// text/csv a map per row named by the header row (an array per row with
// header=absent, RFC 4180's parameter).
func decode(contentType string, body []byte) ([]abi.Raw, int, error) {
	mt, mparams := "text/plain", map[string]string{}
	if contentType != "" {
		var err error
		if mt, mparams, err = mime.ParseMediaType(contentType); err != nil {
			return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: %v", contentType, err)
		}
	}
	var lf format.Lines
	switch mt {
	case "text/plain":
		lf.Format = format.Text
	case "application/json":
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, 0, nil
		}
		v, err := format.Append(nil, body, format.JSON)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("the body is not JSON: %v", err)
		}
		if abi.TypeOf(v) != abi.TypeArray {
			return []abi.Raw{v}, 0, nil
		}
		n, rest, err := abi.ArrayHeader(v)
		recs := make([]abi.Raw, n)
		for i := 0; i < n && err == nil; i++ {
			recs[i], rest, err = abi.Next(rest)
		}
		if err != nil {
			return nil, http.StatusBadRequest, err
		}
		return recs, 0, nil
	case "application/x-ndjson", "application/jsonl", "application/json-lines", "application/jsonlines":
		lf.Format = format.JSON
	case "text/csv":
		lf.Format, lf.Header = format.CSV, mparams["header"] != "absent"
	case "application/x-www-form-urlencoded":
		return nil, http.StatusUnsupportedMediaType, errors.New("Content-Type application/x-www-form-urlencoded is a form, which curl -d sends by default; send text/plain, application/json or application/x-ndjson (curl --data-binary @FILE -H 'Content-Type: text/plain')")
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %s: send text/plain (a record per line), application/json (a value, or an array of them), application/x-ndjson (a JSON value per line) or text/csv (a record per row)", mt)
	}
	var recs []abi.Raw
	i := 0
	for line := range lines(body) {
		i++
		r, res, err := lf.Line(nil, line)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("line %d: %v", i, err)
		}
		if res == format.Record {
			recs = append(recs, r)
		}
	}
	if err := lf.End(); err != nil {
		return nil, http.StatusBadRequest, err
	}
	return recs, 0, nil
}

// lines yields the lines of b without their terminators ("\n" or
// "\r\n"); a last line without one is a line, and a final terminator
// does not start another.
func lines(b []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			line, rest, _ := bytes.Cut(b, []byte{'\n'})
			b = rest
			if !yield(bytes.TrimSuffix(line, []byte{'\r'})) {
				return
			}
		}
	}
}

var _ host.Acker = (*source)(nil)
var _ host.Checker = (*source)(nil)
