package store

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestLatencyBuckets(t *testing.T) {
	tests := []struct {
		ms   float64
		want int
	}{{0, 0}, {0.5, 0}, {1, 1}, {1.2, 1}, {1.25, 2}, {10, 11}, {100, 21}, {1000, 31}, {70_000, 50}, {1e9, 51}}
	for _, tt := range tests {
		if got := latencyBucket(tt.ms); got != tt.want {
			t.Errorf("latencyBucket(%v) = %d, want %d", tt.ms, got, tt.want)
		}
		lo, hi := bucketBounds(tt.want)
		if tt.want < LatencyBuckets-1 && (tt.ms < lo || tt.ms >= hi) {
			t.Errorf("%v ms is outside its bucket %d [%v, %v)", tt.ms, tt.want, lo, hi)
		}
	}
}

func TestHistogramPercentileMergesPeriods(t *testing.T) {
	// 1..1000 ms, split over two "periods" that merge by adding buckets.
	var a, b Histogram
	for ms := 1; ms <= 1000; ms++ {
		h := &a
		if ms%2 == 0 {
			h = &b
		}
		h[latencyBucket(float64(ms))]++
	}
	a.Add(&b)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		got, want := a.Percentile(q), q*1000
		if math.Abs(got-want)/want > 0.125 {
			t.Errorf("p%v = %.1f ms, want %.0f ms within 12.5%%", q*100, got, want)
		}
	}
	var empty Histogram
	if got := empty.Percentile(0.95); got != 0 {
		t.Errorf("empty p95 = %v", got)
	}
}

