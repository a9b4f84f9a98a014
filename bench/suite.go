// Package bench is wstream's benchmark suite (`wstream bench`, `make
// bench`): fixed generated workloads run through the real operator graph and
// scheduler with WebAssembly guests, each beside a native in-host Go version
// of the same logic measured in the same run, plus Benthos's per-message
// wasm processor as a peer. Every measurement runs in its own child process,
// so each reports its own peak RSS. See bench/README.md.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Config is how the suite runs.
type Config struct {
	Root     string // the repository root (plugins/, guest-sdk/, bench/)
	BuildDir string // where guests and the Benthos peer are built
	Short    bool   // tiny sizes: a smoke test, numbers mean nothing
	Benthos  bool   // build and run the Benthos peer
	// Self runs a child: Self + ["--child", JOB]. Nil runs jobs in this
	// process (no per-job RSS) and skips the CLI runs.
	Self []string
	Out  io.Writer // the report
	Log  io.Writer // progress
	JSON string    // also write every result here, when set
}

// Row is one line of a result table.
type Row struct {
	Section  string  `json:"section"`
	Workload string  `json:"workload"`
	Impl     string  `json:"impl"`
	Param    string  `json:"param,omitempty"`
	Job      *Job    `json:"job,omitempty"`
	Result   Result  `json:"result"`
	Ratio    float64 `json:"ratio_to_native,omitempty"`
	CPURatio float64 `json:"cpu_ratio_to_native,omitempty"`
	LatP50   float64 `json:"latency_p50_ms,omitempty"`
	LatP99   float64 `json:"latency_p99_ms,omitempty"`
	LatRSSKB int64   `json:"latency_peak_rss_kb,omitempty"`
	Check    string  `json:"check,omitempty"`
}

type suite struct {
	cfg  Config
	art  *artifacts
	rows []Row
	ctx  context.Context
}

// Run runs the whole suite and prints its report.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	s := &suite{cfg: cfg, ctx: ctx}
	art, err := prepare(cfg.Root, cfg.BuildDir, cfg.Benthos, s.logf)
	if err != nil {
		return err
	}
	s.art = art
	start := time.Now()
	s.header()
	if err := s.main(); err != nil {
		return err
	}
	s.keyedWindow()
	s.scaling()
	s.cli()
	s.footer(time.Since(start))
	if cfg.JSON != "" {
		b, _ := json.MarshalIndent(s.rows, "", "  ")
		if err := os.WriteFile(cfg.JSON, b, 0o666); err != nil {
			return err
		}
	}
	return nil
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, "bench: "+format+"\n", args...)
}

func (s *suite) printf(format string, args ...any) { fmt.Fprintf(s.cfg.Out, format, args...) }

// sizes are the run lengths: full, or the smoke test's.
func (s *suite) records(full int) int {
	if s.cfg.Short {
		return min(full, 20000)
	}
	return full
}

func (s *suite) keys(w *workload) int {
	if s.cfg.Short {
		return w.shortKeys
	}
	return w.keys
}

func (s *suite) latencyDuration() time.Duration {
	if s.cfg.Short {
		return 700 * time.Millisecond
	}
	return 5 * time.Second
}

