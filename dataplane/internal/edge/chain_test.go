package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/breaker"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// The composed chain, policy by policy, with backends that misbehave on purpose.

// applyWith serves a snapshot built with opts (circuit breakers shared through a registry).
func (h *harness) applyWith(t *testing.T, opts BuildOptions, routes ...*proxyv1.Route) {
	t.Helper()
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: routes}, h.pools, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.holder.Store(rt)
}

func TestChainRequestBodyLimit(t *testing.T) {
	var received atomic.Int64
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
	}))
	defer backend.Close()
	h := newHarness(t, proxy0())
	h.apply(t, 1, withPolicy(newRoute("up", backend.URL, "/", "up.test"), &proxyv1.Policy{Limits: &proxyv1.Limits{MaxRequestBody: 1000}}))

	// A declared length over the limit: 413 with the maximum on the page, the backend untouched.
	res, body := h.do(t, http.MethodPost, "up.test", "/", bytes.NewReader(make([]byte, 5000)), nil)
	if res.StatusCode != 413 || !strings.Contains(body, "1000 B") && !strings.Contains(body, "1 KB") || calls.Load() != 0 {
		t.Fatalf("declared 5000 bytes: %d (backend called %d times)\n%s", res.StatusCode, calls.Load(), body)
	}
	// A chunked body crossing the limit: 413, and the backend never got more than the limit.
	res, _ = h.do(t, http.MethodPost, "up.test", "/", io.MultiReader(strings.NewReader(strings.Repeat("x", 600)), strings.NewReader(strings.Repeat("y", 4000))), nil)
	if res.StatusCode != 413 {
		t.Fatalf("chunked 4600 bytes: status %d, want 413", res.StatusCode)
	}
	if got := received.Load(); got > 1000 {
		t.Fatalf("the backend received %d bytes; the limit is 1000", got)
	}
}

// proxy0 is the proxy options of these tests: defaults; each route's policy sets the rest.
func proxy0() proxy.Options { return proxy.Options{} }

func TestChainHeadersAndCORS(t *testing.T) {
	var seen http.Header
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		seen = r.Header.Clone()
		w.Header().Set("Server", "Apache/2.4.1")
		w.Header().Set("X-Powered-By", "PHP/8")
	}))
	defer backend.Close()
	h := newHarness(t, proxy0())
	h.apply(t, 1, withPolicy(newRoute("api", backend.URL, "/", "api.test"), &proxyv1.Policy{Headers: &proxyv1.Headers{
		Preset:   "security-strict",
		Request:  &proxyv1.HeaderOps{Add: map[string]string{"X-Trace": "${request_id}"}},
		Response: &proxyv1.HeaderOps{Add: map[string]string{"Access-Control-Allow-Origin": "https://example.com"}},
	}}))

	res, _ := h.do(t, http.MethodGet, "api.test", "/", nil, http.Header{"X-Request-Id": {"chain-test-id"}})
	if seen.Get("X-Trace") != "chain-test-id" {
		t.Errorf("backend saw X-Trace %q, want the request id", seen.Get("X-Trace"))
	}
	if res.Header.Get("Strict-Transport-Security") == "" || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Server") != "" || res.Header.Get("X-Powered-By") != "" {
		t.Errorf("response headers: %v", res.Header)
	}
	// Error pages get the route's headers too.
	h.apply(t, 2, withPolicy(newRoute("api", closedPort(t), "/", "api.test"), &proxyv1.Policy{Headers: &proxyv1.Headers{Preset: "security-strict"}}))
	res, _ = h.do(t, http.MethodGet, "api.test", "/", nil, nil)
	if res.StatusCode != 502 || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("error page: %d, X-Frame-Options %q", res.StatusCode, res.Header.Get("X-Frame-Options"))
	}
	// A CORS preflight is answered without the backend.
	h.apply(t, 3, withPolicy(newRoute("api", backend.URL, "/", "api.test"), &proxyv1.Policy{Headers: &proxyv1.Headers{
		Response: &proxyv1.HeaderOps{Add: map[string]string{"Access-Control-Allow-Origin": "https://example.com", "Access-Control-Allow-Methods": "GET, POST"}},
	}}))
	before := calls.Load()
	res, _ = h.do(t, http.MethodOptions, "api.test", "/x", nil, http.Header{"Origin": {"https://example.com"}, "Access-Control-Request-Method": {"POST"}})
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://example.com" || calls.Load() != before {
		t.Errorf("preflight: %d %v (backend called %d times)", res.StatusCode, res.Header, calls.Load()-before)
	}
}

func TestChainCompression(t *testing.T) {
	page := strings.Repeat("<p>hello compressible world</p>\n", 200)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	defer backend.Close()
	h := newHarness(t, proxy0())
	h.apply(t, 1, withPolicy(newRoute("site", backend.URL, "/", "site.test"), &proxyv1.Policy{Compression: &proxyv1.Compression{Enabled: true, Algorithms: []string{"gzip"}, Level: 6, MinSize: 512}}))

	req, _ := http.NewRequest(http.MethodGet, h.front.URL+"/", nil)
	req.Host = "site.test"
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("headers: %v", res.Header)
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if string(got) != page {
		t.Fatal("decompressed body differs from the backend's")
	}
	ev := h.events.wait(t, 1)[0]
	if ev.GetContentEncoding() != "gzip" || ev.GetBytesSavedCompression() <= 0 {
		t.Fatalf("event: encoding %q, saved %d", ev.GetContentEncoding(), ev.GetBytesSavedCompression())
	}
}

