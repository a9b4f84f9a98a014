package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wstream/wstream/examples/fraud"
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
