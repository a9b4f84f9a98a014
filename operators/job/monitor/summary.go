package monitor

import (
	"fmt"
	"strings"
	"time"

	"github.com/wstream/wstream/runtime"
)

// Summary is what a run did, for --summary FILE and the paragraph on
// stderr at the end of every run.
type Summary struct {
	Pipeline string    `json:"pipeline,omitempty"`
	Outcome  string    `json:"outcome"` // finished, stopped, failed, or running (asked mid-run)
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended,omitzero"`
	Seconds  float64   `json:"seconds"`

	Batches     int64            `json:"batches"`
	LateBatches int64            `json:"lateBatches"`
	RecordsIn   int64            `json:"recordsIn"`
	Sources     map[string]int64 `json:"sources"`
	RecordsOut  int64            `json:"recordsOut"`
	DeadLetters int64            `json:"deadLetters"`
	LateRows    int64            `json:"lateRows"`
	Checkpoints int64            `json:"checkpoints"`

	// GuestSeconds is the time inside guest calls, summed over calls (the
	// chunks of a large batch run on several instances at once);
	// HostSeconds the rest of the batches' processing time: each stage's
	// time less its guest time, the sinks and the checkpoints.
	GuestSeconds float64 `json:"guestSeconds"`
	HostSeconds  float64 `json:"hostSeconds"`
	// PeakRSSBytes is the process's peak resident memory, 0 where unknown.
	PeakRSSBytes int64 `json:"peakRssBytes"`

	Stages    []StageSummary    `json:"stages"`
	Functions []FunctionSummary `json:"functions"`
	Sandbox   []SandboxSummary  `json:"sandbox,omitempty"`
	Reloads   []Event           `json:"reloads,omitempty"`
}

// StageSummary is one stage's totals.
type StageSummary struct {
	Stage
	RecordsIn    int64   `json:"recordsIn"`
	RecordsOut   int64   `json:"recordsOut"`
	Seconds      float64 `json:"seconds"`
	GuestSeconds float64 `json:"guestSeconds"`
	StateKeys    int64   `json:"stateKeys,omitempty"`
	StateBytes   int64   `json:"stateBytes,omitempty"`
}

// FunctionSummary is one guest function's calls, over the stages that
// call it.
type FunctionSummary struct {
	Plugin       string  `json:"plugin"`
	Function     string  `json:"function"`
	Calls        int64   `json:"calls"`
	Items        int64   `json:"items"`
	GuestSeconds float64 `json:"guestSeconds"`
}

// SandboxSummary is one plugin's sandbox events.
type SandboxSummary struct {
	Plugin   string           `json:"plugin"`
	Events   map[string]int64 `json:"events"`
	Restarts int64            `json:"restarts"`
}

// Summary reports the run so far (the whole run after Finish).
func (m *Monitor) Summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := &m.tot
	s := Summary{Pipeline: m.desc.File, Outcome: m.state, Error: m.err, Started: m.start, Ended: t.ended,
		Batches: t.batches, LateBatches: t.lateBatches, Sources: map[string]int64{}, RecordsOut: t.out,
		DeadLetters: t.dead, LateRows: t.late, Checkpoints: t.checkpoints, PeakRSSBytes: peakRSS()}
	if s.Outcome == "starting" || s.Outcome == "stopping" {
		s.Outcome = "running"
	}
	end := t.ended
	if end.IsZero() {
		end = time.Now()
	}
	s.Seconds = end.Sub(m.start).Seconds()
	for i, e := range m.desc.Sources {
		s.Sources[e.Name] = t.in[i]
		s.RecordsIn += t.in[i]
	}
	var guest, inHost, wall time.Duration
	for i, st := range m.desc.Stages {
		c := t.stages[i]
		guest += c.Guest
		inHost += max(c.Time-c.Guest, 0)
		wall += c.Time
		ss := StageSummary{Stage: st, RecordsIn: c.RecordsIn, RecordsOut: c.RecordsOut, Seconds: c.Time.Seconds(), GuestSeconds: c.Guest.Seconds()}
		if st.Stateful && m.desc.Split == 0 {
			ss.StateKeys, ss.StateBytes = max(t.state[i].Keys, 0), t.state[i].Bytes
		}
		s.Stages = append(s.Stages, ss)
	}
	s.GuestSeconds = guest.Seconds()
	// Sinks and checkpoints are host time too: what batches took beyond
	// their stages.
	s.HostSeconds = (inHost + max(t.procAll-wall, 0)).Seconds()
	s.Functions = []FunctionSummary{}
	for _, p := range m.plugins {
		for _, f := range p.Funcs() {
			cs := f.Stats()
			s.Functions = addCalls(s.Functions, p.Name(), f.Name(), cs)
		}
		sb := p.Sandbox()
		if len(sb.Events) > 0 || sb.Restarts > 0 {
			s.Sandbox = append(s.Sandbox, SandboxSummary{Plugin: p.Name(), Events: sb.Events, Restarts: sb.Restarts})
		}
	}
	for _, e := range m.events {
		if e.Kind == EventReload || e.Kind == EventReloadRefused {
			s.Reloads = append(s.Reloads, e)
		}
	}
	return s
}

