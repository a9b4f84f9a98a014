package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/examples/fraud"
	"github.com/wstream/wstream/examples/iot"
	lambdakappa "github.com/wstream/wstream/examples/lambda-kappa"
	"github.com/wstream/wstream/examples/logs"
	training "github.com/wstream/wstream/examples/online-training"
	"github.com/wstream/wstream/host/postgres/pgtest"
)

// TestEventTimeExamples runs the README's event-time examples
// (examples/iot, examples/sessions) with no plugin, and checks that each
// output is the one committed beside it and shown in the README.
func TestEventTimeExamples(t *testing.T) {
	bin := buildBinary(t)
	readme, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, outputs := range map[string][]string{"iot": {"averages", "late"}, "sessions": {"sessions"}} {
		src := filepath.Join(repoRoot(), "examples", name)
		dir := t.TempDir()
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(src, e.Name())); err == nil && !strings.Contains(e.Name(), ".expected.") {
				os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
			}
		}
		cmd := exec.Command(bin, "run", "--pipeline", name+".yaml")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		for _, o := range outputs {
			got, _ := os.ReadFile(filepath.Join(dir, o+".jsonl"))
			want, _ := os.ReadFile(filepath.Join(src, o+".expected.jsonl"))
			if string(got) != string(want) || len(want) == 0 {
				t.Errorf("%s: %s.jsonl:\n%s\nwant (%s.expected.jsonl):\n%s", name, o, got, o, want)
			}
			if !strings.Contains(string(readme), string(want)) {
				t.Errorf("README.md does not show examples/%s/%s.expected.jsonl as it is", name, o)
			}
		}
	}
}

// TestKeyedStateExamples runs the README's mapWithState and join examples
// (plugins/events) and checks their output against the files the README
// shows.
func TestKeyedStateExamples(t *testing.T) {
	bin := buildBinary(t)
	ensurePlugins(t)
	for _, name := range []string{"fraud", "ads"} {
		out := filepath.Join(t.TempDir(), name+".jsonl")
		cmd := exec.Command(bin, "run", "--pipeline", "plugins/events/"+name+".yaml", "--sink", "jsonl:"+out)
		cmd.Dir = repoRoot()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		got, _ := os.ReadFile(out)
		want, err := os.ReadFile(filepath.Join(repoRoot(), "plugins/events", name+".out.jsonl"))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: output\n%s\nwant (plugins/events/%s.out.jsonl)\n%s", name, got, name, want)
		}
	}
}

// fraudData writes the fraud example's pipelines and a small generated
// data set (three frauds of each pattern) into a new folder, and returns
// it with the frauds injected.
func fraudData(t *testing.T) (string, []fraud.Alert) {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"cards.yaml", "bursts.yaml"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(), "examples/fraud", p))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, p), b, 0o644)
	}
	cfg := fraud.Config{Seed: 7, Cards: 300, Minutes: 120, Frauds: 3}
	txs, injected, err := fraud.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := fraud.WriteBatches(&buf, txs, cfg.Minutes); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "transactions.jsonl"), buf.Bytes(), 0o644)
	return dir, injected
}

// runExample runs `wstream run --pipeline FILE` in dir with the events
// plugin.
func runExample(t *testing.T, dir, pipeline string) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), "run", "--pipeline", pipeline, "--plugin", filepath.Join(repoRoot(), "plugins/events/events.wasm"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", pipeline, err, out)
	}
}

