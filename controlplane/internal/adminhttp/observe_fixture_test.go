package adminhttp

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/errorlog"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/ingest"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/live"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/metrics"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/ui"
)

// obsFixture is the admin API over a real store filled by the ingest service over gRPC on
// loopback, the way data planes send their events, with the live ring and error log fed by it.
type obsFixture struct {
	h      http.Handler
	now    time.Time
	logDir string
}

// get serves target and returns the recorder.
func (f obsFixture) get(target string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "localhost:8080"
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// newObsFixture stores one batch from node-1 holding, relative to now:
//
//	requests  req-old (-2d, api 503 "backend timeout"), req-ok-1 (-10m, blog 200), req-404 (-9m,
//	          blog 404), req-502 (-8m, api 502 "dial ... refused"), req-500 (-7m, api 500),
//	          req-reset (-1m, blog 499 "client went away")
//	pools     http://api:8080 at -90s and -30s; http://blog:80 at -2h
//	websockets c1 open since -3h, c2 open since -90m, c3 -26h..-23h, c4 -2h..-1h
//	security  ban of 203.0.113.7 on api (-5m, until +1h), WAF sqli blocked from 203.0.113.7 (-4m),
//	          WAF xss logged from 203.0.113.9 (-3m), throttled 198.51.100.4 on blog (-2m, -3d)
//	system    samples at -20s (goroutines 10) and -10s (goroutines 42)
func newObsFixture(t *testing.T) obsFixture {
	t.Helper()
	log := zaptest.NewLogger(t)
	st := openStore(t)
	fl := fleet.New(log)
	now := time.Now().UTC().Truncate(time.Second)
	logDir := filepath.Join(t.TempDir(), "logs")
	el, err := errorlog.Open(errorlog.Options{Dir: logDir, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { el.Close() })
	ring := live.NewRing(live.Capacity)
	m := metrics.New(log, fl, nil, st)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	proxyv1.RegisterEventServiceServer(srv, ingest.New(log, st, fl, live.NewFeed(log, ring, el), m))
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); srv.Stop() })

	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(now.Add(d)) }
	req := func(d time.Duration, id, route, method, path string, status int32, errMsg string) *proxyv1.RequestEvent {
		return &proxyv1.RequestEvent{Time: at(d), RequestId: id, RouteId: route, Host: route + ".example.org", Method: method,
			Path: path, Status: status, Duration: durationpb.New(12 * time.Millisecond), ClientIp: "192.0.2.xxx",
			Backend: "http://" + route + ":8080", Protocol: "HTTP/2.0", Error: errMsg, BytesOut: 512}
	}
	ws := func(id, route string, from, to time.Duration) *proxyv1.WebSocketEvent {
		e := &proxyv1.WebSocketEvent{Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN, ConnectionId: id,
			RequestId: "req-ws-" + id, RouteId: route, Host: "chat.example.org", Path: "/socket", ClientIp: "192.0.2.xxx",
			ConnectedAt: at(from)}
		if to != 0 {
			e.Kind, e.DisconnectedAt, e.BytesSent, e.BytesReceived, e.CloseReason =
				proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_CLOSE, at(to), 2048, 1024, "client closed (1000)"
		}
		return e
	}
	sec := func(d time.Duration, kind proxyv1.SecurityKind, route, ip string) *proxyv1.SecurityEvent {
		return &proxyv1.SecurityEvent{Time: at(d), Kind: kind, RouteId: route, ClientIp: ip, Path: "/login", RequestId: "req-sec"}
	}
	waf := func(d time.Duration, ip, rule, action string) *proxyv1.SecurityEvent {
		e := sec(d, proxyv1.SecurityKind_SECURITY_KIND_WAF, "api", ip)
		e.Rule, e.Action, e.Pattern = rule, action, "union select"
		return e
	}
	ban := sec(-5*time.Minute, proxyv1.SecurityKind_SECURITY_KIND_BANNED, "api", "203.0.113.7")
	ban.BanUntil, ban.Reason, ban.Count = at(time.Hour), "rate limit on /login: 3 violations", 3
	throttled := func(d time.Duration) *proxyv1.SecurityEvent {
		e := sec(d, proxyv1.SecurityKind_SECURITY_KIND_THROTTLED, "blog", "198.51.100.4")
		e.Count, e.Action = 11, "throttled"
		return e
	}
	pool := func(d time.Duration, backend string, active, idle, requests, reused int64, age time.Duration) *proxyv1.PoolStats {
		return &proxyv1.PoolStats{Time: at(d), Backend: backend, Active: active, Idle: idle, Requests: requests, Reused: reused,
			AverageConnectionAge: durationpb.New(age), MaxConns: 64}
	}
	system := func(d time.Duration, goroutines int64) *proxyv1.SystemMetrics {
		return &proxyv1.SystemMetrics{Time: at(d), Uptime: durationpb.New(26 * time.Hour), ActiveConnections: 17,
			Goroutines: goroutines, HeapBytes: 48 << 20, RssBytes: 96 << 20, RequestsTotal: 123456, EventsDroppedTotal: 0,
			EventQueueLength: 3, EventQueueCapacity: 10000, WebsocketsActive: 2, SnapshotVersion: 7,
			SnapshotAppliedAt: at(-time.Hour), BansActive: 1}
	}
	batches := []*proxyv1.EventBatch{
		{NodeId: "node-1", BootId: "boot-1", Sequence: 1,
			Requests: []*proxyv1.RequestEvent{
				req(-48*time.Hour, "req-old", "api", "GET", "/old", 503, "backend timeout"),
				req(-10*time.Minute, "req-ok-1", "blog", "GET", "/", 200, ""),
				req(-9*time.Minute, "req-404", "blog", "GET", "/missing", 404, ""),
				req(-8*time.Minute, "req-502", "api", "POST", "/v1/orders", 502, "dial tcp 10.0.0.5:8080: connect: connection refused"),
				req(-7*time.Minute, "req-500", "api", "GET", "/v1/orders/7", 500, ""),
				req(-time.Minute, "req-reset", "blog", "GET", "/feed", 499, "client went away"),
			},
			Pools: []*proxyv1.PoolStats{
				pool(-2*time.Hour, "http://blog:80", 1, 2, 10, 5, time.Minute),
				pool(-90*time.Second, "http://api:8080", 3, 5, 100, 90, 30*time.Second),
				pool(-30*time.Second, "http://api:8080", 4, 4, 50, 40, 45*time.Second),
			},
			Websockets: []*proxyv1.WebSocketEvent{
				ws("c1", "chat", -3*time.Hour, 0), ws("c2", "chat", -90*time.Minute, 0),
				ws("c3", "chat", -26*time.Hour, -23*time.Hour), ws("c4", "chat", -2*time.Hour, -time.Hour),
			},
			Security: []*proxyv1.SecurityEvent{
				throttled(-72 * time.Hour), ban, waf(-4*time.Minute, "203.0.113.7", "sqli", "blocked"),
				waf(-3*time.Minute, "203.0.113.9", "xss", "logged"), throttled(-2 * time.Minute),
			},
			System: system(-20*time.Second, 10)},
		{NodeId: "node-1", BootId: "boot-1", Sequence: 2, System: system(-10*time.Second, 42)},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := proxyv1.NewEventServiceClient(conn).StreamEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if err := stream.Send(&proxyv1.StreamEventsRequest{Batch: b}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}

	cfg := Config{Health: fakeHealth{started: true}, Fleet: fl, Config: fakeStatus{loaded: true}, Logs: st, LiveLogs: ring,
		Observed: st, Metrics: m.Handler(log), Now: func() time.Time { return now }, Dashboard: ui.Dashboard()}
	return obsFixture{h: Handler(cfg), now: now, logDir: logDir}
}

// dumpExample writes a response to $API_EXAMPLES/<name>.json when that is set, for docs/API.md.
func dumpExample(t *testing.T, name string, body []byte) {
	dir := os.Getenv("API_EXAMPLES")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), body, 0o644); err != nil {
		t.Fatal(err)
	}
}
