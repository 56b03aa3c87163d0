package adminhttp

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/uaclass"
)

// Limits of the list endpoints.
const (
	topRoutesDefault, topRoutesMax = 10, 100
	countriesDefault, countriesMax = 50, 250
)

// windowJSON is the part of every analytics answer that says what it covers.
type windowJSON struct {
	Period string `json:"period"`
	From   string `json:"from"`
	To     string `json:"to"`
	Route  string `json:"route,omitempty"`
}

func (w window) json() windowJSON {
	return windowJSON{Period: w.Period, From: rfc3339(w.From), To: rfc3339(w.To), Route: w.RouteKey}
}

// sum returns the window's counters from roll-up ru, grouped as g.
func (a *trafficAPI) sum(r *http.Request, w window, ru store.Rollup, g store.Grouping) (map[int64]*store.Counters, error) {
	return a.t.SumTraffic(r.Context(), store.TrafficQuery{Rollup: ru, From: w.From, To: w.To, RouteID: w.RouteID, Group: g, Step: w.Step})
}

// steps returns the start of every step of w's series, so a series has no holes.
func (w window) steps() []int64 {
	step := int64(w.Step / time.Second)
	first := w.From.Unix() - w.From.Unix()%step
	var out []int64
	for t := first; t < w.To.Unix(); t += step {
		out = append(out, t)
	}
	return out
}

// total returns the counters of every group merged.
func total(groups map[int64]*store.Counters) store.Counters {
	var c store.Counters
	for _, g := range groups {
		c.Add(g)
	}
	return c
}

