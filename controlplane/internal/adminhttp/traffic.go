package adminhttp

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// Traffic reads the traffic roll-ups and what the database knows about each route;
// *store.Store is one.
type Traffic interface {
	SumTraffic(ctx context.Context, q store.TrafficQuery) (map[int64]*store.Counters, error)
	UserAgentClasses(ctx context.Context, r store.Rollup, from, to time.Time, routeID int64) ([]store.ClassCount, error)
	Countries(ctx context.Context, r store.Rollup, from, to time.Time, routeID int64, limit int) ([]store.ClassCount, error)
	SlowRequests(ctx context.Context, from, to time.Time, routeID int64) ([]store.SlowEndpoint, bool, error)
	RouteIDs(ctx context.Context) (map[string]int64, error)
	RouteStates(ctx context.Context) (map[string]store.RouteState, error)
	DroppedEventsSince(ctx context.Context, since time.Time) (int64, error)
	ActiveConnections(ctx context.Context, since time.Time) (int64, bool, error)
}

// trafficAPI serves /api/stats, /api/routes, /api/slow-requests and /api/analytics/*.
type trafficAPI struct {
	t       Traffic
	fleet   Fleet
	started time.Time
	now     func() time.Time
}

// handleTraffic registers the traffic endpoints; started is when the control plane started.
func handleTraffic(mux *http.ServeMux, t Traffic, fleet Fleet, started time.Time, now func() time.Time) {
	if t == nil {
		return
	}
	a := &trafficAPI{t: t, fleet: fleet, started: started, now: now}
	mux.HandleFunc("GET /api/stats", a.stats)
	mux.HandleFunc("GET /api/routes", a.routes)
	mux.HandleFunc("GET /api/slow-requests", a.slowRequests)
	mux.HandleFunc("GET /api/analytics/top-routes", a.topRoutes)
	mux.HandleFunc("GET /api/analytics/heatmap", a.heatmap)
	mux.HandleFunc("GET /api/analytics/bandwidth", a.bandwidth)
	mux.HandleFunc("GET /api/analytics/status-codes", a.statusCodes)
	mux.HandleFunc("GET /api/analytics/response-times", a.responseTimes)
	mux.HandleFunc("GET /api/analytics/user-agents", a.userAgents)
	mux.HandleFunc("GET /api/analytics/geoip", a.geoip)
}

// periods are the values of the period parameter: how many units (hours for 24h, UTC days for the
// others) it covers, the current one included, and the step of its series.
var periods = map[string]struct {
	unit  time.Duration
	units int
	step  time.Duration
}{
	"24h": {time.Hour, 24, time.Hour},
	"7d":  {24 * time.Hour, 7, time.Hour},
	"30d": {24 * time.Hour, 30, 24 * time.Hour},
}

// window is the time range and route a request asks about: whole hours (24h) or whole UTC days
// (7d, 30d), so that it is made of whole roll-up rows.
type window struct {
	Period   string
	From, To time.Time
	Step     time.Duration
	RouteKey string
	RouteID  int64 // 0: every route
	ids      map[string]int64
}

// badParam is an error about one query parameter: the answer is 400.
type paramError struct{ param, msg string }

func (e *paramError) Error() string { return e.param + ": " + e.msg }

// parseWindow reads period (24h by default) and route (every route by default).
func (a *trafficAPI) parseWindow(r *http.Request) (window, error) {
	q := r.URL.Query()
	w := window{Period: q.Get("period")}
	if w.Period == "" {
		w.Period = "24h"
	}
	p, ok := periods[w.Period]
	if !ok {
		return w, &paramError{"period", fmt.Sprintf("%q is not one of 24h, 7d, 30d", w.Period)}
	}
	w.To = a.now().UTC().Truncate(p.unit).Add(p.unit)
	w.From = w.To.Add(-time.Duration(p.units) * p.unit)
	w.Step = p.step
	ids, err := a.t.RouteIDs(r.Context())
	if err != nil {
		return w, err
	}
	w.ids = ids
	if key := q.Get("route"); key != "" {
		id, ok := ids[key]
		if !ok {
			return w, &paramError{"route", fmt.Sprintf("no route %q is known (see /api/routes)", key)}
		}
		w.RouteKey, w.RouteID = key, id
	}
	return w, nil
}

// daily reports whether the window is made of whole days: it can be read from the daily rows.
func (w window) daily() bool { return w.Period != "24h" }

// seriesRollup is the roll-up a series of w reads: the fewest rows that have its steps.
func (w window) seriesRollup() store.Rollup {
	switch {
	case w.Step >= 24*time.Hour:
		return store.Daily
	case w.RouteID == 0:
		return store.TotalHourly
	default:
		return store.Hourly
	}
}

// classRollup is the roll-up the user-agent and country counts of w read.
func (w window) classRollup() store.Rollup {
	if w.daily() {
		return store.Daily
	}
	return store.Hourly
}

// routeKeys inverts w.ids.
func (w window) routeKeys() map[int64]string {
	keys := make(map[int64]string, len(w.ids))
	for k, id := range w.ids {
		keys[id] = k
	}
	return keys
}

// parseLimit reads the limit parameter: def when absent, an error outside 1..max.
func parseLimit(r *http.Request, def, max int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, &paramError{"limit", fmt.Sprintf("%q is not a number from 1 to %d", s, max)}
	}
	return n, nil
}

// fail answers err: 400 for a bad parameter, 503 when the database did not answer.
func fail(w http.ResponseWriter, err error) {
	if bp, ok := err.(*paramError); ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": bp.Error()})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
}

// ms rounds a duration in milliseconds to 0.1 ms, for readable JSON.
func roundMS(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// ratio rounds a rate to 4 decimals.
func ratio(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
