package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/ratelimit"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// secHarness is an edge with a real event queue and ban set, called directly so that each
// request can come from the client address a test picks; the backends are real servers.
type secHarness struct {
	h      *Handler
	holder *Holder
	queue  *events.Queue
	bans   *bans.Set
	pools  *proxy.Pools
	table  *ratelimit.Table
}

func newSecHarness(t *testing.T) *secHarness {
	t.Helper()
	s := &secHarness{holder: &Holder{}, queue: events.NewQueue(4096), bans: bans.New(bans.Options{}),
		pools: proxy.NewPools(proxy.Options{}), table: ratelimit.NewTable(4096)}
	t.Cleanup(s.pools.Close)
	var err error
	if s.h, err = New(Config{Runtimes: s.holder, Events: s.queue, Bans: s.bans}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *secHarness) apply(t *testing.T, edge *proxyv1.Edge, routes ...*proxyv1.Route) {
	t.Helper()
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: routes, Edge: edge}, s.pools, BuildOptions{RateLimits: s.table})
	if err != nil {
		t.Fatal(err)
	}
	s.holder.Store(rt)
}

// do serves one request of client (an address without port) and returns the response and the
// request's event.
func (s *secHarness) do(t *testing.T, client, host, path string) (*http.Response, string, *proxyv1.RequestEvent) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
	req.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(client), 40000).String()
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	evs := s.queue.Take(10)
	if len(evs) != 1 {
		t.Fatalf("%d request events, want 1", len(evs))
	}
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body), evs[0]
}

func (s *secHarness) security() []*proxyv1.SecurityEvent { return s.queue.TakeSecurity(1000) }

