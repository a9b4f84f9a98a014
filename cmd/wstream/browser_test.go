package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium, which .ci/toolchains installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("the browser test needs Chromium: apt-get install chromium (make test installs it through .ci/toolchains)")
	return ""
}

// browser starts headless Chromium, with what it needs on a machine
// without a network: no background connections, no updates, a fresh
// profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first action starts the browser, for as long as ctx lives.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// screenshotDir is where the test leaves its screenshots:
// $WSTREAM_SCREENSHOTS when set, else the test's temporary folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("WSTREAM_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// The UI of a running pipeline, in a real browser: it updates live, draws
// the pipeline as a graph and Spark's four timelines and histograms with
// data, and opens a batch's page from the table.
func TestUIInBrowser(t *testing.T) {
	dir := t.TempDir()
	runningCount(t, dir, "100ms", 5)
	r := startLive(t, dir, "--pipeline", "p.yaml")
	// Feed lines until the test ends: a few hundred a batch.
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		words := strings.Fields("to be or not to be that is the question whether tis nobler in the mind")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var b strings.Builder
			for j := range 50 {
				fmt.Fprintf(&b, "%s %s %s\n", words[(i+j)%len(words)], words[(i*7+j)%len(words)], words[j%len(words)])
			}
			if _, err := r.stdin.Write([]byte(b.String())); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-fed }()

	ctx := browser(t)
	shots := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// attr reads a number the page sets on an element, 0 while the
	// element is not there yet.
	attr := func(sel, name string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {getAttribute: () => "0"}).getAttribute(%q) || "0"`, sel, name)))
		if err != nil {
			t.Fatalf("%s[%s]: %v", sel, name, err)
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	// text reads an element's text in one step in the page (the UI
	// redraws its tables every second).
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	// wait polls the page until cond holds: a live page, no sleeps.
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				shot("timeout.png")
				t.Fatalf("waited a minute for %s (screenshot in %s); stderr: %s", what, shots, r.log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(r.url+"/"), chromedp.WaitVisible(chromedp.CSS("#graph-svg"))); err != nil {
		t.Fatalf("loading the UI: %v; stderr: %s", err, r.log())
	}
	wait("5 live updates", func() bool { return attr("body", "data-updates") >= 5 })
	// Input, delays and processing need batches with data in the window.
	for _, id := range []string{"tl-input", "tl-sched", "tl-proc", "tl-total", "hist-sched", "hist-proc", "hist-total", "hist-input"} {
		wait(id+" to show data", func() bool { return attr("#"+id+" svg", "data-points") > 0 })
	}
	if n, e := attr("#graph-svg", "data-nodes"), attr("#graph-svg", "data-edges"); n != 6 || e != 5 {
		t.Errorf("the pipeline graph has %d nodes and %d edges, want 6 (source, 4 stages, sink) and 5", n, e)
	}
	graph := text("#graph")
	for _, want := range []string{"stdin", "flatMap split-words", "updateStateByKey sum-into-state", "jsonl:out.jsonl", "/s", "keys"} {
		if !strings.Contains(graph, want) {
			t.Errorf("the graph does not show %q: %s", want, graph)
		}
	}
	shot("overview.png")

	// A batch's page, from the table.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#recent tbody tr")), chromedp.WaitVisible(chromedp.CSS("#batch-detail table"))); err != nil {
		t.Fatalf("opening a batch: %v", err)
	}
	title, detail := text("#batch-title"), text("#batch-detail")
	if !strings.HasPrefix(title, "Batch ") || !strings.Contains(detail, "map pair-with-one") || !strings.Contains(detail, "guest") {
		t.Errorf("batch page %q: %s", title, detail)
	}
	shot("batch.png")

	for _, view := range []string{"stages", "plugins", "checkpoints"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(r.url+"/#"+view), chromedp.WaitVisible(chromedp.CSS("#view-"+view+" table"))); err != nil {
			t.Fatalf("view %s: %v", view, err)
		}
		shot(view + ".png")
	}
	wait("the plugins view to list the guest functions", func() bool {
		p := text("#plugin-table")
		return strings.Contains(p, "sum-into-state") && strings.Contains(p, "conformance.wasm")
	})
	t.Logf("screenshots in %s", shots)
}