// job runs j in a child process (or in-process without Self), with env
// added to the child's environment.
func (s *suite) job(j Job, env ...string) Result {
	if j.Kind == "throughput" && j.MaxSeconds == 0 {
		j.MaxSeconds = 15
		if s.cfg.Short {
			j.MaxSeconds = 2
		}
	}
	s.logf("%s %s %s batch=%d keys=%d %s", j.Kind, j.Workload, implName(j.Plugin), j.Batch, j.Keys, strings.Join(env, " "))
	if s.cfg.Self == nil {
		r, err := RunJob(s.ctx, j)
		if err != nil {
			r.Err = err.Error()
		}
		return r
	}
	arg, _ := json.Marshal(j)
	cmd := exec.CommandContext(s.ctx, s.cfg.Self[0], append(append([]string{}, s.cfg.Self[1:]...), "--child", string(arg))...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var r Result
	if jerr := json.Unmarshal(lastLine(out.Bytes()), &r); jerr != nil {
		msg := strings.TrimSpace(errb.String())
		if err != nil {
			msg = fmt.Sprintf("%v: %s", err, msg)
		}
		return Result{Err: firstLine(fmt.Errorf("%s", msg))}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSSKB = ru.Maxrss
	}
	return r
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// Child runs the job given as JSON and writes its result as one JSON line.
// With WSTREAM_BENCH_CPUPROFILE=FILE it writes a CPU profile of the job.
func Child(ctx context.Context, arg string, w io.Writer) error {
	var j Job
	if err := json.Unmarshal([]byte(arg), &j); err != nil {
		return fmt.Errorf("bench child: %w", err)
	}
	if path := os.Getenv("WSTREAM_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var r Result
	var err error
	if j.Kind == "file" {
		r, err = nativeFile(j)
	} else {
		r, err = RunJob(ctx, j)
	}
	if err != nil {
		r.Err = err.Error()
	}
	return json.NewEncoder(w).Encode(r)
}

func implName(plugin string) string {
	if plugin == "" {
		return "native Go"
	}
	return "wasm " + strings.TrimSuffix(filepath.Base(plugin), ".wasm")
}

// guests lists the WASM implementations of a workload: label -> plugin.
func (s *suite) guests(w *workload) [][2]string {
	switch w.name {
	case "wordcount":
		var out [][2]string
		for _, lang := range []string{"go", "c", "rust", "assemblyscript"} {
			if p, ok := s.art.wordcount[lang]; ok {
				out = append(out, [2]string{"wasm " + lang, p})
			}
		}
		return out
	case "upper":
		out := [][2]string{{"wasm go", s.art.goGuest}}
		if s.art.cGuest != "" {
			out = append(out, [2]string{"wasm c", s.art.cGuest})
		}
		return out
	}
	return [][2]string{{"wasm go", s.art.goGuest}}
}

func (s *suite) header() {
	s.printf("# wstream bench\n\n")
	s.printf("machine: %s, %d cores (nproc), %s, %s/%s\n", cpuModel(), goruntime.NumCPU(), goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	mode := "full"
	if s.cfg.Short {
		mode = "short (smoke test: sizes too small for the numbers to mean anything)"
	}
	s.printf("mode: %s; runtime: wazero; every row is its own child process (peak RSS = its max RSS)\n", mode)
	s.printf("load average at start: %s (other work on the machine slows wall-clock rates; records/CPU-s is steadier)\n", loadavg())
	var miss []string
	for k, v := range s.art.missing {
		miss = append(miss, fmt.Sprintf("  %s: unavailable (%s)", k, v))
	}
	sort.Strings(miss)
	if len(miss) > 0 {
		s.printf("not measured:\n%s\n", strings.Join(miss, "\n"))
	}
	s.printf("\n")
}

func (s *suite) main() error {
	s.printf("## Workloads (throughput: generated batches through Graph.Process; latency: host.Run, system clock, 10 ms batches, 1e5 records/s)\n\n")
	s.printf("| workload | impl | batch | records/s | × native | records/CPU-s | × native (CPU) | p50 ms | p99 ms | peak RSS MB (throughput) | peak RSS MB (10 ms run) | output check |\n")
	s.printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, w := range workloads {
		keys := s.keys(w)
		base := Job{Kind: "throughput", Workload: w.name, Keys: keys, Batch: w.batch, Records: s.records(max(w.batch*10, 1000000)), Seed: 1}
		if w.name == "state-1e6" {
			base.Records = s.records(w.batch * 5)
		}
		nat := s.job(base)
		s.row(Row{Section: "main", Workload: w.name, Impl: "native Go", Job: &base, Result: nat, Ratio: 1})
		for _, g := range s.guests(w) {
			j := base
			j.Plugin = g[1]
			r := s.job(j)
			lj := Job{Kind: "latency", Workload: w.name, Plugin: g[1], Keys: keys, Rate: 100000, Interval: 10 * time.Millisecond, Duration: s.latencyDuration(), Seed: 1}
			lat := s.job(lj)
			row := Row{Section: "main", Workload: w.name, Impl: g[0], Job: &j, Result: r, LatP50: lat.P50ms, LatP99: lat.P99ms, LatRSSKB: lat.PeakRSSKB}
			if nat.RecordsPerSec > 0 {
				row.Ratio = r.RecordsPerSec / nat.RecordsPerSec
			}
			if nat.CPUSeconds > 0 && r.CPUSeconds > 0 {
				row.CPURatio = nat.CPUSeconds / float64(nat.Records) * float64(r.Records) / r.CPUSeconds
			}
			switch {
			case r.Err != "":
				row.Check = "error: " + r.Err
			case lat.Err != "":
				row.Check = "latency error: " + lat.Err
			case r.Records != nat.Records:
				row.Check = fmt.Sprintf("%d records timed (time limit; native %d), output not compared", r.Records, nat.Records)
			case r.Out == nat.Out:
				row.Check = fmt.Sprintf("ok (%d = native)", r.Out)
			default:
				row.Check = fmt.Sprintf("MISMATCH: %d, native %d", r.Out, nat.Out)
			}
			s.row(row)
		}
		if w.name == "upper" {
			s.benthosRows(base, nat)
		}
	}
	s.printf("\n")
	for _, w := range workloads {
		s.printf("- %s: %s\n", w.name, w.what)
	}
	s.printf("\n")
	return nil
}

func (s *suite) benthosRows(base Job, nat Result) {
	if s.art.benthos == "" {
		s.printf("| upper | Benthos wasm processor | | unavailable (%s) | | | | | | | | |\n", s.art.missing["benthos"])
		return
	}
	for _, threads := range []int{1, 2} {
		n := s.records(200000)
		s.logf("benthos threads=%d records=%d", threads, n)
		cmd := exec.CommandContext(s.ctx, s.art.benthos, "-module", s.art.bGuest, "-records", fmt.Sprint(n),
			"-batch", fmt.Sprint(base.Batch), "-size", "100", "-threads", fmt.Sprint(threads))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var br struct {
			RecordsPerSec float64 `json:"records_per_sec"`
			Records       int64   `json:"records"`
			Seconds       float64 `json:"seconds"`
			Versions      string  `json:"versions"`
		}
		row := Row{Section: "main", Workload: "upper", Impl: fmt.Sprintf("Benthos wasm processor, %d thread(s)", threads), Param: "c guest, per-message ABI"}
		if jerr := json.Unmarshal(lastLine(out.Bytes()), &br); jerr != nil || err != nil {
			row.Check = fmt.Sprintf("error: %v %s", err, firstLine(fmt.Errorf("%s", errb.String())))
		} else {
			row.Result = Result{Records: br.Records, Seconds: br.Seconds, RecordsPerSec: br.RecordsPerSec}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				row.Result.PeakRSSKB = ru.Maxrss
			}
			row.Ratio = br.RecordsPerSec / nat.RecordsPerSec
			row.Check = br.Versions
		}
		s.row(row)
	}
}

func (s *suite) row(r Row) {
	s.rows = append(s.rows, r)
	if r.Section != "main" {
		return
	}
	rate, ratio := "—", "—"
	if r.Result.Err != "" {
		rate = "error"
	} else if r.Result.RecordsPerSec > 0 {
		rate = human(r.Result.RecordsPerSec)
	}
	if r.Ratio > 0 {
		ratio = fmt.Sprintf("%.2f", r.Ratio)
	}
	batch := ""
	if r.Job != nil {
		batch = fmt.Sprint(r.Job.Batch)
	}
	cpuRate, cpuRatio := "—", "—"
	if r.Result.CPUSeconds > 0 {
		cpuRate = human(float64(r.Result.Records) / r.Result.CPUSeconds)
	}
	if r.CPURatio > 0 {
		cpuRatio = fmt.Sprintf("%.2f", r.CPURatio)
	} else if r.Impl == "native Go" {
		cpuRatio = "1.00"
	}
	s.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Workload, r.Impl, batch, rate, ratio, cpuRate, cpuRatio,
		ms(r.LatP50), ms(r.LatP99), mb(r.Result.PeakRSSKB), mb(r.LatRSSKB), r.Check)
}

// scaling shows throughput from one core to two, with batch size, and the
// cost of updateStateByKey as state grows.
func (s *suite) scaling() {
	wc, _ := workloadByName("wordcount")
	s.printf("## Scaling\n\n### One core vs two (GOMAXPROCS), word count, batch %d\n\n", wc.batch)
	s.printf("| impl | 1 core records/s | 2 cores records/s | speed-up |\n|---|---:|---:|---:|\n")
	impls := [][2]string{{"native Go", ""}}
	impls = append(impls, s.guests(wc)...)
	for _, g := range impls {
		j := Job{Kind: "throughput", Workload: "wordcount", Plugin: g[1], Keys: s.keys(wc), Batch: wc.batch, Records: s.records(500000), Seed: 1}
		one := s.job(j, "GOMAXPROCS=1")
		two := s.job(j, "GOMAXPROCS=2")
		s.rows = append(s.rows, Row{Section: "cores", Workload: "wordcount", Impl: g[0], Param: "GOMAXPROCS=1", Job: &j, Result: one},
			Row{Section: "cores", Workload: "wordcount", Impl: g[0], Param: "GOMAXPROCS=2", Job: &j, Result: two})
		s.printf("| %s | %s | %s | %s |\n", g[0], human(one.RecordsPerSec), human(two.RecordsPerSec), speedup(two.RecordsPerSec, one.RecordsPerSec))
	}

	s.printf("\n### Batch size, word count (lines per batch)\n\n| batch | native Go records/s |")
	gs := s.guests(wc)
	for _, g := range gs {
		s.printf(" %s records/s | %s × native |", g[0], g[0])
	}
	s.printf("\n|---:|---:|%s\n", strings.Repeat("---:|---:|", len(gs)))
	for _, b := range []int{100, 1000, 10000, 100000} {
		j := Job{Kind: "throughput", Workload: "wordcount", Keys: s.keys(wc), Batch: b, Records: s.records(max(300000, 5*b)), Seed: 1}
		nat := s.job(j)
		s.rows = append(s.rows, Row{Section: "batch", Workload: "wordcount", Impl: "native Go", Param: fmt.Sprint(b), Job: &j, Result: nat})
		s.printf("| %d | %s |", b, human(nat.RecordsPerSec))
		for _, g := range gs {
			jj := j
			jj.Plugin = g[1]
			r := s.job(jj)
			s.rows = append(s.rows, Row{Section: "batch", Workload: "wordcount", Impl: g[0], Param: fmt.Sprint(b), Job: &jj, Result: r, Ratio: r.RecordsPerSec / nat.RecordsPerSec})
			s.printf(" %s | %.2f |", human(r.RecordsPerSec), r.RecordsPerSec/nat.RecordsPerSec)
		}
		s.printf("\n")
	}

	st, _ := workloadByName("state-1e6")
	s.printf("\n### State size, updateStateByKey (batches of 10000 records; every key in state is updated and emitted each batch)\n\n")
	s.printf("| keys in state | native ms/batch | wasm go ms/batch | × native | wasm go peak RSS MB |\n|---:|---:|---:|---:|---:|\n")
	sizes := []int{10000, 100000, 1000000}
	if s.cfg.Short {
		sizes = []int{1000, 10000}
	}
	for _, k := range sizes {
		j := Job{Kind: "throughput", Workload: st.name, Keys: k, Batch: 10000, Records: s.records(50000), Seed: 1}
		nat := s.job(j)
		j.Plugin = s.art.goGuest
		r := s.job(j)
		s.rows = append(s.rows, Row{Section: "state", Workload: st.name, Impl: "native Go", Param: fmt.Sprint(k), Result: nat},
			Row{Section: "state", Workload: st.name, Impl: "wasm go", Param: fmt.Sprint(k), Job: &j, Result: r, Ratio: r.RecordsPerSec / nat.RecordsPerSec})
		s.printf("| %d | %s | %s | %.2f | %s |\n", k, perBatch(nat), perBatch(r), r.RecordsPerSec/nat.RecordsPerSec, mb(r.PeakRSSKB))
	}
	s.printf("\n")
}

// cli measures whole processes: word count over a generated text of 1e6
// lines with the real CLI (file source, system clock, pprint sink), against
// a native Go program doing the same reading, splitting, counting and
// printing, each timed as a whole process.
func (s *suite) cli() {
	if s.cfg.Self == nil {
		return
	}
	lines := s.records(1000000)
	path := filepath.Join(s.cfg.BuildDir, fmt.Sprintf("lines-%d.txt", lines))
	if err := writeLines(path, lines); err != nil {
		s.printf("CLI run: %v\n", err)
		return
	}
	defer os.Remove(path)
	s.printf("## Word count over a %d-line generated text, whole processes\n\n", lines)
	s.printf("| impl | command | seconds | lines/s | × native | peak RSS MB |\n|---|---|---:|---:|---:|---:|\n")
	nj := Job{Kind: "file", Workload: "wordcount", File: path}
	arg, _ := json.Marshal(nj)
	natCmd := append(append([]string{}, s.cfg.Self...), "--child", string(arg))
	nat, natSecs, natRSS := s.timed(natCmd)
	natRate := float64(lines) / natSecs
	s.printf("| native Go | `%s --child '{\"kind\":\"file\",...}'` (bufio.Scanner, 1024-line batches, strings.Split, map, pprint) | %.2f | %s | 1.00 | %s |\n",
		strings.Join(s.cfg.Self, " "), natSecs, human(natRate), mb(natRSS))
	s.rows = append(s.rows, Row{Section: "cli", Workload: "wordcount", Impl: "native Go", Result: Result{Records: int64(lines), Seconds: natSecs, RecordsPerSec: natRate, PeakRSSKB: natRSS, Err: nat}})
	for _, g := range s.guests(mustWorkload("wordcount")) {
		args := []string{s.cfg.Self[0], "run", "--plugin", g[1], "--source", "file:" + path, "--batch", "10ms", "--sink", "stdout"}
		errMsg, secs, rss := s.timed(args)
		rate := float64(lines) / secs
		s.rows = append(s.rows, Row{Section: "cli", Workload: "wordcount", Impl: g[0], Result: Result{Records: int64(lines), Seconds: secs, RecordsPerSec: rate, PeakRSSKB: rss, Err: errMsg}, Ratio: rate / natRate})
		if errMsg != "" {
			s.printf("| %s | `%s` | %s | < %s | < %.2f | %s |\n", g[0], strings.Join(rel(args, s.cfg.Root), " "), errMsg, human(rate), rate/natRate, mb(rss))
			continue
		}
		s.printf("| %s | `%s > /dev/null` | %.2f | %s | %.2f | %s |\n", g[0], strings.Join(rel(args, s.cfg.Root), " "), secs, human(rate), rate/natRate, mb(rss))
	}
	s.printf("\n")
}

func mustWorkload(name string) *workload {
	w, err := workloadByName(name)
	if err != nil {
		panic(err)
	}
	return w
}

// timed runs a command with stdout discarded and returns its error text,
// wall time and peak RSS.
func (s *suite) timed(args []string) (string, float64, int64) {
	s.logf("timing %s", strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(s.ctx, cliLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var errb bytes.Buffer
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err.Error(), 0, 0
	}
	defer devnull.Close()
	cmd.Stdout, cmd.Stderr = devnull, &errb
	start := time.Now()
	err = cmd.Run()
	secs := time.Since(start).Seconds()
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss
		}
	}
	if ctx.Err() != nil {
		return fmt.Sprintf("stopped after %v", cliLimit), secs, rss
	}
	if err != nil {
		return firstLine(fmt.Errorf("%v: %s", err, errb.String())), secs, rss
	}
	return "", secs, rss
}

// cliLimit bounds one whole-process run of the word count.
const cliLimit = 150 * time.Second

func rel(args []string, root string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, root+string(filepath.Separator), "")
	}
	out[0] = "wstream"
	return out
}