// countingBackend answers status for paths starting with failPrefix (200 otherwise) and counts
// the requests it got.
func countingBackend(t *testing.T, failPrefix string, status int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if failPrefix != "" && strings.HasPrefix(r.URL.Path, failPrefix) {
			w.WriteHeader(status)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func rateLimited(r *proxyv1.Route, rl *proxyv1.RateLimit) *proxyv1.Route {
	return withPolicy(r, &proxyv1.Policy{RateLimit: rl})
}

func TestRateLimitAnswers429(t *testing.T) {
	backend, hits := countingBackend(t, "", 0)
	s := newSecHarness(t)
	s.apply(t, nil, rateLimited(newRoute("site", backend.URL, "/", "example.org"), &proxyv1.RateLimit{PerIp: 2}))
	for range 2 {
		if res, _, _ := s.do(t, "203.0.113.5", "example.org", "/"); res.StatusCode != 200 {
			t.Fatalf("status %d under the limit", res.StatusCode)
		}
	}
	for i := range 5 {
		res, body, ev := s.do(t, "203.0.113.5", "example.org", "/")
		if res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d over the limit", res.StatusCode)
		}
		ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 90 {
			t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
		}
		id := res.Header.Get(requestid.Header)
		if id == "" || !strings.Contains(body, id) || ev.GetRequestId() != id {
			t.Errorf("request id %q missing from the page or the event", id)
		}
		if ev.GetBlockedBy() != "rate_limit" || ev.GetStatus() != 429 || !strings.Contains(ev.GetError(), "per_ip") {
			t.Errorf("event blocked_by %q status %d error %q", ev.GetBlockedBy(), ev.GetStatus(), ev.GetError())
		}
		sec := s.security()
		if i == 0 {
			if len(sec) != 1 || sec[0].GetKind() != proxyv1.SecurityKind_SECURITY_KIND_THROTTLED || sec[0].GetRule() != "per_ip" ||
				sec[0].GetCount() != 2 || sec[0].GetClientIp() != "203.0.113.5" || sec[0].GetRequestId() != id || sec[0].GetRouteId() != "site" {
				t.Errorf("first refusal: security events %v", sec)
			}
		} else if len(sec) != 0 {
			t.Errorf("refusal %d made %d more security events; want one per client and window", i, len(sec))
		}
	}
	if hits.Load() != 2 {
		t.Errorf("backend reached %d times, want 2", hits.Load())
	}
	// Another client has its own quota.
	if res, _, _ := s.do(t, "203.0.113.6", "example.org", "/"); res.StatusCode != 200 {
		t.Errorf("another client: status %d", res.StatusCode)
	}
}

func TestViolationsBanAtTheEdge(t *testing.T) {
	backend, hits := countingBackend(t, "", 0)
	s := newSecHarness(t)
	s.apply(t, nil,
		rateLimited(newRoute("panel", backend.URL, "/", "panel.example"), &proxyv1.RateLimit{Paths: []*proxyv1.RateLimitPath{
			{Path: "/auth/*", PerIp: 1, BanAfter: 2, BanDuration: durationpb.New(time.Hour), AlertWebhook: true}}}),
		newRoute("other", backend.URL, "/", "other.example"))
	client := "198.51.100.20"
	statuses := []int{}
	for range 3 {
		res, _, _ := s.do(t, client, "panel.example", "/auth/login")
		statuses = append(statuses, res.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 429 || statuses[2] != 429 {
		t.Fatalf("statuses %v, want 200 429 429", statuses)
	}
	sec := s.security()
	var banned *proxyv1.SecurityEvent
	for _, ev := range sec {
		if ev.GetKind() == proxyv1.SecurityKind_SECURITY_KIND_BANNED {
			banned = ev
		}
	}
	if banned == nil {
		t.Fatalf("no BANNED event in %v", sec)
	}
	if until := time.Until(banned.GetBanUntil().AsTime()); until < 59*time.Minute || until > time.Hour ||
		banned.GetCount() != 2 || banned.GetRule() != "/auth/*" || !banned.GetAlertWebhook() || banned.GetAction() != "banned" ||
		banned.GetClientIp() != client || banned.GetRouteId() != "panel" || banned.GetReason() == "" {
		t.Errorf("BANNED event %v", banned)
	}
	before := hits.Load()
	for _, path := range []string{"/auth/login", "/"} {
		res, body, ev := s.do(t, client, "panel.example", path)
		id := res.Header.Get(requestid.Header)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, id) || ev.GetBlockedBy() != "ban" {
			t.Errorf("%s: status %d, blocked_by %q, page with the request id %v", path, res.StatusCode, ev.GetBlockedBy(), strings.Contains(body, id))
		}
	}
	if hits.Load() != before {
		t.Error("a banned client reached the backend")
	}
	if sec := s.security(); len(sec) != 0 {
		t.Errorf("banned requests made security events: %v", sec)
	}
	// The ban is the route's: the client still reaches another route.
	if res, _, _ := s.do(t, client, "other.example", "/"); res.StatusCode != 200 {
		t.Errorf("other route: status %d", res.StatusCode)
	}
}

func TestPushedBansAndWhitelist(t *testing.T) {
	backend, hits := countingBackend(t, "", 0)
	s := newSecHarness(t)
	s.apply(t, &proxyv1.Edge{Whitelist: []string{"192.0.2.0/24"}},
		rateLimited(newRoute("site", backend.URL, "/", "example.org"), &proxyv1.RateLimit{PerIp: 1, Whitelist: []string{"2001:db8::/32"}}),
		newRoute("plain", backend.URL, "/", "plain.example"))
	until := time.Now().Add(time.Hour)
	s.bans.SetBans(&proxyv1.BanList{Version: 1, Bans: []*proxyv1.Ban{
		{ClientIp: "203.0.113.7", ExpiresAt: timestamppb.New(until), Reason: "manual"},
		{ClientIp: "192.0.2.10", ExpiresAt: timestamppb.New(until)},   // globally whitelisted
		{ClientIp: "2001:db8::10", ExpiresAt: timestamppb.New(until)}, // whitelisted on "site"
	}})
	cases := []struct {
		client, host string
		status       int
	}{
		{"203.0.113.7", "example.org", 403},
		{"203.0.113.7", "plain.example", 403}, // a ban without a route covers every route
		{"203.0.113.8", "example.org", 200},
		{"192.0.2.10", "example.org", 200}, // the whitelist beats the ban
		{"192.0.2.10", "plain.example", 200},
		{"192.0.2.10", "example.org", 200}, // and the rate limit (per_ip 1)
		{"2001:db8::10", "example.org", 200},
		{"2001:db8::10", "example.org", 200},
		{"2001:db8::10", "plain.example", 403}, // the route's whitelist is the route's only
	}
	for _, tc := range cases {
		res, body, _ := s.do(t, tc.client, tc.host, "/")
		if res.StatusCode != tc.status {
			t.Errorf("%s on %s: status %d, want %d", tc.client, tc.host, res.StatusCode, tc.status)
		}
		if tc.status == 403 && !strings.Contains(body, "banned") {
			t.Errorf("%s: ban page %q", tc.client, body)
		}
	}
	if hits.Load() != 6 {
		t.Errorf("backend reached %d times, want 6", hits.Load())
	}
	// A new list without the ban lifts it at once.
	s.bans.SetBans(&proxyv1.BanList{Version: 2})
	if res, _, _ := s.do(t, "203.0.113.7", "example.org", "/"); res.StatusCode != 200 {
		t.Errorf("after the lift: status %d", res.StatusCode)
	}
}

func TestFailedLoginsBanAtTheEdge(t *testing.T) {
	backend, hits := countingBackend(t, "/login", http.StatusUnauthorized)
	s := newSecHarness(t)
	s.apply(t, nil, rateLimited(newRoute("vault", backend.URL, "/", "vault.example"), &proxyv1.RateLimit{
		FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/login"}, BanAfter: 3, BanDuration: durationpb.New(30 * time.Minute)}}))
	client := "203.0.113.50"
	// A successful page is no failure.
	if res, _, _ := s.do(t, client, "vault.example", "/"); res.StatusCode != 200 {
		t.Fatal("status", res.StatusCode)
	}
	for i := range 3 {
		if res, _, ev := s.do(t, client, "vault.example", "/login"); res.StatusCode != 401 || ev.GetBlockedBy() != "" {
			t.Fatalf("login %d: status %d blocked_by %q", i, res.StatusCode, ev.GetBlockedBy())
		}
	}
	var kinds []proxyv1.SecurityKind
	var banned *proxyv1.SecurityEvent
	for _, ev := range s.security() {
		kinds = append(kinds, ev.GetKind())
		if ev.GetKind() == proxyv1.SecurityKind_SECURITY_KIND_BANNED {
			banned = ev
		}
	}
	want := []proxyv1.SecurityKind{proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN, proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN,
		proxyv1.SecurityKind_SECURITY_KIND_BANNED}
	if len(kinds) != 3 || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Fatalf("security events %v, want %v", kinds, want)
	}
	if banned.GetRule() != "failed_logins" || banned.GetCount() != 3 || banned.GetReason() != "3 failed logins in 15m0s" {
		t.Errorf("BANNED event %v", banned)
	}
	before := hits.Load()
	if res, _, ev := s.do(t, client, "vault.example", "/"); res.StatusCode != 403 || ev.GetBlockedBy() != "ban" {
		t.Errorf("after the ban: status %d blocked_by %q", res.StatusCode, ev.GetBlockedBy())
	}
	if hits.Load() != before {
		t.Error("the banned client reached the backend")
	}
	// Another client's failures are its own.
	if res, _, _ := s.do(t, "203.0.113.51", "vault.example", "/login"); res.StatusCode != 401 {
		t.Errorf("another client: status %d", res.StatusCode)
	}
}

// BenchmarkSecuritySteps measures the ban check and the rate-limit check of a known client on
// a route with a ban list, per-IP, per-path and global limits: steps 3a and 3c of serve.
func BenchmarkSecuritySteps(b *testing.B) {
	set := bans.New(bans.Options{})
	var bl proxyv1.BanList
	for i := range 1000 {
		bl.Bans = append(bl.Bans, &proxyv1.Ban{ClientIp: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String(),
			ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
	}
	set.SetBans(&bl)
	h, err := New(Config{Runtimes: &Holder{}, Events: events.NewQueue(16), Bans: set})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	var calls atomic.Int64
	rl, err := ratelimit.New(&proxyv1.RateLimit{Global: 4_000_000, PerIp: 4_000_000,
		Paths: []*proxyv1.RateLimitPath{{Path: "/auth/*", PerIp: 4_000_000}}}, ratelimit.Options{RouteID: "r", Table: ratelimit.NewTable(0),
		Now: func() time.Time { // 20 µs a request: the millions of a benchmark stay under the limits
			return start.Add(time.Duration(calls.Add(20_000)))
		}})
	if err != nil {
		b.Fatal(err)
	}
	rte := &Route{id: "r", rate: rl}
	req := httptest.NewRequest(http.MethodGet, "http://example.org/index.html", nil)
	x := &exchange{r: req, clientIP: "203.0.113.9"}
	b.ReportAllocs()
	for b.Loop() {
		ip := ratelimit.ParseClient(x.clientIP)
		if h.refuseBanned(x, rte, ip) || h.refuseThrottled(x, rte, ip) {
			b.Fatal("refused")
		}
	}
}