func TestPathPattern(t *testing.T) {
	tests := []struct{ path, want string }{
		{"", "/"},
		{"/", "/"},
		{"/api/servers", "/api/servers"},
		{"/api/servers/42/status", "/api/servers/:id/status"},
		{"/api/servers/42/status?x=1", "/api/servers/:id/status"},
		{"/u/550e8400-e29b-41d4-a716-446655440000/avatar.png", "/u/:id/avatar.png"},
		{"/blob/deadbeefcafe0123", "/blob/:id"},
		{"/users/alice@example.org", "/users/:id"},
		{"/reports/2024-11-03", "/reports/:id"},
		{"/v1/login", "/v1/login"},
		{"/static/app.js", "/static/app.js"},
		{"/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/…"},
	}
	for _, tt := range tests {
		if got := PathPattern(tt.path); got != tt.want {
			t.Errorf("PathPattern(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// rollupEvent is a request event of route at t.
func rollupEvent(route string, t time.Time, status int32, d time.Duration, ua, country string) *proxyv1.RequestEvent {
	return &proxyv1.RequestEvent{Time: timestamppb.New(t), RouteId: route, Host: "panel.example.org", Method: "GET",
		Path: "/api/servers/7", Status: status, Duration: durationpb.New(d), BytesIn: 10, BytesOut: 100,
		UserAgent: ua, Country: country}
}

func TestSaveBatchRollsUpTraffic(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "proxy.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	routes := benchRoutes(t, s, 2)
	ids, err := s.RouteIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) // a Monday
	browser := "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	b1 := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1, Requests: []*proxyv1.RequestEvent{
		rollupEvent(routes[0], h.Add(10*time.Second), 200, 10*time.Millisecond, browser, "de"),
		rollupEvent(routes[0], h.Add(20*time.Second), 503, 100*time.Millisecond, "curl/8.5.0", "DE"),
		rollupEvent(routes[0], h.Add(70*time.Second), 404, 1*time.Millisecond, "Googlebot/2.1", ""),
		rollupEvent(routes[1], h.Add(time.Hour), 200, 5*time.Millisecond, browser, "FR"),
		rollupEvent("", h, 404, time.Millisecond, browser, "FR"), // no route: not rolled up
	}}
	b1.Requests[0].Slow = "warning"
	b1.Requests[2].BlockedBy = "waf"
	b1.Requests[3].Error = "backend closed the connection" // a 200 cut short
	// The same minute again in a second batch: the upsert adds to the row.
	b2 := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 2, Requests: []*proxyv1.RequestEvent{
		rollupEvent(routes[0], h.Add(30*time.Second), 204, 20*time.Millisecond, browser, "DE"),
	}}
	for _, b := range []*proxyv1.EventBatch{b1, b2, b1} { // b1 twice: stored once
		if _, err := s.SaveBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	minutes, err := s.SumTraffic(ctx, TrafficQuery{Rollup: PerMinute, From: h, To: h.Add(2 * time.Hour), RouteID: ids[routes[0]], Group: GroupStep, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m0, m1 := minutes[h.Unix()], minutes[h.Add(time.Minute).Unix()]
	if len(minutes) != 2 || m0 == nil || m1 == nil {
		t.Fatalf("minutes = %v", minutes)
	}
	if m0.Requests != 3 || m0.Errors != 1 || m0.Slow != 1 || m0.Status != [5]int64{0, 2, 0, 0, 1} ||
		m0.BytesSent != 300 || m0.BytesReceived != 30 || m0.TimeSumUS != 130_000 || m0.Latency.Count() != 3 {
		t.Errorf("first minute = %+v", *m0)
	}
	if m1.Requests != 1 || m1.Blocked != 1 || m1.Errors != 0 || m1.Status[3] != 1 {
		t.Errorf("second minute = %+v", *m1)
	}

	byRoute, err := s.SumTraffic(ctx, TrafficQuery{From: h, To: h.Add(2 * time.Hour), Group: GroupRoute})
	if err != nil {
		t.Fatal(err)
	}
	r0, r1 := byRoute[ids[routes[0]]], byRoute[ids[routes[1]]]
	if len(byRoute) != 2 || r0.Requests != 4 || r0.Errors != 1 || r1.Requests != 1 || r1.Errors != 1 {
		t.Errorf("per route: %+v / %+v", r0, r1)
	}
	if p := r0.Latency.Percentile(1); p < 80 || p > 125 {
		t.Errorf("route 0 max percentile = %v ms, want about 100", p)
	}
	var avg float64
	if err := s.read.QueryRowContext(ctx, `SELECT avg_response_time_ms FROM analytics_hourly WHERE route_id = ? AND hour_timestamp = ?`,
		ids[routes[0]], h.Unix()).Scan(&avg); err != nil || avg != 131.0/4 {
		t.Errorf("avg_response_time_ms = %v, %v; want %v", avg, err, 131.0/4)
	}

	// The daily rows and the hourly totals over every route hold the same sums.
	day := h.Truncate(24 * time.Hour)
	daily, err := s.SumTraffic(ctx, TrafficQuery{Rollup: Daily, From: day, To: day.Add(24 * time.Hour), Group: GroupRoute})
	if err != nil {
		t.Fatal(err)
	}
	if *daily[ids[routes[0]]] != *r0 || *daily[ids[routes[1]]] != *r1 {
		t.Errorf("daily rows %+v differ from the hourly ones", daily)
	}
	totals, err := s.SumTraffic(ctx, TrafficQuery{Rollup: TotalHourly, From: h, To: h.Add(2 * time.Hour), Group: GroupStep, Step: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if c := totals[h.Unix()]; c == nil || c.Requests != 4 || totals[h.Add(time.Hour).Unix()].Requests != 1 {
		t.Errorf("hourly totals = %v", totals)
	}
	dayAgents, err := s.UserAgentClasses(ctx, Daily, day, day.Add(24*time.Hour), 0)
	if err != nil || len(dayAgents) != 3 || dayAgents[0] != (ClassCount{"browser", 3}) {
		t.Errorf("daily agents = %v, %v", dayAgents, err)
	}

	cells, err := s.SumTraffic(ctx, TrafficQuery{From: h, To: h.Add(2 * time.Hour), Group: GroupWeekday})
	if err != nil {
		t.Fatal(err)
	}
	if c := cells[1*24+14]; c == nil || c.Requests != 4 || cells[1*24+15].Requests != 1 {
		t.Errorf("heatmap cells = %v", cells)
	}

	agents, err := s.UserAgentClasses(ctx, Hourly, h, h.Add(2*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantAgents := []ClassCount{{"browser", 3}, {"api", 1}, {"bot", 1}}
	if !slicesEqual(agents, wantAgents) {
		t.Errorf("agents = %v, want %v", agents, wantAgents)
	}
	countries, err := s.Countries(ctx, Hourly, h, h.Add(2*time.Hour), ids[routes[0]], 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []ClassCount{{"DE", 3}, {"", 1}}; !slicesEqual(countries, want) {
		t.Errorf("countries = %v, want %v", countries, want)
	}

	slow, truncated, err := s.SlowRequests(ctx, h, h.Add(2*time.Hour), 0)
	if err != nil || truncated {
		t.Fatal(err, truncated)
	}
	if len(slow) != 1 || slow[0].Pattern != "/api/servers/:id" || slow[0].Count != 1 || slow[0].P99MS != 10 {
		t.Errorf("slow = %+v", slow)
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An event older than the per-minute roll-ups keep (a data plane catching up after days offline)
// is counted in its hour only: a minute row would be pruned at once.
func TestOldEventsSkipMinuteRows(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "proxy.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	routes := benchRoutes(t, s, 1)
	old, recent := now.Add(-MinuteRollupRetention-time.Hour), now.Add(-time.Hour)
	b := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1, Requests: []*proxyv1.RequestEvent{
		rollupEvent(routes[0], old, 200, time.Millisecond, "curl/8.5.0", "DE"),
		rollupEvent(routes[0], recent, 200, time.Millisecond, "curl/8.5.0", "DE"),
	}}
	if _, err := s.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    Rollup
		want int64
	}{{PerMinute, 1}, {Hourly, 2}} {
		sum, err := s.SumTraffic(ctx, TrafficQuery{Rollup: tc.r, From: now.Add(-7 * 24 * time.Hour), To: now})
		if err != nil {
			t.Fatal(err)
		}
		if got := sum[0]; got == nil || got.Requests != tc.want {
			t.Errorf("rollup %d: %v, want %d requests", tc.r, got, tc.want)
		}
	}
}

func FuzzPathPattern(f *testing.F) {
	for _, p := range []string{"/", "/api/servers/42/status?x=1", "/u/alice@example.org", "/a/b/c/d/e/f/g/h/i/j", "//x//"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		p := PathPattern(path)
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") {
			t.Fatalf("PathPattern(%q) = %q: not a path without query", path, p)
		}
		if again := PathPattern(p); again != p {
			t.Fatalf("PathPattern is not idempotent: %q -> %q -> %q", path, p, again)
		}
	})
}

// The sum of the connections each data plane last reported, read from dataplane_metrics as the
// system-metrics migration (0011) creates it; no data plane reporting: not known.
func TestActiveConnections(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "proxy.db")
	s, err := Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	if _, ok, err := s.ActiveConnections(ctx, now.Add(-time.Minute)); err != nil || ok {
		t.Fatalf("without reports: ok=%v, %v", ok, err)
	}
	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO dataplane_metrics (node_id, timestamp, active_connections, uptime_s, goroutines,
heap_bytes, rss_bytes, requests_total, events_dropped_total, event_queue_length, event_queue_capacity, websockets_active,
snapshot_version, bans_active) SELECT column1, column2, column3, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 0 FROM
(VALUES ('a', ?1 - 20, 5), ('a', ?1 - 5, 7), ('b', ?1 - 10, 3), ('c', ?1 - 600, 100))`, now.Unix())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n, ok, err := s.ActiveConnections(ctx, now.Add(-time.Minute))
	if err != nil || !ok || n != 10 { // a's latest 7 + b's 3; c stopped reporting
		t.Fatalf("ActiveConnections = %d, %v, %v; want 10", n, ok, err)
	}
}