type topRouteJSON struct {
	Route         string  `json:"route"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	ErrorRate     float64 `json:"error_rate"`
	BytesSent     int64   `json:"bytes_sent"`
	BytesReceived int64   `json:"bytes_received"`
	AvgMS         float64 `json:"avg_ms"`
	P95MS         float64 `json:"p95_ms"`
}

// topRoutes serves GET /api/analytics/top-routes?period=&route=&limit=: routes by requests.
func (a *trafficAPI) topRoutes(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	limit, err := parseLimit(r, topRoutesDefault, topRoutesMax)
	if err != nil {
		fail(w, err)
		return
	}
	ru := store.Hourly
	if win.daily() {
		ru = store.Daily
	}
	groups, err := a.sum(r, win, ru, store.GroupRoute)
	if err != nil {
		fail(w, err)
		return
	}
	keys := win.routeKeys()
	out := make([]topRouteJSON, 0, len(groups))
	for id, c := range groups {
		out = append(out, topRouteJSON{Route: keys[id], Requests: c.Requests, Errors: c.Errors,
			ErrorRate: ratio(c.ErrorRate()), BytesSent: c.BytesSent, BytesReceived: c.BytesReceived,
			AvgMS: roundMS(c.AvgMS()), P95MS: roundMS(c.Latency.Percentile(0.95))})
	}
	slices.SortFunc(out, func(x, y topRouteJSON) int {
		if x.Requests != y.Requests {
			return int(y.Requests - x.Requests)
		}
		return strings.Compare(x.Route, y.Route)
	})
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "routes": out[:min(limit, len(out))]})
}

var weekdays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// heatmap serves GET /api/analytics/heatmap: requests per weekday and hour of day (UTC).
func (a *trafficAPI) heatmap(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	ru := store.Hourly
	if win.RouteID == 0 {
		ru = store.TotalHourly
	}
	groups, err := a.sum(r, win, ru, store.GroupWeekday)
	if err != nil {
		fail(w, err)
		return
	}
	cells := make([][]int64, 7)
	var peak int64
	for d := range cells {
		cells[d] = make([]int64, 24)
		for h := range cells[d] {
			if c := groups[int64(d*24+h)]; c != nil {
				cells[d][h] = c.Requests
				peak = max(peak, c.Requests)
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "timezone": "UTC", "weekdays": weekdays,
		"requests": cells, "max": peak})
}

type bandwidthPoint struct {
	Time          string `json:"time"`
	BytesSent     int64  `json:"bytes_sent"`
	BytesReceived int64  `json:"bytes_received"`
	BytesSaved    int64  `json:"bytes_saved_compression"`
}

// bandwidth serves GET /api/analytics/bandwidth: bytes each way, per step and in total.
func (a *trafficAPI) bandwidth(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	groups, err := a.sum(r, win, win.seriesRollup(), store.GroupStep)
	if err != nil {
		fail(w, err)
		return
	}
	var series []bandwidthPoint
	for _, t := range win.steps() {
		p := bandwidthPoint{Time: rfc3339(time.Unix(t, 0))}
		if c := groups[t]; c != nil {
			p.BytesSent, p.BytesReceived, p.BytesSaved = c.BytesSent, c.BytesReceived, c.BytesSaved
		}
		series = append(series, p)
	}
	tot := total(groups)
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "step_seconds": int64(win.Step / time.Second),
		"bytes_sent": tot.BytesSent, "bytes_received": tot.BytesReceived, "bytes_saved_compression": tot.BytesSaved,
		"series": series})
}

// classesJSON names the status classes.
func classesJSON(s [5]int64) map[string]int64 {
	return map[string]int64{"1xx": s[0], "2xx": s[1], "3xx": s[2], "4xx": s[3], "5xx": s[4]}
}

// statusCodes serves GET /api/analytics/status-codes: answers per status class, per step and in total.
func (a *trafficAPI) statusCodes(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	groups, err := a.sum(r, win, win.seriesRollup(), store.GroupStep)
	if err != nil {
		fail(w, err)
		return
	}
	type point struct {
		Time    string           `json:"time"`
		Classes map[string]int64 `json:"classes"`
	}
	var series []point
	for _, t := range win.steps() {
		var s [5]int64
		if c := groups[t]; c != nil {
			s = c.Status
		}
		series = append(series, point{Time: rfc3339(time.Unix(t, 0)), Classes: classesJSON(s)})
	}
	tot := total(groups)
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "step_seconds": int64(win.Step / time.Second),
		"requests": tot.Requests, "classes": classesJSON(tot.Status), "errors": tot.Errors,
		"error_rate": ratio(tot.ErrorRate()), "blocked": tot.Blocked, "series": series})
}

type bucketJSON struct {
	FromMS float64 `json:"from_ms"`
	ToMS   float64 `json:"to_ms,omitempty"` // absent on the last, open bucket
	Count  int64   `json:"count"`
}

// responseTimes serves GET /api/analytics/response-times: average and percentiles, the histogram
// they come from, and average and p95 per step.
func (a *trafficAPI) responseTimes(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	groups, err := a.sum(r, win, win.seriesRollup(), store.GroupStep)
	if err != nil {
		fail(w, err)
		return
	}
	type point struct {
		Time     string  `json:"time"`
		Requests int64   `json:"requests"`
		AvgMS    float64 `json:"avg_ms"`
		P95MS    float64 `json:"p95_ms"`
	}
	var series []point
	for _, t := range win.steps() {
		p := point{Time: rfc3339(time.Unix(t, 0))}
		if c := groups[t]; c != nil {
			p.Requests, p.AvgMS, p.P95MS = c.Requests, roundMS(c.AvgMS()), roundMS(c.Latency.Percentile(0.95))
		}
		series = append(series, p)
	}
	tot := total(groups)
	hist := []bucketJSON{}
	for i, n := range tot.Latency {
		if n == 0 {
			continue
		}
		lo, hi := store.LatencyBucketBounds(i)
		b := bucketJSON{FromMS: roundMS(lo), Count: n}
		if hi > lo {
			b.ToMS = roundMS(hi)
		}
		hist = append(hist, b)
	}
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "step_seconds": int64(win.Step / time.Second),
		"requests": tot.Requests, "avg_ms": roundMS(tot.AvgMS()), "p50_ms": roundMS(tot.Latency.Percentile(0.5)),
		"p90_ms": roundMS(tot.Latency.Percentile(0.9)), "p95_ms": roundMS(tot.Latency.Percentile(0.95)),
		"p99_ms": roundMS(tot.Latency.Percentile(0.99)), "slow": tot.Slow, "histogram": hist, "series": series})
}

type shareJSON struct {
	Name  string  `json:"name"`
	Count int64   `json:"count"`
	Share float64 `json:"share"`
}

func shares(counts []store.ClassCount) (int64, []shareJSON) {
	var tot int64
	for _, c := range counts {
		tot += c.Count
	}
	out := make([]shareJSON, 0, len(counts))
	for _, c := range counts {
		s := shareJSON{Name: c.Class, Count: c.Count}
		if tot > 0 {
			s.Share = ratio(float64(c.Count) / float64(tot))
		}
		out = append(out, s)
	}
	return tot, out
}

// userAgents serves GET /api/analytics/user-agents: requests per user-agent class.
func (a *trafficAPI) userAgents(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	counts, err := a.t.UserAgentClasses(r.Context(), win.classRollup(), win.From, win.To, win.RouteID)
	if err != nil {
		fail(w, err)
		return
	}
	for _, c := range uaclass.Classes { // every class, with 0 when there was none
		if !slices.ContainsFunc(counts, func(x store.ClassCount) bool { return x.Class == string(c) }) {
			counts = append(counts, store.ClassCount{Class: string(c)})
		}
	}
	tot, out := shares(counts)
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "requests": tot, "classes": out})
}

// geoip serves GET /api/analytics/geoip?limit=: requests per country, most first; "unknown" when
// the data plane had no GeoIP answer.
func (a *trafficAPI) geoip(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	limit, err := parseLimit(r, countriesDefault, countriesMax)
	if err != nil {
		fail(w, err)
		return
	}
	counts, err := a.t.Countries(r.Context(), win.classRollup(), win.From, win.To, win.RouteID, limit)
	if err != nil {
		fail(w, err)
		return
	}
	for i := range counts {
		if counts[i].Class == "" {
			counts[i].Class = "unknown"
		}
	}
	tot, out := shares(counts)
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "requests": tot, "countries": out})
}

type slowJSON struct {
	Route    string  `json:"route"`
	Method   string  `json:"method"`
	Pattern  string  `json:"pattern"`
	Count    int64   `json:"count"`
	Warning  int64   `json:"warning"`
	Critical int64   `json:"critical"`
	AvgMS    float64 `json:"avg_ms"`
	P95MS    float64 `json:"p95_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// slowRequests serves GET /api/slow-requests?period=&route=: per endpoint, the requests the data
// planes flagged slow.
func (a *trafficAPI) slowRequests(w http.ResponseWriter, r *http.Request) {
	win, err := a.parseWindow(r)
	if err != nil {
		fail(w, err)
		return
	}
	eps, truncated, err := a.t.SlowRequests(r.Context(), win.From, win.To, win.RouteID)
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]slowJSON, 0, len(eps))
	for _, e := range eps {
		out = append(out, slowJSON{Route: e.RouteKey, Method: e.Method, Pattern: e.Pattern, Count: e.Count,
			Warning: e.Warning, Critical: e.Critical, AvgMS: roundMS(e.AvgMS), P95MS: roundMS(e.P95MS), P99MS: roundMS(e.P99MS), MaxMS: roundMS(e.MaxMS)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"window": win.json(), "truncated": truncated, "endpoints": out})
}
