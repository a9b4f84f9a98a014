package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// liveRun is a wstream run with its web server, fed on stdin by the test.
type liveRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	stderr strings.Builder
	addr   chan string
	url    string
	done   chan error
}

var uiAddr = regexp.MustCompile(`web UI at http://([^/ ]+)/`)

// startLive starts `wstream run ARGS --http 127.0.0.1:0` in dir and waits
// for the address the server got.
func startLive(t *testing.T, dir string, args ...string) *liveRun {
	t.Helper()
	r := &liveRun{t: t, addr: make(chan string, 1), done: make(chan error, 1)}
	r.cmd = exec.Command(buildBinary(t), append([]string{"run", "--http", "127.0.0.1:0"}, args...)...)
	r.cmd.Dir = dir
	var err error
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	errPipe, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			if m := uiAddr.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case r.addr <- m[1]:
				default:
				}
			}
		}
		r.done <- r.cmd.Wait()
	}()
	select {
	case a := <-r.addr:
		r.url = "http://" + a
	case err := <-r.done:
		t.Fatalf("wstream ended before serving (%v): %s", err, r.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("no web UI address logged within 60s: %s", r.log())
	}
	return r
}

func (r *liveRun) log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

func (r *liveRun) write(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, s); err != nil {
		r.t.Fatalf("writing to wstream: %v; stderr: %s", err, r.log())
	}
}

// end closes stdin and waits for the run to end with exit 0.
func (r *liveRun) end() {
	r.t.Helper()
	r.stdin.Close()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Fatalf("wstream: %v; stderr: %s", err, r.log())
		}
	case <-time.After(60 * time.Second):
		r.t.Fatalf("wstream did not end within 60s of its input: %s", r.log())
	}
}

// get fetches a path of the run's server: status and body.
func (r *liveRun) get(path string) (int, string) {
	r.t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		r.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getJSON decodes a JSON answer into v.
func (r *liveRun) getJSON(path string, v any) {
	r.t.Helper()
	code, body := r.get(path)
	if code != 200 {
		r.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		r.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// metrics scrapes /metrics into a map from `name{labels}` (labels in the
// order Prometheus writes them, sorted) to value.
func (r *liveRun) metrics() map[string]float64 {
	r.t.Helper()
	code, body := r.get("/metrics")
	if code != 200 {
		r.t.Fatalf("/metrics: %d %s", code, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			r.t.Fatalf("/metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitFor polls cond until it holds, failing after a minute with what
// it waited for: the test waits on what the run did, never on a clock.
func waitFor(t *testing.T, what string, cond func() bool, context func() string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s; %s", what, context())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonlBatch is one line of a jsonl: sink.
type jsonlBatch struct {
	Time    int64             `json:"time"`
	Records []json.RawMessage `json:"records"`
}

func readJSONL(t *testing.T, path string) []jsonlBatch {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []jsonlBatch
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var b jsonlBatch
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			return out // a line being written
		}
		out = append(out, b)
	}
	return out
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runningCount writes dir/p.yaml: the seeds' running word count over
// stdin into jsonl:out.jsonl, checkpointed every `every` batches.
func runningCount(t *testing.T, dir, batch string, every int) {
	t.Helper()
	writeFile(t, dir, "p.yaml", fmt.Sprintf(`plugin: %s
batch: %s
checkpoint: ckpt
checkpointEvery: %d
stages:
  - {op: flatMap, fn: split-words}
  - {op: map, fn: pair-with-one}
  - {op: reduceByKey, fn: sum}
  - {op: updateStateByKey, fn: sum-into-state}
sink: jsonl:out.jsonl
`, conformancePlugin(t), batch, every))
}
