package adminhttp

import (
	"net/http"
	"slices"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// statsJSON is GET /api/stats.
type statsJSON struct {
	StartedAt     string `json:"started_at"`
	UptimeSeconds int64  `json:"uptime_seconds"`
	Dataplanes    int    `json:"dataplanes_connected"`
	// ActiveConnections is the sum of the connections the data planes last reported (within
	// the last minute); null when no data plane reported its system metrics.
	ActiveConnections *int64  `json:"active_connections"`
	WebSocketsActive  int64   `json:"websockets_active"`
	Requests24h       int64   `json:"requests_24h"`
	Errors24h         int64   `json:"errors_24h"`
	ErrorRate24h      float64 `json:"error_rate_24h"`
	// RequestsPerSecond is the rate of the last complete minute.
	RequestsPerSecond float64 `json:"requests_per_second"`
	EventsDropped24h  int64   `json:"events_dropped_24h"`
}

// stats serves GET /api/stats.
func (a *trafficAPI) stats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := a.now().UTC()
	st := statsJSON{StartedAt: rfc3339(a.started), UptimeSeconds: int64(now.Sub(a.started) / time.Second)}
	for _, dp := range a.fleet.Dataplanes() {
		if dp.GetConnected() {
			st.Dataplanes++
		}
	}
	to := now.Truncate(time.Hour).Add(time.Hour)
	day, err := a.t.SumTraffic(ctx, store.TrafficQuery{Rollup: store.TotalHourly, From: to.Add(-24 * time.Hour), To: to})
	if err != nil {
		fail(w, err)
		return
	}
	if c := day[0]; c != nil {
		st.Requests24h, st.Errors24h, st.ErrorRate24h = c.Requests, c.Errors, ratio(c.ErrorRate())
	}
	minute := now.Truncate(time.Minute)
	last, err := a.t.SumTraffic(ctx, store.TrafficQuery{Rollup: store.PerMinute, From: minute.Add(-time.Minute), To: minute})
	if err != nil {
		fail(w, err)
		return
	}
	if c := last[0]; c != nil {
		st.RequestsPerSecond = ratio(float64(c.Requests) / 60)
	}
	if st.EventsDropped24h, err = a.t.DroppedEventsSince(ctx, now.Add(-24*time.Hour)); err != nil {
		fail(w, err)
		return
	}
	n, ok, err := a.t.ActiveConnections(ctx, now.Add(-time.Minute))
	if err != nil {
		fail(w, err)
		return
	}
	if ok {
		st.ActiveConnections = &n
	}
	states, err := a.t.RouteStates(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	for _, s := range states {
		st.WebSocketsActive += s.WebSockets
	}
	writeJSON(w, http.StatusOK, st)
}

// routeJSON is one route of GET /api/routes.
type routeJSON struct {
	ID           string          `json:"id"`
	Site         string          `json:"site"`
	Hosts        []string        `json:"hosts"`
	PathPrefix   string          `json:"path_prefix"`
	Backend      string          `json:"backend"`
	SourceFile   string          `json:"source_file"`
	Health       routeHealthJSON `json:"health"`
	Circuit      circuitJSON     `json:"circuit"`
	WebSockets   int64           `json:"websockets_active"`
	Requests24h  int64           `json:"requests_24h"`
	Errors24h    int64           `json:"errors_24h"`
	ErrorRate24h float64         `json:"error_rate_24h"`
	AvgMS24h     float64         `json:"avg_ms_24h"`
	P95MS24h     float64         `json:"p95_ms_24h"`
}

type routeHealthJSON struct {
	State        string   `json:"state"` // healthy, degraded, down; unknown when not checked
	Since        string   `json:"since,omitempty"`
	SuccessRatio *float64 `json:"success_ratio,omitempty"`
	LastError    string   `json:"last_error,omitempty"`
}

type circuitJSON struct {
	State    string `json:"state"` // closed, open, half-open; unknown when no data plane reported one
	Failures int64  `json:"failures,omitempty"`
}

// routes serves GET /api/routes: every route of the snapshot in force, with its state and its
// last 24 hours.
func (a *trafficAPI) routes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	snap, _ := a.fleet.Current()
	states, err := a.t.RouteStates(ctx)
	if err != nil {
		fail(w, err)
		return
	}
	to := a.now().UTC().Truncate(time.Hour).Add(time.Hour)
	traffic, err := a.t.SumTraffic(ctx, store.TrafficQuery{From: to.Add(-24 * time.Hour), To: to, Group: store.GroupRoute})
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]routeJSON, 0, len(snap.GetRoutes()))
	for _, rt := range snap.GetRoutes() {
		j := routeJSON{ID: rt.GetId(), Site: rt.GetSite(), Hosts: rt.GetHosts(), PathPrefix: rt.GetPathPrefix(),
			Backend: rt.GetBackendUrl(), SourceFile: rt.GetSourceFile(),
			Health: routeHealthJSON{State: "unknown"}, Circuit: circuitJSON{State: "unknown"}}
		if j.Hosts == nil {
			j.Hosts = []string{}
		}
		if st, ok := states[rt.GetId()]; ok {
			if st.Health != "" {
				sr := st.SuccessRatio
				j.Health = routeHealthJSON{State: st.Health, Since: rfc3339(st.HealthSince), SuccessRatio: &sr, LastError: st.HealthError}
			}
			if st.Circuit != "" {
				j.Circuit = circuitJSON{State: st.Circuit, Failures: st.CircuitFailed}
			}
			j.WebSockets = st.WebSockets
			if c := traffic[st.RouteID]; c != nil {
				j.Requests24h, j.Errors24h, j.ErrorRate24h = c.Requests, c.Errors, ratio(c.ErrorRate())
				j.AvgMS24h, j.P95MS24h = roundMS(c.AvgMS()), roundMS(c.Latency.Percentile(0.95))
			}
		}
		out = append(out, j)
	}
	slices.SortStableFunc(out, func(x, y routeJSON) int {
		switch {
		case x.ID < y.ID:
			return -1
		case x.ID > y.ID:
			return 1
		}
		return 0
	})
	writeJSON(w, http.StatusOK, map[string]any{"version": snap.GetVersion(), "routes": out})
}
