package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The metrics of a running pipeline say what it did: records per source
// and stage, the keys in state, the batches and the records written, the
// same numbers as the run's output and its summary.
func TestMetricsMatchTheRun(t *testing.T) {
	dir := t.TempDir()
	runningCount(t, dir, "50ms", 1)
	r := startLive(t, dir, "--pipeline", "p.yaml", "--summary", "summary.json")
	waitFor(t, "/ready", func() bool { code, _ := r.get("/ready"); return code == 200 }, r.log)
	if code, body := r.get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}

	r.write("a b c\na b\nd\n")
	const (
		stage  = `{fn="%s",op="%s",stage="%d",stream="output"}`
		source = `wstream_source_records_total{source="input"}`
	)
	keys := "wstream_state_keys" + fmt.Sprintf(stage, "sum-into-state", "updateStateByKey", 4)
	var m map[string]float64
	waitFor(t, "3 records in, 4 keys in state and 3 batches", func() bool {
		m = r.metrics()
		return m[source] == 3 && m[keys] == 4 && m["wstream_batches_total"] >= 3
	}, func() string { return fmt.Sprintf("metrics %v; stderr: %s", m, r.log()) })

	batches := m["wstream_batches_total"]
	want := map[string]float64{
		"wstream_stage_records_in_total" + fmt.Sprintf(stage, "split-words", "flatMap", 1):  3,
		"wstream_stage_records_out_total" + fmt.Sprintf(stage, "split-words", "flatMap", 1): 6,
		"wstream_stage_records_in_total" + fmt.Sprintf(stage, "pair-with-one", "map", 2):    6,
		"wstream_stage_records_out_total" + fmt.Sprintf(stage, "pair-with-one", "map", 2):   6,
		"wstream_stage_records_in_total" + fmt.Sprintf(stage, "sum", "reduceByKey", 3):      6,
		`wstream_guest_items_total{function="split-words",plugin="conformance.wasm"}`:       3,
		`wstream_guest_items_total{function="pair-with-one",plugin="conformance.wasm"}`:     6,
		`wstream_sandbox_events_total{kind="trap",plugin="conformance.wasm"}`:               0,
		"wstream_ready":                                1,
		"wstream_checkpoints_total":                    batches, // checkpointEvery 1
		"wstream_batch_processing_seconds_count":       batches,
		"wstream_batch_scheduling_delay_seconds_count": batches,
		"wstream_dead_letters_total":                   0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if batches < 1 || m[`wstream_guest_calls_total{function="split-words",plugin="conformance.wasm"}`] < 1 ||
		m["wstream_stage_seconds_total"+fmt.Sprintf(stage, "pair-with-one", "map", 2)] <= 0 ||
		m["wstream_stage_guest_seconds_total"+fmt.Sprintf(stage, "pair-with-one", "map", 2)] <= 0 {
		t.Errorf("batches, guest calls and stage times must be counted: %v", m)
	}
	// The sink wrote, by then, exactly what the first `batches` lines of
	// its output hold.
	out := readJSONL(t, filepath.Join(dir, "out.jsonl"))
	if len(out) < int(batches) {
		t.Fatalf("%v batches counted, %d written", batches, len(out))
	}
	written := 0
	for _, b := range out[:int(batches)] {
		written += len(b.Records)
	}
	if got := m[`wstream_sink_records_total{sink="output"}`]; got != float64(written) {
		t.Errorf("sink records %v, the first %v batches of out.jsonl hold %d", got, batches, written)
	}

	var pipe struct {
		Sources []struct{ Name, URI string }
		Stages  []struct {
			ID, Op, Fn string
			Stateful   bool
		}
	}
	r.getJSON("/api/pipeline", &pipe)
	if len(pipe.Sources) != 1 || pipe.Sources[0].URI != "stdin" || len(pipe.Stages) != 4 || pipe.Stages[3].ID != "output/4" || !pipe.Stages[3].Stateful {
		t.Errorf("/api/pipeline: %+v", pipe)
	}
	var recent []struct {
		Time   int64
		Stages []struct{ In, Out int64 }
	}
	r.getJSON("/api/batches?limit=3", &recent)
	if len(recent) != 3 || recent[0].Time <= recent[1].Time || len(recent[0].Stages) != 4 {
		t.Errorf("/api/batches: %+v, want the 3 latest, newest first, with 4 stages each", recent)
	}
	if code, body := r.get(fmt.Sprintf("/api/batches/%d", recent[0].Time)); code != 200 || !strings.Contains(body, `"stages"`) {
		t.Errorf("the batch page: %d %s", code, body)
	}
	if code, _ := r.get("/api/batches/1"); code != 404 {
		t.Errorf("a batch never run: %d, want 404", code)
	}

	r.end()
	var s struct {
		Outcome                        string
		Batches, RecordsIn, RecordsOut int64
		Checkpoints                    int64
		Stages                         []struct{ RecordsIn, RecordsOut, StateKeys int64 }
		Functions                      []struct {
			Function string
			Items    int64
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatalf("summary: %v; stderr: %s", err, r.log())
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	out = readJSONL(t, filepath.Join(dir, "out.jsonl"))
	written = 0
	for _, b := range out {
		written += len(b.Records)
	}
	if s.Outcome != "finished" || s.Batches != int64(len(out)) || s.RecordsIn != 3 || s.RecordsOut != int64(written) || s.Checkpoints < s.Batches ||
		len(s.Stages) != 4 || s.Stages[0].RecordsOut != 6 || s.Stages[3].StateKeys != 4 {
		t.Errorf("summary %s\ndoes not match the output: %d batches, %d records", data, len(out), written)
	}
	if !strings.Contains(r.log(), "run finished in ") || !strings.Contains(r.log(), fmt.Sprintf("%d batches, 3 records in and %d out", s.Batches, written)) {
		t.Errorf("no summary paragraph on stderr: %s", r.log())
	}
}

// A bad address, a summary path that cannot be written or a port already
// taken stop the run before it starts, saying so; nothing is written.
func TestRunRefusesBadHTTPAndSummary(t *testing.T) {
	dir := t.TempDir()
	input := writeFile(t, dir, "in.txt", "a b\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	bad := writeFile(t, dir, "bad.yaml", "http: nowhere\nsource: file:in.txt\n")
	base := []string{"run", "--plugin", wordcountPlugin(t), "--source", "file:" + input, "--sink", "jsonl:" + filepath.Join(dir, "out.jsonl")}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--http", "nowhere"}, 2, `--http: "nowhere" is not an address to listen on: write HOST:PORT, :PORT or PORT`},
		{[]string{"--http", "http://127.0.0.1:4040/"}, 2, "is a URL"},
		{[]string{"--summary", filepath.Join(dir, "no", "such", "s.json")}, 2, "does not exist; create it or give another path"},
		{[]string{"--summary", dir}, 2, "is a folder"},
		{[]string{"--http", ln.Addr().String(), "--summary", filepath.Join(dir, "s.json")}, 1, "address already in use; give another address with --http or http: in the pipeline"},
		{[]string{"--pipeline", bad}, 1, `http: "nowhere" is not an address`},
	} {
		code, _, stderr := wstreamCLI(t, "", append(base, c.args...)...)
		noStackTrace(t, stderr)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr:\n%s\nwant exit %d saying %q", c.args, code, stderr, c.code, c.want)
		}
		if strings.Contains(stderr, "run finished") {
			t.Errorf("%v: a refused start printed a summary: %s", c.args, stderr)
		}
		for _, f := range []string{"out.jsonl", "s.json"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				t.Fatalf("%v: a refused start wrote %s", c.args, f)
			}
		}
	}
}
