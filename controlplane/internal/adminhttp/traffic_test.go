package adminhttp

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// trafficNow is the test's clock: a Monday, 30 s into minute 14:30 UTC.
var trafficNow = time.Date(2026, 11, 23, 14, 30, 30, 0, time.UTC)

const (
	appRoute = "app/app.example.org/"
	apiRoute = "api/api.example.org/"
)

const (
	firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
	iphone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	bot     = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

func trafficEvent(route, host string, at time.Time, method, path string, status int32, d time.Duration, ua, country string) *proxyv1.RequestEvent {
	return &proxyv1.RequestEvent{Time: timestamppb.New(at), RequestId: fmt.Sprintf("req-%d-%s", at.UnixNano(), path),
		RouteId: route, Host: host, Method: method, Path: path, Status: status, Duration: durationpb.New(d),
		BytesIn: 100, BytesOut: 1000, UserAgent: ua, Country: country, Backend: "http://" + strings.SplitN(host, ".", 2)[0] + ":8080"}
}

// trafficFixture stores real event batches, the way the ingest service does, and returns the
// traffic endpoints over them with the clock at trafficNow.
func trafficFixture(t *testing.T) http.Handler {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "proxy.db")
	st, err := store.Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	st.SetClock(func() time.Time { return trafficNow })
	snap := &proxyv1.Snapshot{Version: 9, Routes: []*proxyv1.Route{
		{Id: appRoute, Site: "app", Hosts: []string{"app.example.org"}, PathPrefix: "/", BackendUrl: "http://app:8080", SourceFile: "app.yaml"},
		{Id: apiRoute, Site: "api", Hosts: []string{"api.example.org"}, PathPrefix: "/", BackendUrl: "http://api:8080", SourceFile: "api.yaml"},
	}}
	if err := st.SyncRoutes(ctx, snap.Routes, trafficNow.Add(-60*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	fl := fleet.New(zaptest.NewLogger(t))
	fl.Publish(snap)

	lastMinute := trafficNow.Truncate(time.Minute).Add(-time.Minute) // 14:29
	morning := time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC)
	slowApp := trafficEvent(appRoute, "app.example.org", lastMinute.Add(30*time.Second), "GET", "/api/servers/42", 200, 2500*time.Millisecond, firefox, "DE")
	slowApp.Slow = "warning"
	slowAPI := trafficEvent(apiRoute, "api.example.org", morning.Add(time.Minute), "POST", "/v1/items/7?x=1", 200, 8*time.Second, iphone, "FR")
	slowAPI.Slow = "critical"
	failed := trafficEvent(appRoute, "app.example.org", lastMinute.Add(20*time.Second), "GET", "/", 503, 100*time.Millisecond, "curl/8.5.0", "DE")
	failed.Error = "dial tcp: connection refused"
	blocked := trafficEvent(apiRoute, "api.example.org", morning, "GET", "/wp-login.php", 403, time.Millisecond, bot, "")
	blocked.BlockedBy = "waf"
	batches := []*proxyv1.EventBatch{
		{NodeId: "dp-1", BootId: "boot-1", Sequence: 1, DroppedEvents: 5, Requests: []*proxyv1.RequestEvent{
			trafficEvent(appRoute, "app.example.org", lastMinute.Add(10*time.Second), "GET", "/", 200, 10*time.Millisecond, firefox, "DE"),
			failed, slowApp,
			blocked, slowAPI,
			trafficEvent(appRoute, "app.example.org", trafficNow.Add(-2*24*time.Hour), "GET", "/", 200, 20*time.Millisecond, firefox, "NL"),
			trafficEvent(apiRoute, "api.example.org", trafficNow.Add(-10*24*time.Hour), "GET", "/v1/items", 200, 30*time.Millisecond, "python-requests/2.32.3", "US"),
		}},
		{NodeId: "dp-1", BootId: "boot-1", Sequence: 2,
			Circuits: []*proxyv1.CircuitEvent{{Time: timestamppb.New(lastMinute), Backend: "http://app:8080", From: "closed", To: "open", Failures: 5}},
			Websockets: []*proxyv1.WebSocketEvent{{Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN, ConnectionId: "c1", RouteId: apiRoute,
				Host: "api.example.org", Path: "/ws", ConnectedAt: timestamppb.New(lastMinute)}}},
	}
	for _, b := range batches {
		if stored, err := st.SaveBatch(ctx, b); err != nil || !stored {
			t.Fatalf("SaveBatch %d = %v, %v", b.Sequence, stored, err)
		}
	}
	// The health checker (not part of this package) keeps health_state; write its row directly.
	raw, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: path, RawQuery: "_pragma=busy_timeout(5000)"}).String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `INSERT INTO health_state (route_id, backend_url, state, success_ratio, since, last_check, last_error)
SELECT route_id, 'http://app:8080', 'degraded', 0.75, ?, ?, 'GET /health: status 500' FROM routes WHERE route_key = ?`,
		trafficNow.Add(-10*time.Minute).Unix(), trafficNow.Unix(), appRoute); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	handleTraffic(mux, st, fl, trafficNow.Add(-2*time.Hour), func() time.Time { return trafficNow })
	return mux
}

