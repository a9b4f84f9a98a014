package httpio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/internal/hosttest"
)

// BenchmarkSource measures records per second through the http source
// into a running pipeline: 64 clients POST 100-line text bodies, each
// answered after its 10ms batch commits (no checkpoint: after the sink
// took it). The baseline is net/http with the same decoding: a handler
// that reads the bodies, makes their records and answers at once. Run it with
//
//	go test -run '^$' -bench Source -benchtime 3s ./host/httpio/
func BenchmarkSource(b *testing.B) {
	const perRequest, clients = 100, 64
	var body bytes.Buffer
	for i := 0; i < perRequest; i++ {
		fmt.Fprintf(&body, "sensor-%d reading %d\n", i%10, i)
	}
	load := func(b *testing.B, url string) {
		tr := &http.Transport{MaxIdleConnsPerHost: clients}
		client := &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					resp, err := client.Post(url, "text/plain", bytes.NewReader(body.Bytes()))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "records/s")
	}
	b.Run("net-http", func(b *testing.B) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			data, _ := io.ReadAll(r.Body)
			recs, _, _ := decode(r.Header.Get("Content-Type"), data)
			n.Add(int64(len(recs)))
			w.Write([]byte("{\"records\":100}\n"))
		})}
		go srv.Serve(l)
		defer srv.Close()
		load(b, "http://"+l.Addr().String()+"/in")
	})
	b.Run("source", func(b *testing.B) {
		addr := freeAddr(b)
		src, err := host.OpenSource("http://"+addr+"/in", host.WithLog(hosttest.Logger(io.Discard)))
		if err != nil {
			b.Fatal(err)
		}
		var got atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- host.Run(ctx, host.RunConfig{Sources: map[string]host.Source{"in": src}, Sink: countSink{&got},
				Processor: hosttest.Pass{}, Interval: 10 * time.Millisecond, Log: hosttest.Logger(io.Discard)})
		}()
		url := "http://" + addr + "/in"
		for {
			resp, err := http.Post(url, "text/plain", strings.NewReader(""))
			if err == nil {
				resp.Body.Close()
				break
			}
			time.Sleep(time.Millisecond) // until it listens
		}
		load(b, url)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if got.Load() != int64(b.N*perRequest) {
			b.Fatalf("the sink got %d records, want %d", got.Load(), b.N*perRequest)
		}
	})
}

type countSink struct{ n *atomic.Int64 }

func (countSink) URI() string                       { return "count" }
func (countSink) Open(context.Context, int64) error { return nil }
func (s countSink) Write(b host.Batch) error        { s.n.Add(int64(len(b.Records))); return nil }
func (countSink) Close() error                      { return nil }
