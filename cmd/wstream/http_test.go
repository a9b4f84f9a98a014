package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestHTTPSourceRetriesCountedOnce posts 10 000 lines in 500 requests,
// each with an Idempotency-Key, from clients that retry until they get a
// 200, some of them too impatient to wait for the answer; meanwhile the
// binary is killed with SIGKILL and restarted from its checkpoint. Every
// line must be in the output exactly once: a request committed but not
// answered before a kill is recognised by its id when it comes again.
func TestHTTPSourceRetriesCountedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: skipped in -short mode")
	}
	bin := buildBinary(t)
	plugin := conformancePlugin(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	pipeline := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipeline, []byte(fmt.Sprintf(`plugin: %s
batch: 20ms
checkpoint: ckpt
source: http://%s/ingest
stages: [{op: map, fn: identity}]
sink: jsonl:out.jsonl
`, plugin, addr)), 0o644)

	const requests, perRequest = 500, 20
	var sent, retries, duplicates atomic.Int64
	work := make(chan int, requests)
	for i := 0; i < requests; i++ {
		work <- i
	}
	close(work)
	var clients sync.WaitGroup
	for c := 0; c < 8; c++ {
		clients.Add(1)
		go func(seed int64) {
			defer clients.Done()
			rng := rand.New(rand.NewSource(seed))
			client := &http.Client{}
			for i := range work {
				var body bytes.Buffer
				for j := 0; j < perRequest; j++ {
					fmt.Fprintf(&body, "line-%05d\n", i*perRequest+j)
				}
				for attempt := 0; ; attempt++ {
					if attempt > 0 {
						retries.Add(1)
						time.Sleep(20 * time.Millisecond) // a client's pause between retries
					}
					wait := 10 * time.Second
					if rng.Intn(5) == 0 {
						wait = time.Duration(1+rng.Intn(30)) * time.Millisecond // an impatient client gives up and retries
					}
					ctx, cancel := context.WithTimeout(context.Background(), wait)
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/ingest", bytes.NewReader(body.Bytes()))
					req.Header.Set("Content-Type", "text/plain")
					req.Header.Set("Idempotency-Key", fmt.Sprintf("req-%d", i))
					resp, err := client.Do(req)
					if err != nil {
						cancel()
						continue
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					cancel()
					if resp.StatusCode == 200 {
						if strings.Contains(string(b), `"duplicate":true`) {
							duplicates.Add(1)
						}
						sent.Add(1)
						break
					}
				}
			}
		}(int64(c))
	}
	allSent := make(chan struct{})
	go func() { clients.Wait(); close(allSent) }()

	rng := rand.New(rand.NewSource(3))
	kills := 0
	for {
		cmd := exec.Command(bin, "run", "--pipeline", pipeline)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kills < 6 {
			select {
			case err := <-done:
				t.Fatalf("run ended by itself: %v\n%s", err, stderr.String())
			case <-time.After(time.Duration(300+rng.Intn(700)) * time.Millisecond):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				kills++
				continue
			}
		}
		select {
		case <-allSent:
		case err := <-done:
			t.Fatalf("run ended by itself: %v\n%s", err, stderr.String())
		case <-time.After(3 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("the clients did not finish: %d of %d requests answered", sent.Load(), requests)
		}
		// The clients may have finished during the last kill: stop this
		// run only once it listens, so the signal finds its handler.
		for {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				break
			}
			select {
			case err := <-done:
				t.Fatalf("run ended by itself: %v\n%s", err, stderr.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := <-done; err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
		break
	}

	count := map[string]int{}
	f, err := os.Open(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var b struct{ Records []string }
		if err := json.Unmarshal(sc.Bytes(), &b); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		for _, r := range b.Records {
			count[r]++
		}
	}
	var missing, twice int
	for i := 0; i < requests*perRequest; i++ {
		switch n := count[fmt.Sprintf("line-%05d", i)]; {
		case n == 0:
			missing++
		case n > 1:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(count) != requests*perRequest {
		t.Fatalf("after %d kills: %d lines missing, %d more than once, %d distinct (want %d)", kills, missing, twice, len(count), requests*perRequest)
	}
	t.Logf("%d kills, %d retries, %d retries answered as already committed: each of %d lines once", kills, retries.Load(), duplicates.Load(), requests*perRequest)
}
