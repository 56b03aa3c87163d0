package edge

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var kib = strings.Repeat("x", 1024)

func benchBackend(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, kib)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkEdgeProxy measures the whole handler (request id, route, proxy, event) against a
// backend on loopback, called directly without a front server.
func BenchmarkEdgeProxy(b *testing.B) {
	backend := benchBackend(b)
	pools := proxy.NewPools(proxy.Options{})
	b.Cleanup(pools.Close)
	var holder Holder
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{
		newRoute("site", backend.URL, "/", "example.org", "www.example.org"),
		newRoute("api", backend.URL, "/api", "example.org"),
		newRoute("wild", backend.URL, "/", "*.example.org"),
	}}, pools, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	holder.Store(rt)
	h, err := New(Config{Runtimes: &holder, Events: events.NewQueue(4096)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "http://example.org/api/items", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.Len() != len(kib) {
				b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
			}
		}
	})
}

// BenchmarkPlainReverseProxy is the floor BenchmarkEdgeProxy is compared with: the standard
// library's ReverseProxy alone, on the same kind of transport.
func BenchmarkPlainReverseProxy(b *testing.B) {
	backend := benchBackend(b)
	target, err := url.Parse(backend.URL)
	if err != nil {
		b.Fatal(err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	b.Cleanup(transport.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: transport,
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "http://example.org/api/items", nil)
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// BenchmarkMatch measures routing through a Runtime, as ServeHTTP does it.
func BenchmarkMatch(b *testing.B) {
	pools := proxy.NewPools(proxy.Options{})
	b.Cleanup(pools.Close)
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{
		newRoute("site", "http://site", "/", "example.org"),
		newRoute("api", "http://api", "/api", "example.org"),
		newRoute("wild", "http://wild", "/", "*.example.org"),
	}}, pools, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.Close)
	b.ReportAllocs()
	for b.Loop() {
		if rt.Match("shop.example.org:443", "/cart/items") == nil {
			b.Fatal("no match")
		}
	}
}

// allPolicies turns on every traffic policy of a route, as the target measures them.
func allPolicies() *proxyv1.Policy {
	d := durationpb.New
	return &proxyv1.Policy{
		Timeouts:       &proxyv1.Timeouts{Connect: d(5 * time.Second), Read: d(30 * time.Second), Write: d(30 * time.Second), Idle: d(120 * time.Second)},
		Limits:         &proxyv1.Limits{MaxRequestBody: 10 << 20, MaxRequestHeaders: 16 << 10, MaxResponseBody: 50 << 20},
		Headers:        &proxyv1.Headers{Preset: "security-strict", Request: &proxyv1.HeaderOps{Add: map[string]string{"X-Real-Client": "${client_ip}"}}},
		Compression:    &proxyv1.Compression{Enabled: true, Algorithms: []string{"gzip"}, Level: 6, MinSize: 1024},
		ConnectionPool: &proxyv1.ConnectionPool{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 256, IdleTimeout: d(90 * time.Second)},
		Retry:          &proxyv1.Retry{Enabled: true, MaxAttempts: 3, Backoff: "exponential", InitialDelay: d(100 * time.Millisecond), MaxDelay: d(2 * time.Second), RetryOn: []string{"connection_refused", "502"}},
		CircuitBreaker: &proxyv1.CircuitBreaker{Enabled: true, FailureThreshold: 5, SuccessThreshold: 2, Timeout: d(30 * time.Second), Window: d(time.Minute)},
		SlowRequest:    &proxyv1.SlowRequest{Enabled: true, Warning: d(5 * time.Second), Critical: d(10 * time.Second), Timeout: d(30 * time.Second)},
	}
}

// BenchmarkEdgeAllPolicies is BenchmarkEdgeProxy with every traffic policy on; the difference
// is what the policies cost per request. The client does not accept compression, so the
// response bytes are the same as in BenchmarkEdgeProxy.
func BenchmarkEdgeAllPolicies(b *testing.B) {
	backend := benchBackend(b)
	pools := proxy.NewPools(proxy.Options{})
	b.Cleanup(pools.Close)
	var holder Holder
	r := newRoute("api", backend.URL, "/api", "example.org")
	r.Policy = allPolicies()
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{r}}, pools, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	holder.Store(rt)
	h, err := New(Config{Runtimes: &holder, Events: events.NewQueue(4096)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "http://example.org/api/items", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.Len() != len(kib) {
				b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
			}
		}
	})
}