func addCalls(fs []FunctionSummary, plugin, fn string, cs runtime.CallStats) []FunctionSummary {
	for i := range fs {
		if fs[i].Plugin == plugin && fs[i].Function == fn {
			fs[i].Calls += cs.Calls
			fs[i].Items += cs.Items
			fs[i].GuestSeconds += cs.Guest.Seconds()
			return fs
		}
	}
	return append(fs, FunctionSummary{Plugin: plugin, Function: fn, Calls: cs.Calls, Items: cs.Items, GuestSeconds: cs.Guest.Seconds()})
}

// Paragraph is the summary as one paragraph for people.
func (s Summary) Paragraph() string {
	var b strings.Builder
	took := secs(s.Seconds)
	switch s.Outcome {
	case "failed":
		fmt.Fprintf(&b, "run failed after %s", took)
	case "stopped":
		fmt.Fprintf(&b, "run stopped after %s", took)
	case "finished":
		fmt.Fprintf(&b, "run finished in %s", took)
	default:
		fmt.Fprintf(&b, "run %s for %s so far", s.Outcome, took)
	}
	fmt.Fprintf(&b, ": %s, %s in", plural(s.Batches, "batch", "batches"), plural(s.RecordsIn, "record", "records"))
	if len(s.Sources) > 1 {
		var parts []string
		for _, n := range sortedKeys(s.Sources) {
			parts = append(parts, fmt.Sprintf("%s %d", n, s.Sources[n]))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, " and %d out, %s, %s", s.RecordsOut, plural(s.DeadLetters, "dead letter", "dead letters"), plural(s.LateRows, "late row", "late rows"))
	if s.LateBatches > 0 {
		fmt.Fprintf(&b, ", %s late", plural(s.LateBatches, "batch", "batches"))
	}
	if s.Checkpoints > 0 {
		fmt.Fprintf(&b, ", %s", plural(s.Checkpoints, "checkpoint", "checkpoints"))
	}
	fmt.Fprintf(&b, "; %s inside guest calls (summed over instances running in parallel) and %s in the host", secs(s.GuestSeconds), secs(s.HostSeconds))
	if s.PeakRSSBytes > 0 {
		fmt.Fprintf(&b, "; peak memory %s", mib(s.PeakRSSBytes))
	}
	var events []string
	for _, sb := range s.Sandbox {
		for _, k := range sortedKeys(sb.Events) {
			events = append(events, fmt.Sprintf("%s %s", plural(sb.Events[k], k, k+"s"), sb.Plugin))
		}
	}
	if len(events) > 0 {
		fmt.Fprintf(&b, "; sandbox: %s", strings.Join(events, ", "))
	}
	if n := len(s.Reloads); n > 0 {
		refused := 0
		for _, e := range s.Reloads {
			if e.Kind == EventReloadRefused {
				refused++
			}
		}
		fmt.Fprintf(&b, "; %s (%d refused)", plural(int64(n), "plugin reload", "plugin reloads"), refused)
	}
	b.WriteString(".")
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
