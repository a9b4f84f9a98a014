package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators"
)

// fixture is a monitor watching a graph of built-ins that the test runs
// batch by batch, telling the observer what the scheduler would.
type fixture struct {
	t   *testing.T
	m   *Monitor
	g   *operators.Graph
	obs host.Observer
	srv *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	spec, err := pipeline.Parse([]byte("batch: 100ms\nsource: file:in.txt\nsink: jsonl:out.jsonl\nstages: [{op: reduceByKey, fn: sum}, {op: countByValueAndWindow, window: 300ms}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec.ApplyDefaults()
	g, err := operators.Build(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := New(Config{Web: true, Version: "test"})
	m.Describe(spec, g)
	f := &fixture{t: t, m: m, g: g, obs: m.Watch(Whole, g, 0)}
	f.srv = httptest.NewServer(m.Handler(nil))
	t.Cleanup(func() { f.srv.Close(); m.Close() })
	return f
}

// batch runs the graph on pairs [k, 1] and reports it.
func (f *fixture) batch(t int64, keys ...string) {
	var in []abi.Raw
	for _, k := range keys {
		in = append(in, abi.AppendPair(nil, abi.AppendString(nil, k), abi.AppendInt(nil, 1)))
	}
	out, emit, err := f.g.Process(context.Background(), t, map[string][]abi.Raw{"input": in})
	if err != nil {
		f.t.Fatal(err)
	}
	b := &host.BatchStats{Time: t, Start: time.UnixMilli(t), Processing: 3 * time.Millisecond, SchedulingDelay: time.Millisecond,
		Sources: []host.SourceRecords{{Name: "input", Records: len(in)}}, Emitted: emit}
	if emit {
		b.Out = len(out.Records)
	}
	f.obs.Batch(b)
}

func (f *fixture) get(path string) (int, string) {
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMonitorCountsWhatTheGraphDid(t *testing.T) {
	f := newFixture(t)
	if code, body := f.get("/ready"); code != 503 || !strings.Contains(body, "starting") {
		t.Errorf("/ready before the run started: %d %q", code, body)
	}
	f.obs.Started(host.RunInfo{Interval: 100 * time.Millisecond})
	if code, _ := f.get("/ready"); code != 200 {
		t.Errorf("/ready once started: %d", code)
	}
	f.batch(100, "a", "b", "a")
	f.batch(200, "c")
	f.batch(300)

	_, metrics := f.get("/metrics")
	for _, want := range []string{
		`wstream_source_records_total{source="input"} 4`,
		`wstream_batches_total 3`,
		`wstream_batches_late_total 0`,
		`wstream_stage_records_in_total{fn="sum",op="reduceByKey",stage="1",stream="output"} 4`,
		`wstream_stage_records_out_total{fn="sum",op="reduceByKey",stage="1",stream="output"} 3`,
		`wstream_stage_records_in_total{fn="",op="countByValueAndWindow",stage="2",stream="output"} 3`,
		`wstream_state_keys{fn="",op="countByValueAndWindow",stage="2",stream="output"} 2`, // sampled at the first batch
		`wstream_batch_processing_seconds_count 3`,
		`wstream_build_info{version="test"} 1`,
		`wstream_ready 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	var st struct {
		Batches, In int64
		StageTotals []struct{ In, Out int64 }
	}
	_, body := f.get("/api/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Batches != 3 || st.In != 4 || len(st.StageTotals) != 2 || st.StageTotals[0].Out != 3 {
		t.Errorf("/api/status: %v %s", err, body)
	}
	if code, body := f.get("/api/batches/200"); code != 200 || !strings.Contains(body, `"in":1`) {
		t.Errorf("/api/batches/200: %d %s", code, body)
	}

	f.m.Finish(nil, false)
	s := f.m.Summary()
	if s.Outcome != "finished" || s.Batches != 3 || s.RecordsIn != 4 || s.Stages[0].RecordsOut != 3 {
		t.Errorf("summary %+v", s)
	}
	if code, _ := f.get("/ready"); code != 503 {
		t.Errorf("/ready after the run: %d", code)
	}
}

// The live stream sends one message a second, however many batches ran
// in it: ten-millisecond batches stay usable.
func TestLiveSendsOneMessageASecond(t *testing.T) {
	f := newFixture(t)
	f.obs.Started(host.RunInfo{Interval: 100 * time.Millisecond})
	resp, err := http.Get(f.srv.URL + "/api/live")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msgs := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				msgs <- d
			}
		}
	}()
	// Wait until the stream is subscribed, then run 300 batches at once.
	for {
		f.m.mu.Lock()
		n := len(f.m.web.subs)
		f.m.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for k := int64(1); k <= 300; k++ {
		f.batch(k*10, "a")
	}
	var tick struct {
		Second struct {
			Batches int
			In      []int64
		}
		Batches []struct{ Time int64 }
	}
	total := 0
	for total < 300 {
		select {
		case m := <-msgs:
			if err := json.Unmarshal([]byte(m), &tick); err != nil {
				t.Fatal(err)
			}
			total += tick.Second.Batches
			if len(tick.Batches) > tickBatches {
				t.Errorf("a message carries %d batches, at most %d", len(tick.Batches), tickBatches)
			}
		case <-time.After(time.Minute):
			t.Fatalf("the live stream sent %d batches' worth in a minute, want 300", total)
		}
	}
	if total != 300 {
		t.Errorf("the seconds add up to %d batches, want 300", total)
	}
}

// A reload request from another site's page is refused: a browser sends a
// cross-site POST without asking.
func TestReloadRefusesOtherOrigins(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/reload", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin reload: %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", f.srv.URL+"/api/reload", nil)
	req.Header.Set("Origin", f.srv.URL)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("same-origin reload without a reloader: %d, want 501", resp.StatusCode)
	}
}

func TestSummaryParagraph(t *testing.T) {
	for _, c := range []struct {
		s    Summary
		want string
	}{
		{Summary{Outcome: "finished", Seconds: 12.345, Batches: 1, RecordsIn: 10, Sources: map[string]int64{"input": 10}, RecordsOut: 4, GuestSeconds: 0.5, HostSeconds: 0.25, PeakRSSBytes: 50 << 20},
			"run finished in 12.35s: 1 batch, 10 records in and 4 out, 0 dead letters, 0 late rows; 500ms inside guest calls (summed over instances running in parallel) and 250ms in the host; peak memory 50 MiB."},
		{Summary{Outcome: "failed", Seconds: 90, Batches: 7, LateBatches: 2, RecordsIn: 3, Sources: map[string]int64{"a": 1, "b": 2}, DeadLetters: 1, LateRows: 5, Checkpoints: 7,
			Sandbox: []SandboxSummary{{Plugin: "p.wasm", Events: map[string]int64{"timeout": 1}}}, Reloads: []Event{{Kind: EventReload}, {Kind: EventReloadRefused}}},
			"run failed after 1m30s: 7 batches, 3 records in (a 1, b 2) and 0 out, 1 dead letter, 5 late rows, 2 batches late, 7 checkpoints; 0s inside guest calls (summed over instances running in parallel) and 0s in the host; sandbox: 1 timeout p.wasm; 2 plugin reloads (1 refused)."},
	} {
		if got := c.s.Paragraph(); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}
