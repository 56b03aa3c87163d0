package edge

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/breaker"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/maintenance"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// newMaintenanceHarness is an edge with a maintenance holder, two routes on one counting
// backend, and the test client (127.0.0.1) as a trusted proxy, so X-Forwarded-For sets the
// client address.
func newMaintenanceHarness(t *testing.T, calls *atomic.Int64) (*harness, *maintenance.Holder) {
	t.Helper()
	h := &harness{holder: &Holder{}, events: &eventLog{}, pools: proxy.NewPools(proxy.Options{})}
	m := maintenance.NewHolder(nil)
	handler, err := New(Config{Runtimes: h.holder, Events: h.events, Maintenance: m})
	if err != nil {
		t.Fatal(err)
	}
	h.front = httptest.NewServer(handler)
	t.Cleanup(func() {
		h.front.Close()
		h.pools.Close()
	})
	backend := callCounter(t, calls)
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Edge: &proxyv1.Edge{TrustedProxies: []string{"127.0.0.1/32"}},
		Routes: []*proxyv1.Route{newRoute("panel.test/", backend.URL, "/", "panel.test"), newRoute("other.test/", backend.URL, "/", "other.test")}},
		h.pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.holder.Store(rt)
	return h, m
}

func TestMaintenanceAnswers503ExceptToTheAllowList(t *testing.T) {
	var calls atomic.Int64
	h, m := newMaintenanceHarness(t, &calls)
	from := func(ip string, accept string) http.Header {
		hd := http.Header{"X-Forwarded-For": {ip}}
		if accept != "" {
			hd.Set("Accept", accept)
		}
		return hd
	}
	if res, _ := h.do(t, "GET", "panel.test", "/", nil, from("198.51.100.9", "")); res.StatusCode != 200 {
		t.Fatalf("before any list: %d", res.StatusCode)
	}

	m.SetMaintenance(&proxyv1.MaintenanceList{Version: 1, Routes: []*proxyv1.Maintenance{{RouteId: "panel.test/",
		EndsAt: timestamppb.New(time.Now().Add(90 * time.Second)), Allow: []string{"203.0.113.0/24"}, Reason: "admin"}}})
	before := calls.Load()
	res, body := h.do(t, "GET", "panel.test", "/page", nil, from("198.51.100.9", "text/html"))
	id := res.Header.Get(requestid.Header)
	retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
	if res.StatusCode != 503 || retry < 89 || retry > 90 || id == "" || !strings.Contains(body, id) || !strings.Contains(body, "Down for maintenance") {
		t.Fatalf("in maintenance: %d, Retry-After %q, request id %q, page:\n%s", res.StatusCode, res.Header.Get("Retry-After"), id, body)
	}
	if calls.Load() != before {
		t.Fatal("the backend was called during maintenance")
	}
	ev := h.events.wait(t, 2)[1]
	if ev.GetStatus() != 503 || ev.GetBlockedBy() != "maintenance" || ev.GetError() != "maintenance" || ev.GetRequestId() != id {
		t.Fatalf("event: status %d, blocked_by %q, error %q", ev.GetStatus(), ev.GetBlockedBy(), ev.GetError())
	}

	// A JSON client gets JSON.
	res, body = h.do(t, "GET", "panel.test", "/api", nil, from("198.51.100.9", "application/json"))
	var j struct {
		Status     int    `json:"status"`
		RequestID  string `json:"request_id"`
		RetryAfter int    `json:"retry_after"`
	}
	if err := json.Unmarshal([]byte(body), &j); err != nil || res.StatusCode != 503 || j.Status != 503 || j.RequestID != res.Header.Get(requestid.Header) || j.RetryAfter < 89 {
		t.Fatalf("JSON client: %d %s (%v)", res.StatusCode, body, err)
	}

	// The allow list (after trusted_proxies) and other routes reach the backend.
	if res, body := h.do(t, "GET", "panel.test", "/", nil, from("203.0.113.77", "")); res.StatusCode != 200 || body != "ok" {
		t.Fatalf("allowed client: %d %s", res.StatusCode, body)
	}
	if res, _ := h.do(t, "GET", "other.test", "/", nil, from("198.51.100.9", "")); res.StatusCode != 200 {
		t.Fatalf("other route: %d", res.StatusCode)
	}
	// The peer itself (127.0.0.1) is not the client: a trusted proxy's address is not allowed
	// because it is the proxy's.
	m.SetMaintenance(&proxyv1.MaintenanceList{Version: 2, Routes: []*proxyv1.Maintenance{{RouteId: "panel.test/", Allow: []string{"127.0.0.1"}}}})
	if res, _ := h.do(t, "GET", "panel.test", "/", nil, from("198.51.100.9", "")); res.StatusCode != 503 {
		t.Fatalf("client behind an allowed proxy: %d", res.StatusCode)
	}

	// The administrator's page, and no known end: Retry-After 300.
	const page = "<!DOCTYPE html><title>Upgrade</title><h1>Back at 03:00</h1>"
	m.SetMaintenance(&proxyv1.MaintenanceList{Version: 3, Routes: []*proxyv1.Maintenance{{RouteId: "panel.test/", Html: page, Reason: "admin"}}})
	res, body = h.do(t, "GET", "panel.test", "/", nil, from("198.51.100.9", ""))
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "300" || body != page || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("admin page: %d Retry-After %q %q\n%s", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"), body)
	}
	// HEAD: the status and headers, no body.
	if res, body := h.do(t, "HEAD", "panel.test", "/", nil, from("198.51.100.9", "")); res.StatusCode != 503 || body != "" {
		t.Fatalf("HEAD: %d %q", res.StatusCode, body)
	}
	// The list ends: served again.
	m.SetMaintenance(&proxyv1.MaintenanceList{Version: 4})
	if res, _ := h.do(t, "GET", "panel.test", "/", nil, from("198.51.100.9", "")); res.StatusCode != 200 {
		t.Fatalf("after the list emptied: %d", res.StatusCode)
	}
}

