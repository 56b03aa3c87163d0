// Package ops is the data plane's operations listener: health probes for Swarm and load
// balancers, and the Prometheus metrics.
// It is not published; it listens on loopback or the overlay network.
package ops

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
)

// State is what the probes report. The zero value is "starting, not ready".
type State struct {
	started  atomic.Bool
	stopping atomic.Bool
	version  func() uint64
}

// NewState returns a State that is ready once version() is not 0 (a snapshot is applied).
func NewState(version func() uint64) *State { return &State{version: version} }

// SetStarted marks startup as finished (listeners bound, control plane client running).
func (s *State) SetStarted() { s.started.Store(true) }

// SetStopping makes readiness fail so load balancers stop sending new connections.
func (s *State) SetStopping() { s.stopping.Store(true) }

// Handler serves /health/live, /health/ready and /health/startup, the Prometheus metrics on
// /metrics when metrics is not nil, and with profiling on also Go's profiles under
// /debug/pprof/ (CPU, heap, goroutines, mutex...) for chasing a slow or growing data plane.
// Profiles name code, not requests, and metric labels name routes, not clients: neither
// carries client data.
func Handler(s *State, profiling bool, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	if profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, _ *http.Request) {
		write(w, http.StatusOK, map[string]any{"status": "alive"})
	})
	mux.HandleFunc("GET /health/startup", func(w http.ResponseWriter, _ *http.Request) {
		if !s.started.Load() {
			write(w, http.StatusServiceUnavailable, map[string]any{"status": "starting"})
			return
		}
		write(w, http.StatusOK, map[string]any{"status": "started"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, _ *http.Request) {
		v := s.version()
		switch {
		case s.stopping.Load():
			write(w, http.StatusServiceUnavailable, map[string]any{"status": "stopping", "snapshot_version": v})
		case v == 0:
			write(w, http.StatusServiceUnavailable, map[string]any{"status": "no snapshot yet"})
		default:
			write(w, http.StatusOK, map[string]any{"status": "ready", "snapshot_version": v})
		}
	})
	return mux
}

func write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the prober went away; nothing to do
}
