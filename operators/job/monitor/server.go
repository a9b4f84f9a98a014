package monitor

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wstream/wstream/abi"
	"github.com/wstream/wstream/host"
	"github.com/wstream/wstream/operators"
	"github.com/wstream/wstream/runtime"
)

//go:embed ui
var uiFiles embed.FS

// ReloadResult is the outcome of reloading one plugin (POST /api/reload).
type ReloadResult struct {
	Plugin string `json:"plugin"`
	// Result is applied, refused or unchanged.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	// Batch is the time (ms) of the first batch that ran the new module.
	Batch int64 `json:"batch,omitempty"`
}

// Reloader reloads every plugin whose file changed, between two batches,
// and reports each one's outcome.
type Reloader func(ctx context.Context) ([]ReloadResult, error)

// Handler serves the UI at /, the metrics at /metrics, /ready, /healthz
// and the JSON API under /api/. The Monitor must have been made with Web.
func (m *Monitor) Handler(reload Reloader) http.Handler {
	mux := http.NewServeMux()
	ui, _ := fs.Sub(uiFiles, "ui")
	mux.Handle("GET /", http.FileServerFS(ui))
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.web.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		ok, why := m.Ready()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, why)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		failed, msg := m.state == "failed", m.err
		m.mu.Unlock()
		if failed {
			http.Error(w, "failed: "+msg, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /api/snapshot", m.locked(func() any { return m.snapshotLocked() }))
	mux.HandleFunc("GET /api/pipeline", m.locked(func() any { return m.desc }))
	mux.HandleFunc("GET /api/status", m.locked(func() any { return m.statusLocked() }))
	mux.HandleFunc("GET /api/series", m.locked(func() any { return m.web.series }))
	mux.HandleFunc("GET /api/checkpoints", m.locked(func() any { return m.web.ckpts.last(keepCheckpoints) }))
	mux.HandleFunc("GET /api/plugins", m.locked(func() any { return m.pluginsLocked() }))
	mux.HandleFunc("GET /api/sandbox", m.locked(func() any { return m.sandboxLocked() }))
	mux.HandleFunc("GET /api/events", m.locked(func() any { return lastEvents(m.events, maxEvents) }))
	mux.HandleFunc("GET /api/summary", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, m.Summary()) })
	mux.HandleFunc("GET /api/batches", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("limit"))
		if err != nil || n <= 0 {
			n = 100
		}
		m.locked(func() any { return m.web.batches.last(n) })(w, r)
	})
	mux.HandleFunc("GET /api/batches/{time}", func(w http.ResponseWriter, r *http.Request) {
		t, err := strconv.ParseInt(r.PathValue("time"), 10, 64)
		if err != nil {
			http.Error(w, "a batch is named by its time in ms since the epoch", http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		d, ok := m.batchLocked(t)
		if !ok {
			http.Error(w, fmt.Sprintf("batch %d ms is not kept: the last %d batches are", t, keepBatches), http.StatusNotFound)
			return
		}
		writeJSON(w, d)
	})
	mux.HandleFunc("GET /api/live", m.live)
	mux.HandleFunc("POST /api/reload", func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			http.Error(w, "a reload must come from this server's own page (the Origin header names another site)", http.StatusForbidden)
			return
		}
		if reload == nil {
			http.Error(w, "this run cannot reload plugins", http.StatusNotImplemented)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		res, err := reload(ctx)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		status := http.StatusOK
		for _, x := range res {
			if x.Result == "refused" {
				status = http.StatusUnprocessableEntity
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(res)
	})
	return mux
}

// sameOrigin refuses a request a page of another site made the browser
// send: a request without Origin (curl, a script) is the operator's.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// locked answers with what f returns, encoded under m.mu: the batch
// records are reused slots.
func (m *Monitor) locked(f func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		writeJSON(w, f())
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// live streams each second's message as server-sent events.
func (m *Monitor) live(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	m.mu.Lock()
	ch := m.web.subscribe()
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.web.unsubscribe(ch)
		m.mu.Unlock()
	}()
	fmt.Fprint(w, ": wstream\n\n")
	fl.Flush()
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-m.web.stop:
			return
		case msg := <-ch:
			fmt.Fprintf(w, "data: %s\n\n", msg)
			fl.Flush()
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}

// status is the run's state and totals.
type status struct {
	State       string      `json:"state"`
	Error       string      `json:"error,omitempty"`
	Version     string      `json:"version"`
	Started     int64       `json:"started"` // unix ms
	Now         int64       `json:"now"`
	Batches     int64       `json:"batches"`
	LateBatches int64       `json:"lateBatches"`
	In          int64       `json:"in"`
	Out         int64       `json:"out"`
	Late        int64       `json:"late"`
	Dead        int64       `json:"dead"`
	Checkpoints int64       `json:"checkpoints"`
	LastBatch   int64       `json:"lastBatch"`
	Watermark   *int64      `json:"watermark,omitempty"`
	Lag         []lagView   `json:"lag,omitempty"`
	Rebalances  int64       `json:"rebalances"`
	GuestMs     float64     `json:"guestMs"`
	HostMs      float64     `json:"hostMs"`
	Sizes       []stateSize `json:"stateSizes"`
	// StageTotals are each stage's counters since the start.
	StageTotals []stageDelta `json:"stageTotals"`
}

type lagView struct {
	Source    string `json:"source"`
	Partition int32  `json:"partition"`
	Lag       int64  `json:"lag"`
}

func (m *Monitor) statusLocked() status {
	t := &m.tot
	s := status{State: m.state, Error: m.err, Version: m.cfg.Version, Started: m.start.UnixMilli(), Now: time.Now().UnixMilli(),
		Batches: t.batches, LateBatches: t.lateBatches, Out: t.out, Late: t.late, Dead: t.dead, Checkpoints: t.checkpoints,
		LastBatch: t.lastBatch, Watermark: t.watermark}
	for _, n := range t.in {
		s.In += n
	}
	var guest, inHost, wall time.Duration
	for _, st := range t.stages {
		guest += st.Guest
		inHost += max(st.Time-st.Guest, 0)
		wall += st.Time
	}
	s.GuestMs, s.HostMs = ms(guest), ms(inHost+max(t.procAll-wall, 0))
	for _, st := range t.state {
		s.Sizes = append(s.Sizes, stateSize{st.Keys, st.Bytes})
	}
	var zero operators.StageStats
	for _, st := range t.stages {
		s.StageTotals = append(s.StageTotals, delta(zero, st))
	}
	for _, r := range m.runs {
		for name, src := range r.sources {
			ls, ok := src.(host.LagSource)
			if !ok {
				continue
			}
			if r.role == Keyed {
				name = "repartition"
			}
			for p, lag := range ls.Lag() {
				s.Lag = append(s.Lag, lagView{name, p, lag})
			}
			s.Rebalances += ls.Rebalances()
		}
	}
	return s
}

// sandboxView is one plugin's sandbox events.
type sandboxView struct {
	Plugin   string                 `json:"plugin"`
	Events   map[string]int64       `json:"events"`
	Restarts int64                  `json:"restarts"`
	Recent   []runtime.SandboxEvent `json:"recent"`
}

func (m *Monitor) sandboxLocked() []sandboxView {
	out := []sandboxView{}
	for _, p := range m.plugins {
		sb := p.Sandbox()
		out = append(out, sandboxView{Plugin: p.Name(), Events: sb.Events, Restarts: sb.Restarts, Recent: sb.Recent})
	}
	return out
}

// pluginView is one plugin: its module and its functions' calls.
type pluginView struct {
	Path      string     `json:"path"`
	Name      string     `json:"name"`
	Module    string     `json:"module"`
	Version   string     `json:"version"`
	Language  string     `json:"language"`
	Functions []funcView `json:"functions"`
}

type funcView struct {
	Name    string  `json:"name"`
	Kind    string  `json:"kind"`
	Calls   int64   `json:"calls"`
	Items   int64   `json:"items"`
	GuestMs float64 `json:"guestMs"`
}

func (m *Monitor) pluginsLocked() []pluginView {
	out := []pluginView{}
	for _, p := range m.plugins {
		man := p.Manifest()
		v := pluginView{Path: p.Path(), Name: p.Name(), Module: man.Name, Version: man.Version, Language: man.Language}
		for _, f := range p.Funcs() {
			cs := f.Stats()
			found := false
			for i := range v.Functions {
				if v.Functions[i].Name == f.Name() {
					v.Functions[i].Calls += cs.Calls
					v.Functions[i].Items += cs.Items
					v.Functions[i].GuestMs += ms(cs.Guest)
					found = true
				}
			}
			if !found {
				v.Functions = append(v.Functions, funcView{Name: f.Name(), Kind: kindName(f.Kind()), Calls: cs.Calls, Items: cs.Items, GuestMs: ms(cs.Guest)})
			}
		}
		out = append(out, v)
	}
	return out
}

func kindName(k abi.Kind) string { return string(k) }

// batchDetail is one batch's page.
type batchDetail struct {
	*batchRecord
	Sandbox []runtime.SandboxEvent `json:"sandbox"`
}

func (m *Monitor) batchLocked(t int64) (batchDetail, bool) {
	for _, b := range m.web.batches.last(keepBatches) {
		if b.Time != t {
			continue
		}
		d := batchDetail{batchRecord: b, Sandbox: []runtime.SandboxEvent{}}
		from, to := time.UnixMilli(b.Start), time.UnixMilli(b.Start).Add(time.Duration(b.ProcMs*float64(time.Millisecond))+time.Millisecond)
		for _, p := range m.plugins {
			for _, e := range p.Sandbox().Recent {
				if !e.Time.Before(from) && !e.Time.After(to) {
					d.Sandbox = append(d.Sandbox, e)
				}
			}
		}
		return d, true
	}
	return batchDetail{}, false
}

// snapshot is everything the UI shows, for its first load.
type snapshot struct {
	Pipeline    Pipeline           `json:"pipeline"`
	Status      status             `json:"status"`
	Series      []*second          `json:"series"`
	Batches     []*batchRecord     `json:"batches"`
	Checkpoints []checkpointRecord `json:"checkpoints"`
	Events      []Event            `json:"events"`
	Sandbox     []sandboxView      `json:"sandbox"`
	Plugins     []pluginView       `json:"plugins"`
}

func (m *Monitor) snapshotLocked() snapshot {
	return snapshot{Pipeline: m.desc, Status: m.statusLocked(), Series: m.web.series, Batches: m.web.batches.last(100),
		Checkpoints: m.web.ckpts.last(keepCheckpoints), Events: lastEvents(m.events, maxEvents), Sandbox: m.sandboxLocked(), Plugins: m.pluginsLocked()}
}

// Server is the run's web server.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Serve listens on addr (a pipeline.HTTPAddr) and serves h until Close.
// A port already taken is an error naming the way out.
func Serve(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: %v; give another address with --http or http: in the pipeline", err)
	}
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr().String(), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn(fmt.Sprintf("http: %v", err))
		}
	}()
	return s, nil
}

// Addr is the address the server listens on (with the port it got, for
// port 0).
func (s *Server) Addr() string { return s.addr }

// Close stops the server, giving requests in flight a moment to finish.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.done
}

// Close stops the Monitor's background work and its live streams.
func (m *Monitor) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.web != nil {
		select {
		case <-m.web.stop:
		default:
			close(m.web.stop)
		}
	}
}