func writeLines(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	next := lineGen(1, 100000)
	for i := 0; i < n; i++ {
		w.WriteString(next())
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (s *suite) footer(d time.Duration) {
	s.printf("## Targets, from the rows above\n\n")
	find := func(section, workload, impl string) *Row {
		for i := range s.rows {
			r := &s.rows[i]
			if r.Section == section && r.Workload == workload && r.Impl == impl {
				return r
			}
		}
		return nil
	}
	check := func(name string, ok bool, detail string) {
		mark := "MET"
		if !ok {
			mark = "MISSED"
		}
		s.printf("- %s: %s (%s)\n", name, mark, detail)
	}
	for _, t := range []struct {
		lang string
		min  float64
	}{{"c", 0.5}, {"rust", 0.5}, {"go", 0.3}} {
		r := find("main", "wordcount", "wasm "+t.lang)
		if r == nil {
			s.printf("- word count, %s guest ≥ %.1f× native: not measured (%s)\n", t.lang, t.min, s.art.missing["wordcount "+t.lang])
			continue
		}
		check(fmt.Sprintf("word count, %s guest ≥ %.1f× native", t.lang, t.min), r.Ratio >= t.min, fmt.Sprintf("%.2f×", r.Ratio))
	}
	for _, lang := range []string{"go", "c", "rust", "assemblyscript"} {
		if r := find("main", "wordcount", "wasm "+lang); r != nil && r.LatP99 > 0 {
			check("word count p99 ≤ 10 ms + 5 ms at 10 ms batches, 1e5 records/s, "+lang+" guest", r.LatP99 <= 15, fmt.Sprintf("p99 %.1f ms, p50 %.1f ms", r.LatP99, r.LatP50))
		}
	}
	for _, lang := range []string{"go", "c", "rust", "assemblyscript"} {
		if r := find("main", "wordcount", "wasm "+lang); r != nil && r.LatRSSKB > 0 {
			check("word count peak RSS ≤ 64 MB (1e5-word vocabulary), "+lang+" guest", r.LatRSSKB <= 64*1024 && r.Result.PeakRSSKB <= 64*1024,
				fmt.Sprintf("%s MB at 10 ms batches, %s MB at full throughput with %d-line batches", mb(r.LatRSSKB), mb(r.Result.PeakRSSKB), r.Job.Batch))
		}
	}
	var best *Row
	for i := range s.rows {
		r := &s.rows[i]
		if r.Section == "main" && strings.HasPrefix(r.Impl, "Benthos") && (best == nil || r.Result.RecordsPerSec > best.Result.RecordsPerSec) {
			best = r
		}
	}
	for _, impl := range []string{"wasm c", "wasm go"} {
		r := find("main", "upper", impl)
		if r == nil || best == nil || best.Result.RecordsPerSec == 0 {
			s.printf("- ≥ 10× Benthos's wasm processor on upper, %s guest: not measured\n", impl)
			continue
		}
		x := r.Result.RecordsPerSec / best.Result.RecordsPerSec
		check(fmt.Sprintf("≥ 10× Benthos's wasm processor on upper, %s guest", impl), x >= 10, fmt.Sprintf("%.1f× (%s vs %s records/s, best Benthos thread count)", x, human(r.Result.RecordsPerSec), human(best.Result.RecordsPerSec)))
	}
	s.printf("\nsuite time: %s; load average at end: %s\n", d.Round(time.Second), loadavg())
}

// ---- formatting ----

func human(v float64) string {
	switch {
	case v <= 0:
		return "—"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func ms(v float64) string {
	if v <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", v)
}

func mb(kb int64) string {
	if kb <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(kb)/1024)
}

func speedup(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func perBatch(r Result) string {
	if r.Batches == 0 || r.Err != "" {
		return "error"
	}
	return fmt.Sprintf("%.1f", r.Seconds*1000/float64(r.Batches))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