// An open circuit shows the maintenance page, and a route the control plane lists for an open
// circuit still lets this data plane's half-open probes through, so the circuit closes when the
// backend is back (answering every request with the page would keep it open for ever).
func TestCircuitOpenShowsMaintenanceAndStillCloses(t *testing.T) {
	var calls atomic.Int64
	var failing atomic.Bool
	failing.Store(true)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer backend.Close()
	h := &harness{holder: &Holder{}, events: &eventLog{}, pools: proxy.NewPools(proxy.Options{})}
	m := maintenance.NewHolder(nil)
	handler, err := New(Config{Runtimes: h.holder, Events: h.events, Maintenance: m})
	if err != nil {
		t.Fatal(err)
	}
	h.front = httptest.NewServer(handler)
	t.Cleanup(func() { h.front.Close(); h.pools.Close() })
	rte := withPolicy(newRoute("cb.test/", backend.URL, "/", "cb.test"), &proxyv1.Policy{CircuitBreaker: &proxyv1.CircuitBreaker{
		Enabled: true, FailureThreshold: 2, SuccessThreshold: 1, Timeout: durationpb.New(100 * time.Millisecond), Window: durationpb.New(time.Minute),
	}})
	h.applyWith(t, BuildOptions{Breakers: breaker.NewRegistry(func(*proxyv1.CircuitEvent) {})}, rte)
	for range 2 {
		h.do(t, "GET", "cb.test", "/", nil, nil)
	}
	// Open: the default maintenance page, without reaching the backend.
	res, body := h.do(t, "GET", "cb.test", "/", nil, nil)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") != "300" || !strings.Contains(body, res.Header.Get("X-Request-ID")) ||
		!strings.Contains(body, "maintenance") || calls.Load() != 2 {
		t.Fatalf("open circuit: %d Retry-After %q, backend called %d times\n%s", res.StatusCode, res.Header.Get("Retry-After"), calls.Load(), body)
	}
	// Listed by the control plane with its page: that page.
	const page = "<!DOCTYPE html><title>Back soon</title>"
	m.SetMaintenance(&proxyv1.MaintenanceList{Version: 1, Routes: []*proxyv1.Maintenance{{RouteId: "cb.test/", Html: page, Reason: maintenance.ReasonCircuitOpen}}})
	if res, body := h.do(t, "GET", "cb.test", "/", nil, nil); res.StatusCode != 503 || body != page {
		t.Fatalf("listed circuit: %d\n%s", res.StatusCode, body)
	}
	// The backend is back: after the breaker's timeout its probe goes through and closes the
	// circuit, although the list still names the route.
	failing.Store(false)
	time.Sleep(150 * time.Millisecond)
	for i := range 3 {
		if res, body := h.do(t, "GET", "cb.test", "/", nil, nil); res.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d after the backend came back: %d\n%s", i, res.StatusCode, body)
		}
	}
}