// field follows a dotted path ("routes.0.health.state") through decoded JSON.
func field(v any, path string) any {
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func TestTrafficEndpoints(t *testing.T) {
	h := trafficFixture(t)
	tests := []struct {
		path   string
		status int
		want   map[string]any // dotted path -> value, as encoding/json decodes it
	}{
		{"/api/stats", 200, map[string]any{"uptime_seconds": 7200.0, "requests_24h": 5.0, "errors_24h": 1.0,
			"error_rate_24h": 0.2, "requests_per_second": 0.05, "events_dropped_24h": 5.0, "websockets_active": 1.0,
			"active_connections": nil, "started_at": "2026-11-23T12:30:30Z"}},
		{"/api/routes", 200, map[string]any{"version": 9.0, "routes.0.id": apiRoute, "routes.0.health.state": "unknown",
			"routes.0.websockets_active": 1.0, "routes.0.requests_24h": 2.0, "routes.0.circuit.state": "unknown",
			"routes.1.id": appRoute, "routes.1.site": "app", "routes.1.backend": "http://app:8080", "routes.1.hosts.0": "app.example.org",
			"routes.1.health.state": "degraded", "routes.1.health.success_ratio": 0.75, "routes.1.health.last_error": "GET /health: status 500",
			"routes.1.circuit.state": "open", "routes.1.circuit.failures": 5.0, "routes.1.requests_24h": 3.0, "routes.1.errors_24h": 1.0,
			"routes.1.error_rate_24h": 0.3333, "routes.1.avg_ms_24h": 870.0}},
		{"/api/slow-requests", 200, map[string]any{"window.period": "24h", "truncated": false,
			"endpoints.0.route": apiRoute, "endpoints.0.method": "POST", "endpoints.0.pattern": "/v1/items/:id",
			"endpoints.0.critical": 1.0, "endpoints.0.p99_ms": 8000.0,
			"endpoints.1.route": appRoute, "endpoints.1.pattern": "/api/servers/:id", "endpoints.1.count": 1.0, "endpoints.1.warning": 1.0,
			"endpoints.1.avg_ms": 2500.0, "endpoints.2": nil}},
		{"/api/slow-requests?route=" + url.QueryEscape(appRoute), 200, map[string]any{"window.route": appRoute,
			"endpoints.0.route": appRoute, "endpoints.1": nil}},
		{"/api/analytics/top-routes", 200, map[string]any{"window.from": "2026-11-22T15:00:00Z", "window.to": "2026-11-23T15:00:00Z",
			"routes.0.route": appRoute, "routes.0.requests": 3.0, "routes.0.bytes_sent": 3000.0, "routes.1.route": apiRoute, "routes.2": nil}},
		{"/api/analytics/top-routes?period=30d&limit=1", 200, map[string]any{"routes.0.route": appRoute, "routes.0.requests": 4.0, "routes.1": nil}},
		{"/api/analytics/top-routes?period=7d&route=" + url.QueryEscape(apiRoute), 200, map[string]any{"routes.0.route": apiRoute, "routes.0.requests": 2.0, "routes.1": nil}},
		{"/api/analytics/heatmap", 200, map[string]any{"timezone": "UTC", "weekdays.1": "Monday", "requests.1.14": 3.0, "requests.1.10": 2.0, "max": 3.0}},
		{"/api/analytics/heatmap?period=30d", 200, map[string]any{"requests.6.14": 1.0, "requests.5.14": 1.0}}, // 2 days ago: Saturday; 10 days ago: Friday
		{"/api/analytics/bandwidth", 200, map[string]any{"step_seconds": 3600.0, "bytes_sent": 5000.0, "bytes_received": 500.0,
			"series.0.time": "2026-11-22T15:00:00Z", "series.19.bytes_sent": 2000.0, "series.23.bytes_sent": 3000.0, "series.24": nil}},
		{"/api/analytics/bandwidth?period=30d", 200, map[string]any{"step_seconds": 86400.0, "bytes_sent": 7000.0, "series.0.time": "2026-10-25T00:00:00Z", "window.from": "2026-10-25T00:00:00Z", "window.to": "2026-11-24T00:00:00Z"}},
		{"/api/analytics/status-codes", 200, map[string]any{"requests": 5.0, "classes.2xx": 3.0, "classes.4xx": 1.0, "classes.5xx": 1.0,
			"errors": 1.0, "error_rate": 0.2, "blocked": 1.0, "series.23.classes.5xx": 1.0}},
		{"/api/analytics/response-times?route=" + url.QueryEscape(appRoute), 200, map[string]any{"requests": 3.0, "avg_ms": 870.0, "slow": 1.0,
			"histogram.0.from_ms": 9.3, "histogram.0.count": 1.0, "series.23.requests": 3.0}},
		{"/api/analytics/user-agents", 200, map[string]any{"requests": 5.0, "classes.0.name": "browser", "classes.0.count": 2.0,
			"classes.0.share": 0.4, "classes.1.name": "api", "classes.2.name": "bot", "classes.3.name": "mobile", "classes.4": nil}},
		{"/api/analytics/user-agents?period=7d&route=" + url.QueryEscape(appRoute), 200, map[string]any{"requests": 4.0, "classes.0.name": "browser",
			"classes.0.count": 3.0, "classes.2.count": 0.0}},
		{"/api/analytics/geoip", 200, map[string]any{"countries.0.name": "DE", "countries.0.count": 3.0, "countries.1.name": "unknown", "countries.2.name": "FR"}},
		{"/api/analytics/geoip?period=30d&limit=2", 200, map[string]any{"countries.1.name": "unknown", "countries.2": nil}},
		// Bad parameters.
		{"/api/stats?period=1y", 200, nil}, // stats takes no parameters
		{"/api/analytics/heatmap?period=1y", 400, map[string]any{"error": `period: "1y" is not one of 24h, 7d, 30d`}},
		{"/api/analytics/bandwidth?period=24", 400, map[string]any{"error": `period: "24" is not one of 24h, 7d, 30d`}},
		{"/api/slow-requests?period=7d&route=nope", 400, map[string]any{"error": `route: no route "nope" is known (see /api/routes)`}},
		{"/api/analytics/geoip?route=nope", 400, map[string]any{"error": `route: no route "nope" is known (see /api/routes)`}},
		{"/api/analytics/top-routes?limit=0", 400, map[string]any{"error": `limit: "0" is not a number from 1 to 100`}},
		{"/api/analytics/geoip?limit=x", 400, map[string]any{"error": `limit: "x" is not a number from 1 to 250`}},
		{"/api/analytics/status-codes?period=", 200, map[string]any{"window.period": "24h"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			var body any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, w.Body)
			}
			for path, want := range tt.want {
				if got := field(body, path); got != want {
					t.Errorf("%s = %#v, want %#v\nbody: %s", path, got, want, w.Body)
				}
			}
			if testing.Verbose() && tt.status == 200 {
				t.Logf("%s:\n%s", tt.path, w.Body)
			}
		})
	}
}
