package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wstream/wstream/host/postgres/pgtest"
)

// TestKillPostgresSinks runs a running word count into a PostgreSQL upsert
// table and every input line into an append table (one pipeline, two
// sinks), under the system clock with batches cut by a rate limit, and
// kills the binary with SIGKILL at random points until the input is
// drained. Batches after a restart are cut differently from the ones
// before, so skipping replayed batch times would not be enough: the tables
// must still equal an uninterrupted run's, with no line missing or twice.
func TestKillPostgresSinks(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: skipped in -short mode")
	}
	db := pgtest.DB(t)
	bin := buildBinary(t)
	plugin := conformancePlugin(t)
	dir := t.TempDir()

	rng := rand.New(rand.NewSource(7))
	words := strings.Fields("to be or not that is the question whether tis nobler in mind suffer slings arrows outrageous fortune")
	var in bytes.Buffer
	for i := 0; i < 2400; i++ {
		n := 1 + rng.Intn(5)
		var line []string
		for j := 0; j < n; j++ {
			line = append(line, words[rng.Intn(len(words))])
		}
		in.WriteString(strings.Join(line, " ") + "\n")
	}
	input := filepath.Join(dir, "lines.txt")
	os.WriteFile(input, in.Bytes(), 0o644)

	pipeline := func(name string) string {
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`plugin: %s
batch: 100ms
maxRate: 2000
checkpoint: %s
source: file:%s
streams:
  - {name: lines, from: input, stages: [{op: map, fn: identity}], sink: "%s?table=%s_lines&create=true"}
  - {name: counts, from: lines, stages: [{op: flatMap, fn: split-words}, {op: map, fn: pair-with-one}, {op: updateStateByKey, fn: sum-into-state}]}
sink: "%s?table=%s_counts&mode=upsert&create=true"
`, plugin, filepath.Join(dir, name+"-ckpt"), input, db, name, db, name)), 0o644)
		return p
	}

	start := time.Now()
	if b, err := exec.Command(bin, "run", "--pipeline", pipeline("ref")).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, b)
	}
	span := time.Since(start)
	t.Logf("uninterrupted run: %v", span)

	kills := killUntilDone(t, bin, pipeline("crash"), span, rng)

	counts := func(name string) []string {
		return sortedRows(t, db, "SELECT key, value FROM "+name+"_counts")
	}
	lines := func(name string) []string {
		return sortedRows(t, db, "SELECT l, count(*) FROM (SELECT value #>> '{}' AS l FROM "+name+"_lines) s GROUP BY l")
	}
	// What the input says, independently of either run.
	wantLines := map[string]int{}
	wantCounts := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(in.String()), "\n") {
		wantLines[l]++
		for _, w := range strings.Split(l, " ") {
			wantCounts[w]++
		}
	}
	var wl, wc []string
	for l, n := range wantLines {
		wl = append(wl, fmt.Sprintf("%s | %d", l, n))
	}
	for w, n := range wantCounts {
		wc = append(wc, fmt.Sprintf("%s | %d", w, n))
	}
	sort.Strings(wl)
	sort.Strings(wc)
	for _, c := range []struct {
		what      string
		ref, got  []string
		fromInput []string
	}{
		{"the upsert table of running counts", counts("ref"), counts("crash"), wc},
		{"the append table of lines (each line with how often it is there)", lines("ref"), lines("crash"), wl},
	} {
		if strings.Join(c.ref, "\n") != strings.Join(c.fromInput, "\n") {
			t.Errorf("uninterrupted run: %s differs from the input", c.what)
		}
		if strings.Join(c.got, "\n") != strings.Join(c.ref, "\n") {
			t.Errorf("after %d kills %s differs from an uninterrupted run's:\n%s", kills, c.what, diffLines(c.ref, c.got))
		}
	}
	if kills < 3 {
		t.Logf("only %d kills landed before the run finished", kills)
	}
	t.Logf("%d kills; %d distinct lines, %d words: tables identical", kills, len(wl), len(wc))
}

// sortedRows is a query's rows, sorted.
func sortedRows(t *testing.T, db, sql string) []string {
	rows := pgtest.Rows(t, db, sql)
	sort.Strings(rows)
	return rows
}

// diffLines shows the first lines where two listings differ.
func diffLines(want, got []string) string {
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(want), len(got)) && shown < 10; i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "  row %d: got %q, want %q\n", i, g, w)
			shown++
		}
	}
	return b.String()
}
