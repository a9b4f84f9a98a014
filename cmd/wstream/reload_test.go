package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	reloadOnce   sync.Once
	reloadBuilds map[string]string
	reloadErr    string
)

// reloadPlugins builds testdata/reload in its versions once per test run:
// add adding 1, 2 or 3, and one without add.
func reloadPlugins(t *testing.T) map[string]string {
	t.Helper()
	reloadOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wstream-reload-")
		if err != nil {
			reloadErr = err.Error()
			return
		}
		reloadBuilds = map[string]string{}
		for name, flags := range map[string]string{"step1": "-X main.step=1", "step2": "-X main.step=2", "step3": "-X main.step=3", "missing": "-X main.variant=missing"} {
			out := filepath.Join(dir, name+".wasm")
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-ldflags", flags, "-o", out, "./testdata/reload")
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				reloadErr = fmt.Sprintf("building %s: %v\n%s", name, err, b)
				return
			}
			reloadBuilds[name] = out
		}
	})
	if reloadErr != "" {
		t.Fatal(reloadErr)
	}
	return reloadBuilds
}

// install puts a module at path the way a build tool should: written
// beside it, then renamed over it.
func install(t *testing.T, path string, wasm []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A plugin changed mid-run switches at one batch boundary with its state
// intact: every line before the switch adds 1, every line after adds 2,
// and the running total carries on. A broken module, or one that lacks a
// function the pipeline uses, is refused and the old one keeps running;
// with --watch a changed file reloads by itself.
func TestHotReloadKeepsState(t *testing.T) {
	builds := reloadPlugins(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "reload.wasm")
	install(t, plugin, mustRead(t, builds["step1"]))
	writeFile(t, dir, "p.yaml", fmt.Sprintf(`plugin: reload.wasm
batch: 20ms
stages:
  - {op: map, fn: add}
  - {op: updateStateByKey, fn: sum-into-state, plugin: %s}
sink: jsonl:out.jsonl
`, conformancePlugin(t)))
	r := startLive(t, dir, "--pipeline", "p.yaml", "--watch")

	// value is v of a [k, v] record.
	value := func(rec json.RawMessage) int64 {
		var kv []json.RawMessage
		var v int64
		if json.Unmarshal(rec, &kv) != nil || len(kv) != 2 || json.Unmarshal(kv[1], &v) != nil {
			t.Fatalf("record %s is not [key, number]", rec)
		}
		return v
	}
	// totals lists the running total after each batch, without the
	// repeats of batches that had no input.
	totals := func() []int64 {
		var out []int64
		for _, b := range readJSONL(t, filepath.Join(dir, "out.jsonl")) {
			for _, rec := range b.Records {
				if v := value(rec); len(out) == 0 || out[len(out)-1] != v {
					out = append(out, v)
				}
			}
		}
		return out
	}
	// batchOf is the time of the batch that first showed total.
	batchOf := func(total int64) int64 {
		for _, b := range readJSONL(t, filepath.Join(dir, "out.jsonl")) {
			for _, rec := range b.Records {
				if value(rec) == total {
					return b.Time
				}
			}
		}
		return -1
	}
	feed := func(total int64) {
		t.Helper()
		r.write("10\n")
		waitFor(t, fmt.Sprintf("the total to reach %d", total), func() bool {
			ts := totals()
			return len(ts) > 0 && ts[len(ts)-1] == total
		}, func() string { return fmt.Sprintf("totals %v; stderr: %s", totals(), r.log()) })
	}
	reload := func(wantStatus int) []struct {
		Plugin, Result, Reason string
		Batch                  int64
	} {
		t.Helper()
		resp, err := http.Post(r.url+"/api/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res []struct {
			Plugin, Result, Reason string
			Batch                  int64
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != wantStatus {
			t.Fatalf("POST /api/reload: %d %v %+v, want status %d; stderr: %s", resp.StatusCode, err, res, wantStatus, r.log())
		}
		return res
	}

	feed(11)
	feed(22)
	feed(33)
	install(t, plugin, mustRead(t, builds["step2"]))
	var switched int64
	for _, x := range reload(http.StatusOK) {
		if strings.HasSuffix(x.Plugin, "reload.wasm") {
			if x.Result != "applied" || x.Batch <= batchOf(33) {
				t.Fatalf("reload of %s: %+v, want applied at a batch after the one that made 33 (%d)", x.Plugin, x, batchOf(33))
			}
			switched = x.Batch
		} else if x.Result != "unchanged" {
			t.Errorf("the unchanged conformance plugin: %+v", x)
		}
	}
	feed(45) // 33 + 10 + 2: the state carried over, the new code added 2
	feed(57)
	if b := batchOf(45); b < switched {
		t.Errorf("the first line after the switch ran in batch %d, before the switch at %d", b, switched)
	}

	for name, c := range map[string]struct {
		wasm []byte
		want string
	}{
		"not a module":     {[]byte("this is not WebAssembly"), "not a WebAssembly module"},
		"add is missing":   {mustRead(t, builds["missing"]), `has no function "add", which the pipeline uses`},
		"truncated module": {mustRead(t, builds["step3"])[:1000], "reload.wasm"},
	} {
		install(t, plugin, c.wasm)
		res := reload(http.StatusUnprocessableEntity)
		refused := false
		for _, x := range res {
			refused = refused || x.Result == "refused" && strings.Contains(x.Reason, c.want)
		}
		if !refused {
			t.Errorf("%s: reload answered %+v, want refused saying %q", name, res, c.want)
		}
	}
	feed(69) // the step-2 module still runs
	if !strings.Contains(r.log(), "the new module is refused and the running one stays") {
		t.Errorf("no refusal in the log: %s", r.log())
	}
	var events []struct{ Kind, Plugin, Message string }
	r.getJSON("/api/events", &events)
	if len(events) < 4 || events[0].Kind != "reload-refused" {
		t.Errorf("/api/events: %+v, want the reload and the three refusals, newest first", events)
	}

	// --watch: a new file reloads by itself.
	install(t, plugin, mustRead(t, builds["step3"]))
	waitFor(t, "the watcher to reload step 3", func() bool { return strings.Contains(r.log(), "module reload step-3 runs from batch") },
		func() string { return r.log() })
	feed(82)
	r.end()
	if want := []int64{11, 22, 33, 45, 57, 69, 82}; fmt.Sprint(totals()) != fmt.Sprint(want) {
		t.Errorf("totals %v, want %v", totals(), want)
	}
}
