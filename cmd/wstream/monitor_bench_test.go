package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wstream/wstream/host/logs"
	"github.com/wstream/wstream/host/pipeline"
	"github.com/wstream/wstream/operators/job"
	"github.com/wstream/wstream/operators/job/monitor"
	"github.com/wstream/wstream/runtime"
)

// BenchmarkMonitorCost is what watching a run costs: the word count over
// 200000 lines (100 bytes of Zipf words), 10ms batches run back to back,
// with nothing watching ("off"), and with the web server, the metrics
// and the UI's aggregation on, a UI connected to the live stream and
// /metrics scraped every second ("on"). It reports records/s and
// records per CPU-second of each, and what "on" costs in percent of "off";
// the aim is under 3%.
//
//	go test -run - -bench MonitorCost -count 5 ./cmd/wstream/
func BenchmarkMonitorCost(b *testing.B) {
	ensurePlugins(b)
	dir := b.TempDir()
	const lines = 200000
	input := filepath.Join(dir, "lines.txt")
	writeLines(b, input, lines)
	engine, err := newEngine(context.Background(), "wazero")
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close(context.Background())
	// Each iteration runs both, off then on, so that the two see the same
	// machine: on a shared machine the load drifts between iterations.
	var busy, cpu [2]time.Duration
	for b.Loop() {
		for i, on := range []bool{false, true} {
			d, c := runWordCount(b, engine, input, filepath.Join(dir, "out.jsonl"), on)
			busy[i] += d
			cpu[i] += c
		}
	}
	n := float64(lines) * float64(b.N)
	b.ReportMetric(n/busy[0].Seconds(), "off-records/s")
	b.ReportMetric(n/busy[1].Seconds(), "on-records/s")
	// On a shared machine wall time moves with the other load; the
	// process's CPU time (the UI client's included) moves less.
	b.ReportMetric(n/cpu[0].Seconds(), "off-records/cpu-s")
	b.ReportMetric(n/cpu[1].Seconds(), "on-records/cpu-s")
	b.ReportMetric(100*(cpu[1].Seconds()/cpu[0].Seconds()-1), "cost-cpu-%")
	b.ReportMetric(100*(busy[1].Seconds()/busy[0].Seconds()-1), "cost-wall-%")
}

// runWordCount runs the word count over input once, watched or not, and
// returns its wall and CPU time.
func runWordCount(b *testing.B, engine runtime.Engine, input, out string, on bool) (wall, cpu time.Duration) {
	ctx := context.Background()
	plugins := job.NewPlugins(engine, runtime.Config{})
	defer plugins.Close()
	spec, err := pipeline.Parse([]byte(fmt.Sprintf("plugin: %s\nbatch: 10ms\ntrigger: available-now\nsource: file:%s\nsink: jsonl:%s\nstages:\n  - {op: flatMap, fn: split-words}\n  - {op: map, fn: pair-with-one}\n  - {op: reduceByKey, fn: sum}\n",
		filepath.Join(repoRoot(), "plugins/wordcount/wordcount.wasm"), input, out)))
	if err != nil {
		b.Fatal(err)
	}
	cfg := job.Config{Plugins: plugins, Log: logs.Discard()}
	addr := make(chan string, 1)
	if on {
		spec.HTTP = "127.0.0.1:0"
		cfg.Log = slog.New(logs.NewText(addrWriter(addr), slog.LevelInfo))
		cfg.Monitor = monitor.New(monitor.Config{Log: cfg.Log, Web: true})
	}
	spec.ApplyDefaults()
	// The plugin compiles before the clock starts.
	if _, err := plugins.Load(ctx, spec.Plugin); err != nil {
		b.Fatal(err)
	}
	stop, watched := make(chan struct{}), make(chan struct{})
	if on {
		go watchUI(addr, stop, watched)
	} else {
		close(watched)
	}
	start, cpu0 := time.Now(), cpuTime()
	if err := job.Run(ctx, spec, cfg); err != nil {
		b.Fatal(err)
	}
	wall, cpu = time.Since(start), cpuTime()-cpu0
	close(stop)
	<-watched
	return wall, cpu
}

// addrWriter sends the web server's address, from the line that logs it.
type addrWriter chan string

func (w addrWriter) Write(p []byte) (int, error) {
	if m := uiAddr.FindSubmatch(p); m != nil {
		select {
		case w <- "http://" + string(m[1]):
		default:
		}
	}
	return len(p), nil
}

// watchUI is a UI and a scraper on the run's server: it reads the live
// stream and scrapes /metrics every second until stop.
func watchUI(addr chan string, stop, done chan struct{}) {
	defer close(done)
	var url string
	select {
	case url = <-addr:
	case <-stop:
		return
	}
	go func() {
		resp, err := http.Get(url + "/api/live")
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
		}
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if resp, err := http.Get(url + "/metrics"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeLines(b *testing.B, path string, n int) {
	vocab := make([]string, 10000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%x", i*2654435761%1000003)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(vocab)-1))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for range n {
		var line strings.Builder
		for line.Len() < 100 {
			if line.Len() > 0 {
				line.WriteByte(' ')
			}
			line.WriteString(vocab[zipf.Uint64()])
		}
		w.WriteString(line.String() + "\n")
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}