// TestFraudExample runs examples/fraud's two pipelines on generated card
// transactions and checks that the alerts are exactly the injected frauds.
func TestFraudExample(t *testing.T) {
	ensurePlugins(t)
	dir, injected := fraudData(t)
	var alerts []fraud.Alert
	for _, p := range []string{"cards", "bursts"} {
		runExample(t, dir, p+".yaml")
		a, err := fraud.ReadAlerts(filepath.Join(dir, "alerts-"+p+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		alerts = append(alerts, a...)
	}
	if len(injected) != 9 {
		t.Fatalf("%d frauds injected, want 9", len(injected))
	}
	missed, wrong := fraud.Compare(alerts, injected)
	if len(missed)+len(wrong) > 0 {
		t.Errorf("missed %v\nfalse alerts %v", missed, wrong)
	}
}

// TestFraudAlertsToPostgres writes examples/fraud's per-card alerts to a
// jsonl: file and a PostgreSQL table at once, as its README shows, and
// checks the table holds the file's alerts.
func TestFraudAlertsToPostgres(t *testing.T) {
	db := pgtest.DB(t)
	ensurePlugins(t)
	dir, _ := fraudData(t)
	path := filepath.Join(dir, "cards.yaml")
	yaml, _ := os.ReadFile(path)
	const sink = "sink: jsonl:alerts-cards.jsonl"
	if !strings.Contains(string(yaml), sink) {
		t.Fatalf("cards.yaml has no line %q", sink)
	}
	both := fmt.Sprintf("sinks: [jsonl:alerts-cards.jsonl, %q]", db+"?table=fraud_alerts&create=true")
	os.WriteFile(path, []byte(strings.Replace(string(yaml), sink, both, 1)), 0o644)
	runExample(t, dir, "cards.yaml")
	alerts, err := fraud.ReadAlerts(filepath.Join(dir, "alerts-cards.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, a := range alerts {
		want = append(want, fmt.Sprintf("%s | %s | %d | %s", a.Card, a.Pattern, a.Time, a.Detail))
	}
	got := pgtest.Rows(t, db, "SELECT card, pattern, time, detail FROM fraud_alerts ORDER BY time, card, pattern")
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("fraud_alerts:\n%s\nwant (alerts-cards.jsonl):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLogsExample runs examples/logs on a generated access log with an
// outage of /api/checkout and checks the alerts name only that endpoint,
// only windows that overlap the outage, the first within a window length
// of its start; that each malformed line is a dead letter; and that each
// window's top endpoints are the largest of its per-status counts.
func TestLogsExample(t *testing.T) {
	ensurePlugins(t)
	dir := t.TempDir()
	yaml, err := os.ReadFile(filepath.Join(repoRoot(), "examples/logs/logs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "logs.yaml"), yaml, 0o644)
	cfg := logs.Config{Seed: 3, Minutes: 10, Rate: 5, OutageEndpoint: "/api/checkout", OutageStart: 4 * time.Minute, OutageLength: 2 * time.Minute}
	var buf bytes.Buffer
	if _, err := logs.Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "access.log"), buf.Bytes(), 0o644)
	cmd := exec.Command(buildBinary(t), "run", "--pipeline", "logs.yaml", "--plugin", filepath.Join(repoRoot(), "plugins/accesslog/accesslog.wasm"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	outage := [2]int64{logs.Start.Add(cfg.OutageStart).UnixMilli(), logs.Start.Add(cfg.OutageStart + cfg.OutageLength).UnixMilli()}
	var alerts []struct {
		Endpoint string
		Window   [2]int64
	}
	sinkRecords(t, filepath.Join(dir, "alerts.jsonl"), &alerts)
	if len(alerts) == 0 || alerts[0].Window[1] > outage[0]+time.Minute.Milliseconds() {
		t.Errorf("no alert within a minute of the outage's start %d: %v", outage[0], alerts)
	}
	for _, a := range alerts {
		if a.Endpoint != cfg.OutageEndpoint || a.Window[1] <= outage[0] || a.Window[0] >= outage[1] {
			t.Errorf("alert %v outside the outage %v of %s", a, outage, cfg.OutageEndpoint)
		}
	}

	var dead []any
	sinkRecords(t, filepath.Join(dir, "malformed.jsonl"), &dead)
	malformed := 0
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.HasSuffix(l, `"`) {
			malformed++
		}
	}
	if malformed == 0 || len(dead) != malformed {
		t.Errorf("%d dead letters, want the %d malformed lines", len(dead), malformed)
	}

	var rates [][2]any // [[[start, end], [endpoint, status]], n]
	sinkRecords(t, filepath.Join(dir, "rates.jsonl"), &rates)
	counts := map[string]map[string]int{}
	for _, r := range rates {
		wk := r[0].([]any)
		w := fmt.Sprint(wk[0])
		if counts[w] == nil {
			counts[w] = map[string]int{}
		}
		counts[w][wk[1].([]any)[0].(string)] += int(r[1].(float64))
	}
	var tops [][2]any // [[start, end], [[endpoint, n], ...]]
	sinkRecords(t, filepath.Join(dir, "top.jsonl"), &tops)
	if len(tops) == 0 || len(tops) != len(counts) {
		t.Fatalf("%d windows in top.jsonl, %d in rates.jsonl", len(tops), len(counts))
	}
	for _, top := range tops {
		byCount := counts[fmt.Sprint(top[0])]
		var want []string
		for ep := range byCount {
			want = append(want, ep)
		}
		slices.SortFunc(want, func(a, b string) int {
			if byCount[a] != byCount[b] {
				return byCount[b] - byCount[a]
			}
			return strings.Compare(a, b)
		})
		var got []string
		for _, e := range top[1].([]any) {
			p := e.([]any)
			got = append(got, fmt.Sprintf("%s=%v", p[0], p[1]))
		}
		for i := range want[:3] {
			want[i] = fmt.Sprintf("%s=%d", want[i], byCount[want[i]])
		}
		if !slices.Equal(got, want[:3]) {
			t.Errorf("window %v: top %v, want %v", top[0], got, want[:3])
		}
	}
}

// sinkRecords appends the records of a jsonl: sink's output to *into.
func sinkRecords[T any](t *testing.T, path string, into *[]T) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" {
			continue
		}
		var line struct{ Records []T }
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		*into = append(*into, line.Records...)
	}
}

// TestTrainingExample runs examples/online-training's two pipelines on generated
// data with a drift at batch 8 and checks, from their per-batch output,
// that the test-then-train error of the drifting models jumps at the
// drift and is back to its level within three batches while the steady
// model's never moves, and that every query is answered with the model
// trained up to the batch before.
func TestTrainingExample(t *testing.T) {
	ensurePlugins(t)
	dir := t.TempDir()
	cfg := training.Config{Seed: 5, Batches: 16, PerBatch: 60, DriftAt: 8}
	for name, data := range map[string][][]training.Sample{"samples.jsonl": training.Regression(cfg), "points.jsonl": training.Clustering(cfg)} {
		var buf bytes.Buffer
		if err := training.WriteBatches(&buf, data); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
	}
	steps := map[string][]training.Step{}
	for _, p := range []string{"linear", "kmeans"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(), "examples/online-training", p+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, p+".yaml"), b, 0o644)
		cmd := exec.Command(buildBinary(t), "run", "--pipeline", p+".yaml", "--plugin", filepath.Join(repoRoot(), "plugins/training/training.wasm"))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", p, err, out)
		}
		s, err := training.ReadSteps(filepath.Join(dir, p+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(steps, s)
	}

	// The error over the four batches before the drift is the level; the
	// drift batch, scored with the old model, must be far above it, and
	// from three batches on it must be back.
	for model, jump := range map[string]float64{"steady": 0, "drifting": 20, "clusters": 3} {
		s := steps[model]
		if len(s) != cfg.Batches {
			t.Fatalf("%s: %d batches of output, want %d", model, len(s), cfg.Batches)
		}
		level := 0.0
		for _, st := range s[cfg.DriftAt-4 : cfg.DriftAt] {
			level = max(level, st.Error())
		}
		at := s[cfg.DriftAt].Error()
		if jump > 0 && at < jump*level || jump == 0 && at > 2*level {
			t.Errorf("%s: error %.4g at the drift, %.4g before it", model, at, level)
		}
		for b, st := range s[cfg.DriftAt+3:] {
			if st.Error() > 2*level {
				t.Errorf("%s: error %.4g at batch %d, %.4g before the drift", model, st.Error(), cfg.DriftAt+3+b, level)
			}
		}
	}

	// Batch b's query is answered by the model after batch b-1 (none for
	// batch 0), as withLatest gives it to predict.
	for _, c := range []struct{ sink, model, name string }{
		{"linear", "steady", "steady"}, {"linear", "drifting", "drifting"}, {"kmeans", "clusters", "moved"},
	} {
		preds, err := training.ReadPredictions(filepath.Join(dir, c.sink+"-predictions.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for b := range cfg.Batches {
			id := training.QueryID(c.name, b)
			p, ok := preds[id]
			if !ok || p.Model != c.model {
				t.Fatalf("%s: no prediction by model %s in %v", id, c.model, preds)
			}
			if b == 0 {
				if p.Prediction != nil {
					t.Errorf("%s: predicted %v before any model", id, *p.Prediction)
				}
				continue
			}
			if p.Prediction == nil {
				t.Errorf("%s: no prediction, the model of batch %d was out", id, b-1)
				continue
			}
			got, prev := *p.Prediction, steps[c.model][b-1]
			if c.model == "clusters" {
				near := 0
				for i, ctr := range prev.Centers {
					if sq(ctr, training.Moved) < sq(prev.Centers[near], training.Moved) {
						near = i
					}
				}
				if got != float64(near) {
					t.Errorf("%s: %v assigned to cluster %v, nearest the centres of the batch before: %d", id, training.Moved, got, near)
				}
				continue
			}
			want := 0.0
			for i, w := range prev.Weights {
				want += w * training.Probe[i]
			}
			if math.Abs(got-want) > 1e-9 {
				t.Errorf("%s: predicted %v, the model of the batch before gives %v", id, got, want)
			}
		}
		// The prediction changes the batch after the model does: at the
		// drift batch it is still the old truth, 2 at (1,1,1), from the
		// batch after nearer the new one, 1.
		if c.model == "drifting" {
			pred := func(b int) float64 { return *preds[training.QueryID(c.name, b)].Prediction }
			at, next, last := pred(cfg.DriftAt), pred(cfg.DriftAt+1), pred(cfg.Batches-1)
			if math.Abs(at-2) > 0.05 || math.Abs(next-1) > math.Abs(next-2) || math.Abs(last-1) > 0.05 {
				t.Errorf("at (1,1,1) the drifting model predicts %v at the drift (old truth 2), %v the batch after and %v at the end (new truth 1)", at, next, last)
			}
		}
	}
}

func sq(a, b []float64) float64 {
	return (a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1])
}

// TestLambdaKappaExample answers examples/lambda-kappa's question, views
// per page, both ways on a generated log with retried deliveries: Lambda
// (views.yaml as the batch layer over the archive file and as the speed
// layer over the recent stream, merged) and Kappa (views-v1.yaml following
// the log as it grows, then views.yaml replaying it from the start with a
// new checkpoint), and checks each view against the answer computed from
// the log.
func TestLambdaKappaExample(t *testing.T) {
	bin := buildBinary(t)
	src := filepath.Join(repoRoot(), "examples/lambda-kappa")
	dir := t.TempDir()
	for _, p := range []string{"views.yaml", "views-v1.yaml"} {
		b, err := os.ReadFile(filepath.Join(src, p))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, p), b, 0o644)
	}
	cfg := lambdakappa.Config{Seed: 5, Minutes: 30, Archived: 20, Rate: 60, Retries: 0.05}
	log, err := lambdakappa.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cut := slices.IndexFunc(log, func(v lambdakappa.View) bool { return lambdakappa.Minute(v) >= cfg.Archived })
	write := func(name string, appendTo bool, fill func(f *os.File) error) {
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if appendTo {
			flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(filepath.Join(dir, name), flags, 0o644)
		if err == nil {
			err = fill(f)
			f.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		cmd := exec.Command(bin, append([]string{"run"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("wstream run %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	view := func(name string) lambdakappa.Counts {
		c, err := lambdakappa.ReadView(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	check := func(what string, got, want lambdakappa.Counts) {
		if d := lambdakappa.Diff(got, want); len(d) > 0 || len(want) == 0 {
			t.Errorf("%s: %v", what, d)
		}
	}
	truth, everyDelivery := lambdakappa.Truth(log, true), lambdakappa.Truth(log, false)
	if slices.Equal(lambdakappa.Diff(truth, everyDelivery), nil) {
		t.Fatal("the log has no retried delivery: the two versions would agree")
	}

	// Lambda: the batch layer over the archive, the speed layer over the rest.
	write("archive.jsonl", false, func(f *os.File) error { return lambdakappa.WriteLines(f, log[:cut]) })
	write("recent.jsonl", false, func(f *os.File) error { return lambdakappa.WriteBatches(f, log, cfg.Archived, cfg.Minutes) })
	run("--pipeline", "views.yaml", "--source", "file:archive.jsonl?format=json", "--clock", "system", "--sink", "jsonl:batch-view.jsonl")
	run("--pipeline", "views.yaml")
	check("batch view", view("batch-view.jsonl"), lambdakappa.Truth(log[:cut], true))
	check("lambda: batch view + speed view", lambdakappa.Merge(view("batch-view.jsonl"), view("speed-view.jsonl")), truth)

	// Kappa: the first version follows the log, stopped and resumed from
	// its checkpoint as the log grows; the fix replays it from the start.
	write("log.jsonl", false, func(f *os.File) error { return lambdakappa.WriteBatches(f, log, 0, cfg.Archived) })
	run("--pipeline", "views-v1.yaml", "--checkpoint", "ckpt-v1")
	check("kappa v1 over the archived minutes", view("kappa-v1.jsonl"), lambdakappa.Truth(log[:cut], false))
	write("log.jsonl", true, func(f *os.File) error { return lambdakappa.WriteBatches(f, log, cfg.Archived, cfg.Minutes) })
	run("--pipeline", "views-v1.yaml", "--checkpoint", "ckpt-v1")
	check("kappa v1, resumed", view("kappa-v1.jsonl"), everyDelivery)
	run("--pipeline", "views.yaml", "--source", "batches:log.jsonl", "--checkpoint", "ckpt-v2", "--sink", "jsonl:kappa-v2.jsonl")
	check("kappa v2, replayed", view("kappa-v2.jsonl"), truth)

	// Kappa over Kafka: the log published to a topic, each version a
	// consumer group of its own that reads it from the earliest offset.
	b, err := os.ReadFile(filepath.Join(src, "publish.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "publish.yaml"), b, 0o644)
	topic := "kafka://" + startKfake(t) + "/views"
	run("--pipeline", "publish.yaml", "--sink", topic)
	for _, v := range []struct{ pipeline, group string }{{"views-v1.yaml", "v1"}, {"views.yaml", "v2"}} {
		run("--pipeline", v.pipeline, "--source", topic+"?group="+v.group+"&until=end&format=json", "--sink", "jsonl:kafka-"+v.group+".jsonl")
	}
	check("kappa v1 over Kafka", view("kafka-v1.jsonl"), everyDelivery)
	check("kappa v2 over Kafka", view("kafka-v2.jsonl"), truth)
}

// startKfake runs cmd/kfake on loopback with one partition a topic, for
// the rest of the test, and returns its address.
func startKfake(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kfake")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kfake")
	build.Dir = repoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/kfake: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-port", "0", "-partitions", "1")
	stdout, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "kfake listening on ")
	if !ok {
		t.Fatalf("kfake said %q", line)
	}
	return addr
}

// TestIoTDriftExample runs examples/iot on generated readings with
// a drift injected on some sensors, and checks that exactly those sensors
// alert, each once, in the drift's direction and within 3 minutes of its
// start, and that no other sensor does.
func TestIoTDriftExample(t *testing.T) {
	ensurePlugins(t)
	dir := t.TempDir()
	yaml, err := os.ReadFile(filepath.Join(repoRoot(), "examples/iot/drift.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "drift.yaml"), yaml, 0o644)
	cfg := iot.Config{Seed: 9, Sensors: 30, Drifted: 5, Minutes: 60, Every: 10_000, Shift: 3, Noise: 0.5}
	readings, drifts, err := iot.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := iot.WriteBatches(&buf, readings, cfg.Minutes); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "drift-readings.jsonl"), buf.Bytes(), 0o644)
	cmd := exec.Command(buildBinary(t), "run", "--pipeline", "drift.yaml", "--plugin", filepath.Join(repoRoot(), "plugins/drift/drift.wasm"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	alerts, err := iot.ReadAlerts(filepath.Join(dir, "drift-alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(drifts) != cfg.Drifted {
		t.Fatalf("%d drifts injected, want %d", len(drifts), cfg.Drifted)
	}
	for _, p := range iot.Check(alerts, drifts, 3*time.Minute.Milliseconds()) {
		t.Error(p)
	}
}