func TestChainRetries(t *testing.T) {
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	h := newHarness(t, proxy0())
	h.apply(t, 1, withPolicy(newRoute("r", backend.URL, "/", "r.test"), &proxyv1.Policy{Retry: &proxyv1.Retry{
		Enabled: true, MaxAttempts: 3, Backoff: "constant", InitialDelay: durationpb.New(time.Millisecond), MaxDelay: durationpb.New(time.Millisecond), RetryOn: []string{"502"},
	}}))
	res, body := h.do(t, http.MethodGet, "r.test", "/", nil, nil)
	if res.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q, want the retried 200", res.StatusCode, body)
	}
	if ev := h.events.wait(t, 1)[0]; ev.GetRetryCount() != 1 {
		t.Fatalf("event retry_count %d, want 1", ev.GetRetryCount())
	}
}

func TestChainCircuitBreaker(t *testing.T) {
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer backend.Close()
	var mu sync.Mutex
	var changes []*proxyv1.CircuitEvent
	reg := breaker.NewRegistry(func(e *proxyv1.CircuitEvent) { mu.Lock(); changes = append(changes, e); mu.Unlock() })
	h := newHarness(t, proxy0())
	rte := withPolicy(newRoute("cb", backend.URL, "/", "cb.test"), &proxyv1.Policy{CircuitBreaker: &proxyv1.CircuitBreaker{
		Enabled: true, FailureThreshold: 2, SuccessThreshold: 1, Timeout: durationpb.New(time.Hour), Window: durationpb.New(time.Minute),
	}})
	h.applyWith(t, BuildOptions{Breakers: reg}, rte)
	for i := 0; i < 2; i++ {
		if res, _ := h.do(t, http.MethodGet, "cb.test", "/", nil, nil); res.StatusCode != 503 {
			t.Fatalf("failure %d: %d, want the backend's 503", i, res.StatusCode)
		}
	}
	// Open: the next request fails fast with a 503 page, without reaching the backend, and the
	// circuit stays open through a reload of the same configuration.
	h.applyWith(t, BuildOptions{Breakers: reg}, rte)
	res, body := h.do(t, http.MethodGet, "cb.test", "/", nil, nil)
	if res.StatusCode != 503 || calls.Load() != 2 || !strings.Contains(body, res.Header.Get("X-Request-ID")) {
		t.Fatalf("open circuit: %d, backend called %d times, want 503 page and 2 calls", res.StatusCode, calls.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 1 || changes[0].GetTo() != "open" || changes[0].GetBackend() == "" {
		t.Fatalf("circuit events: %v", changes)
	}
}

func TestChainSlowRequests(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "late")
	}))
	defer backend.Close()
	h := newHarness(t, proxy0())
	h.apply(t, 1, withPolicy(newRoute("s", backend.URL, "/", "s.test"), &proxyv1.Policy{SlowRequest: &proxyv1.SlowRequest{
		Enabled: true, Warning: durationpb.New(150 * time.Millisecond), Critical: durationpb.New(600 * time.Millisecond), Timeout: durationpb.New(1500 * time.Millisecond),
	}}))
	tests := []struct {
		delay       string
		wantStatus  int
		wantSlow    string
		wantTimeout string
	}{
		{delay: "0s", wantStatus: 200},
		{delay: "300ms", wantStatus: 200, wantSlow: "warning"},
		{delay: "900ms", wantStatus: 200, wantSlow: "critical"},
		{delay: "5s", wantStatus: 504, wantSlow: "critical", wantTimeout: "slow_request"},
	}
	for i, tc := range tests {
		res, _ := h.do(t, http.MethodGet, "s.test", "/?d="+tc.delay, nil, nil)
		ev := h.events.wait(t, i+1)[i]
		if res.StatusCode != tc.wantStatus || ev.GetSlow() != tc.wantSlow || ev.GetTimeout() != tc.wantTimeout {
			t.Errorf("delay %s: status %d slow %q timeout %q; want %d %q %q", tc.delay, res.StatusCode, ev.GetSlow(), ev.GetTimeout(), tc.wantStatus, tc.wantSlow, tc.wantTimeout)
		}
	}
}

func TestChainReadTimeoutOnEvent(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer backend.Close()
	h := newHarness(t, proxy0())
	h.apply(t, 1, withPolicy(newRoute("t", backend.URL, "/", "t.test"), &proxyv1.Policy{Timeouts: &proxyv1.Timeouts{Read: durationpb.New(100 * time.Millisecond)}}))
	res, _ := h.do(t, http.MethodGet, "t.test", "/", nil, nil)
	if ev := h.events.wait(t, 1)[0]; res.StatusCode != 504 || ev.GetTimeout() != "read" {
		t.Fatalf("%d, event timeout %q; want 504 and read", res.StatusCode, ev.GetTimeout())
	}
}
