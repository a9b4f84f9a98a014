package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/wstream/wstream/operators/job/monitor"
)

// checkSummaryPath refuses a --summary FILE whose folder does not exist
// before anything runs, rather than after a long run.
func checkSummaryPath(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("--summary %s: folder %s does not exist; create it or give another path", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return usagef("--summary %s is a folder; give a file path such as %s", path, filepath.Join(path, "summary.json"))
	}
	return nil
}

// summarize ends a run that started: a paragraph on stderr, whatever the
// log level, and the summary as JSON to --summary FILE. A run refused
// before it started has only its error, and writes no file.
func summarize(c *cli.Context, mon *monitor.Monitor, log *slog.Logger, runErr error) error {
	if !mon.Started() {
		return runErr
	}
	s := mon.Summary()
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, s.Paragraph(), 0)
	log.Handler().Handle(context.Background(), rec)
	if path := c.String("summary"); path != "" {
		data, err := json.MarshalIndent(s, "", "  ")
		if err == nil {
			err = os.WriteFile(path, append(data, '\n'), 0o644)
		}
		if err != nil && runErr == nil {
			return fmt.Errorf("--summary %s: %w", path, err)
		}
	}
	return runErr
}

// progressLine shows, on a terminal, how far the bounded sources (file:,
// batches:) have read: one line redrawn in place, which log lines written
// through it clear first and redraw after. On anything but a terminal it
// only passes log lines through.
type progressLine struct {
	w     io.Writer
	tty   bool
	width int
	mu    sync.Mutex
	shown string
}

func newProgressLine(w io.Writer) *progressLine {
	p := &progressLine{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.width = true, 100
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			p.width = cols - 1
		}
	}
	return p
}

func (p *progressLine) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown != "" {
		io.WriteString(p.w, "\r\033[K")
	}
	n, err := p.w.Write(b)
	if p.shown != "" {
		io.WriteString(p.w, p.shown)
	}
	return n, err
}

func (p *progressLine) show(s string) {
	if r := []rune(s); len(r) > p.width {
		s = string(r[:p.width-1]) + "…"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, "\r\033[K"+s)
	p.shown = s
}

// follow redraws the line from mon every quarter second until the
// returned stop, which clears it.
func (p *progressLine) follow(mon *monitor.Monitor) (stop func()) {
	if !p.tty {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		rates := progressRates{}
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if ps := mon.Progress(); len(ps) > 0 {
					p.show(progressText(ps, rates.update(ps, now)))
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.shown != "" {
			io.WriteString(p.w, "\r\033[K")
			p.shown = ""
		}
	}
}

// progressRates estimates each source's read rate in bytes per second,
// smoothed over a few seconds.
type progressRates map[string]*rateEstimate

type rateEstimate struct {
	at   time.Time
	done int64
	rate float64
}

func (r progressRates) update(ps []monitor.SourceProgress, now time.Time) map[string]float64 {
	out := map[string]float64{}
	for _, p := range ps {
		e := r[p.Name]
		if e == nil {
			r[p.Name] = &rateEstimate{at: now, done: p.Done}
			continue
		}
		if dt := now.Sub(e.at).Seconds(); dt > 0 {
			inst := float64(p.Done-e.done) / dt
			if e.rate == 0 {
				e.rate = inst
			} else {
				e.rate = 0.8*e.rate + 0.2*inst
			}
			e.at, e.done = now, p.Done
		}
		out[p.Name] = e.rate
	}
	return out
}

// progressText renders the line: per source, bytes done of the total, the
// records so far, the rate and the time left.
func progressText(ps []monitor.SourceProgress, rates map[string]float64) string {
	var parts []string
	for _, p := range ps {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: ", p.Name)
		if p.Total > 0 {
			fmt.Fprintf(&b, "%s of %s (%.0f%%)", size(p.Done), size(p.Total), 100*float64(p.Done)/float64(p.Total))
		} else {
			fmt.Fprintf(&b, "%s read", size(p.Done))
		}
		fmt.Fprintf(&b, ", %d records", p.Records)
		if r := rates[p.Name]; r > 0 {
			fmt.Fprintf(&b, ", %s/s", size(int64(r)))
			if p.Total > p.Done {
				left := time.Duration(float64(p.Total-p.Done) / r * float64(time.Second))
				fmt.Fprintf(&b, ", ETA %v", left.Round(time.Second))
			}
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, " · ")
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
