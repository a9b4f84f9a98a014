package runtime

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// CallStats is what a function's guest calls have cost since it was
// bound: counters only, so that reading them never slows a call.
type CallStats struct {
	// Calls is the number of guest calls (chunks of a batch count one each).
	Calls int64
	// Items is the number of items those calls carried.
	Items int64
	// Guest is the time spent inside the guest: from entering wstream_call
	// to its return, summed over calls (parallel chunks add up).
	Guest time.Duration
}

type callStats struct {
	calls, items, ns atomic.Int64
}

func (s *callStats) add(items int, d time.Duration) {
	s.calls.Add(1)
	s.items.Add(int64(items))
	s.ns.Add(int64(d))
}

// Stats is what the function's calls have cost so far; an upgrade of the
// plugin keeps counting.
func (f *Func) Stats() CallStats {
	return CallStats{Calls: f.stats.calls.Load(), Items: f.stats.items.Load(), Guest: time.Duration(f.stats.ns.Load())}
}

// Funcs returns every function bound from the plugin so far (one per
// stage that names it), for per-function statistics.
func (p *Plugin) Funcs() []*Func {
	p.swap.RLock()
	defer p.swap.RUnlock()
	return append([]*Func(nil), p.funcs...)
}

// The kinds of sandbox event: a guest stopped by one of its limits, or
// broken, and its instance replaced.
const (
	EventTimeout     = "timeout"      // a call ran past its time limit
	EventMemoryLimit = "memory-limit" // an instance grew past its memory limit
	EventTrap        = "trap"         // a guest trapped or returned a broken response
	EventOutputLimit = "output-limit" // a response was larger than maxOutput
)

// SandboxEvent is one limit a guest hit, or one failure of its instance.
type SandboxEvent struct {
	Time    time.Time `json:"time"`
	Plugin  string    `json:"plugin"`
	Func    string    `json:"func"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// SandboxStats counts a plugin's sandbox events since it was loaded.
type SandboxStats struct {
	// Events counts each kind (EventTimeout ...).
	Events map[string]int64
	// Restarts counts instances discarded after a failed call; the pool
	// makes a fresh one for the next call.
	Restarts int64
	// Recent are the last events, oldest first, at most recentEvents.
	Recent []SandboxEvent
}

// recentEvents bounds the events a plugin remembers with their messages.
const recentEvents = 32

// sandboxEvents is written only when a call fails, so its lock costs the
// hot path nothing.
type sandboxEvents struct {
	mu       sync.Mutex
	counts   map[string]int64
	restarts int64
	recent   []SandboxEvent
}

func eventKind(err error) string {
	switch {
	case errors.Is(err, ErrTimeout):
		return EventTimeout
	case errors.Is(err, ErrMemoryLimit):
		return EventMemoryLimit
	case errors.Is(err, ErrOutputLimit):
		return EventOutputLimit
	}
	return EventTrap
}

// add records a failed call; restart says its instance was discarded.
func (s *sandboxEvents) add(plugin, fn string, err error, restart bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int64{}
	}
	kind := eventKind(err)
	s.counts[kind]++
	if restart {
		s.restarts++
	}
	msg := Inert(err.Error())
	if len(msg) > 500 {
		cut := 500
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	if len(s.recent) == recentEvents {
		s.recent = append(s.recent[:0], s.recent[1:]...)
	}
	s.recent = append(s.recent, SandboxEvent{Time: time.Now(), Plugin: plugin, Func: fn, Kind: kind, Message: msg})
}

// Sandbox reports the limits the plugin's guests have hit and the
// instances replaced.
func (p *Plugin) Sandbox() SandboxStats {
	s := &p.sandbox
	s.mu.Lock()
	defer s.mu.Unlock()
	out := SandboxStats{Events: map[string]int64{}, Restarts: s.restarts, Recent: append([]SandboxEvent(nil), s.recent...)}
	for k, v := range s.counts {
		out.Events[k] = v
	}
	return out
}
