package edge

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// TestClientIPEverywhere proves that ${client_ip}, the masked IP of the request event and the
// backend's X-Forwarded-For and X-Real-IP all use the client resolved from trusted_proxies (the
// test client connects from 127.0.0.1, which the snapshot trusts or not).
func TestClientIPEverywhere(t *testing.T) {
	testCases := []struct {
		desc    string
		trusted []string
		header  http.Header
		policy  *proxyv1.Policy // besides the ${client_ip} header
		want    string          // the client
		wantFF  string          // the backend's X-Forwarded-For
		wantEv  string          // the event's masked IP
	}{
		{desc: "untrusted peer: its spoofed X-Forwarded-For is not believed nor passed on",
			header: http.Header{"X-Forwarded-For": {"198.51.100.7"}, "X-Real-Ip": {"198.51.100.8"}},
			want:   "127.0.0.1", wantFF: "127.0.0.1", wantEv: "127.0.0.xxx"},
		{desc: "through a trusted proxy: the right-most untrusted address, the chain kept",
			trusted: []string{"127.0.0.0/8", "10.0.0.0/8"},
			header:  http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7", "10.1.1.1"}},
			want:    "198.51.100.7", wantFF: "198.51.100.7, 10.1.1.1, 127.0.0.1", wantEv: "198.51.100.xxx"},
		{desc: "X-Real-IP from a trusted proxy, through retries and the slow-request timeout",
			trusted: []string{"127.0.0.1"},
			header:  http.Header{"X-Real-Ip": {"2001:db8:1:2::7"}},
			policy: &proxyv1.Policy{
				Retry:       &proxyv1.Retry{Enabled: true, MaxAttempts: 2, RetryOn: []string{"502"}},
				SlowRequest: &proxyv1.SlowRequest{Enabled: true, Warning: durationpb.New(time.Second), Critical: durationpb.New(2 * time.Second), Timeout: durationpb.New(5 * time.Second)},
			},
			want: "2001:db8:1:2::7", wantFF: "2001:db8:1:2::7, 127.0.0.1", wantEv: "2001:db8:1:2:xxxx:xxxx:xxxx:xxxx"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, proxy.Options{})
			pol := tc.policy
			if pol == nil {
				pol = &proxyv1.Policy{}
			}
			pol.Headers = &proxyv1.Headers{Request: &proxyv1.HeaderOps{Add: map[string]string{"X-Client": "${client_ip}"}}}
			rt, err := Build(&proxyv1.Snapshot{Version: 1, Edge: &proxyv1.Edge{TrustedProxies: tc.trusted},
				Routes: []*proxyv1.Route{withPolicy(newRoute("site", echoBackend(t, "site").URL, "/", "example.org"), pol)}},
				h.pools, BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h.holder.Store(rt)
			res, body := h.do(t, http.MethodGet, "example.org", "/", nil, tc.header)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			got := decode(t, body).Header
			for k, want := range map[string]string{"X-Client": tc.want, "X-Real-Ip": tc.want, "X-Forwarded-For": tc.wantFF} {
				if v := strings.Join(got.Values(k), ", "); v != want {
					t.Errorf("backend got %s %q, want %q", k, v, want)
				}
			}
			ev := h.events.wait(t, 1)[0]
			if ev.GetClientIp() != tc.wantEv {
				t.Errorf("event client IP %q, want %q", ev.GetClientIp(), tc.wantEv)
			}
		})
	}
}

func TestBuildRefusesBadTrustedProxies(t *testing.T) {
	pools := proxy.NewPools(proxy.Options{})
	defer pools.Close()
	_, err := Build(&proxyv1.Snapshot{Version: 3, Edge: &proxyv1.Edge{TrustedProxies: []string{"10.0.0.0/8", "not-a-network"}}}, pools, BuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "not-a-network") {
		t.Fatalf("Build: %v", err)
	}
}

// BenchmarkEdgeTrustedProxy is BenchmarkEdgeProxy for a request that came through a trusted
// proxy: the X-Forwarded-For walk and the chain the backend gets are the difference.
func BenchmarkEdgeTrustedProxy(b *testing.B) {
	backend := benchBackend(b)
	pools := proxy.NewPools(proxy.Options{})
	b.Cleanup(pools.Close)
	var holder Holder
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Edge: &proxyv1.Edge{TrustedProxies: []string{"192.0.2.0/24", "10.0.0.0/8"}},
		Routes: []*proxyv1.Route{newRoute("api", backend.URL, "/api", "example.org")}}, pools, BuildOptions{})
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
			req := httptest.NewRequest(http.MethodGet, "http://example.org/api/items", nil) // from 192.0.2.1
			req.Header["X-Forwarded-For"] = []string{"198.51.100.7, 10.0.0.3"}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
