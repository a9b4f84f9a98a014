package httpio

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wstream/wstream/host"
)

// sink POSTs each batch as {"time": ms, "records": [...]} (with
// "watermark" and "noData" as a jsonl: line has them). A 2xx answer is
// success; a connection error, a timeout, 408, 429 or 5xx is tried again
// with backoff (honouring Retry-After), up to retries times, after which
// the run stops; any other answer stops the run at once, quoting it. A
// batch that failed may have reached the endpoint, so delivery is at
// least once; the Wstream-Batch-Time header lets an endpoint recognise a
// batch it has already seen.
type sink struct {
	uri     string
	url     string
	ca      string
	timeout time.Duration
	retries int
	empty   bool
	log     *slog.Logger
	client  *http.Client
	buf     []byte
	sleep   func(time.Duration) // time.Sleep; tests shorten it
}

func openSink(uri string, env host.Env) (*sink, error) {
	u, q, err := splitURI(uri)
	if err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	if err := only(uri, q, "sink:"); err != nil {
		return nil, fmt.Errorf("sink %w", err)
	}
	s := &sink{uri: uri, url: u.String(), timeout: 10 * time.Second, retries: 5, log: env.Log, sleep: time.Sleep}
	if q.Has("timeout") {
		if s.timeout, err = q.Duration("timeout"); err != nil || s.timeout == 0 {
			return nil, fmt.Errorf("sink %w", q.Bad("timeout", "a duration such as 10s"))
		}
	}
	if q.Has("retries") {
		if s.retries, err = strconv.Atoi(q.Get("retries")); err != nil || s.retries < 0 {
			return nil, fmt.Errorf("sink %w", q.Bad("retries", "a number of retries, 0 or more"))
		}
	}
	if q.Has("empty") {
		if s.empty, err = q.Bool("empty"); err != nil {
			return nil, fmt.Errorf("sink %w", err)
		}
	}
	if q.Has("ca") {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("sink %s: ca= applies to https:// URLs", uri)
		}
		s.ca = q.Get("ca")
	}
	return s, nil
}

func (s *sink) URI() string { return s.uri }

// Open builds the client; with ca=, it reads the certificates.
func (s *sink) Open(context.Context, int64) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.ca != "" {
		pem, err := os.ReadFile(s.ca)
		if err != nil {
			return fmt.Errorf("sink %s: ca: %w", s.uri, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("sink %s: ca: %s holds no PEM certificate", s.uri, s.ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	s.client = &http.Client{Transport: tr}
	return nil
}

func (s *sink) Write(b host.Batch) error {
	if s.client == nil {
		return fmt.Errorf("sink %s: not open", s.uri)
	}
	if len(b.Records) == 0 && !s.empty {
		return nil
	}
	body, err := s.encode(b)
	if err != nil {
		return err
	}
	start := time.Now()
	backoff := 250 * time.Millisecond
	for attempt := 0; ; attempt++ {
		last, wait, retry := s.post(b.Time, body)
		if last == "" {
			return nil
		}
		if !retry {
			return fmt.Errorf("sink %s: batch %d ms: the endpoint refused the batch: %s", s.uri, b.Time, last)
		}
		if attempt == s.retries {
			return fmt.Errorf("sink %s: batch %d ms: POST failed %d times over %v; the last: %s. Is the endpoint up? (retries= and timeout= set how hard the sink tries)",
				s.uri, b.Time, attempt+1, time.Since(start).Round(time.Millisecond), last)
		}
		if wait <= 0 {
			wait = backoff
		}
		wait = min(wait, 30*time.Second)
		s.log.Warn(fmt.Sprintf("sink %s: batch %d ms: POST failed (%s); trying again in %v", s.uri, b.Time, last, wait))
		s.sleep(wait)
		backoff = min(backoff*2, 10*time.Second)
	}
}

// post sends one attempt. It returns "" on success, or what went wrong,
// how long the endpoint asked to wait, and whether to try again.
func (s *sink) post(t int64, body []byte) (last string, wait time.Duration, retry bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return err.Error(), 0, false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wstream")
	req.Header.Set("Wstream-Batch-Time", strconv.FormatInt(t, 10))
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Sprintf("no answer within %v (timeout)", s.timeout), 0, true
		}
		return err.Error(), 0, true
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return "", 0, false
	}
	last = resp.Status
	if e := strings.TrimSpace(string(excerpt)); e != "" {
		last += ": " + e
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
		wait = time.Duration(secs) * time.Second
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500
	return last, wait, retry
}

func (s *sink) encode(b host.Batch) ([]byte, error) {
	p, err := b.AppendJSON(s.buf[:0])
	if err != nil {
		return nil, fmt.Errorf("sink %s: %w", s.uri, err)
	}
	s.buf = append(p, '\n')
	return s.buf, nil
}

func (s *sink) Close() error {
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	return nil
}
