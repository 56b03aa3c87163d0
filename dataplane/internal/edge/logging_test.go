package edge

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

const (
	resetToken = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	jwtToken   = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
	hashSecret = "a secret of the data plane, 16+ bytes"
)

// seedLoggingPolicy is the seeds' logging section for the Pterodactyl panel, User-Agent added to
// strip_headers, with the given IP method.
func seedLoggingPolicy(ipMethod string) *proxyv1.Policy {
	return &proxyv1.Policy{Logging: &proxyv1.Logging{
		StripHeaders: []string{"Authorization", "Cookie", "User-Agent"},
		RedactPaths:  []*proxyv1.RedactPath{{Pattern: "/auth/password/reset/[^/]+", Replacement: "/auth/password/reset/[TOKEN]"}},
		MaskPii:      true,
		MaskIpMethod: ipMethod,
	}}
}

// TestLoggingPolicyInEvents sends requests with client addresses (through a trusted proxy),
// tokens and e-mail addresses through routes with and without masking, and reads the events
// as they leave the edge.
func TestLoggingPolicyInEvents(t *testing.T) {
	be := echoBackend(t, "be")
	h := newHarness(t, proxy.Options{})
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Edge: &proxyv1.Edge{TrustedProxies: []string{"127.0.0.1/32"}},
		Routes: []*proxyv1.Route{
			withPolicy(newRoute("strict", be.URL, "/", "strict.test"), seedLoggingPolicy(ipmask.FormatPrefix(16, 48))),
			withPolicy(newRoute("pii", be.URL, "/", "pii.test"), &proxyv1.Policy{Logging: &proxyv1.Logging{MaskPii: true, MaskIpMethod: "hash"}}),
			withPolicy(newRoute("open", be.URL, "/", "open.test"), &proxyv1.Policy{Logging: &proxyv1.Logging{MaskPii: false, MaskIpMethod: "none"}}),
		}}, h.pools, BuildOptions{IPHashKey: []byte(hashSecret)})
	if err != nil {
		t.Fatal(err)
	}
	h.holder.Store(rt)
	hashOf := func(ip string) string {
		m, _ := ipmask.New("hash", []byte(hashSecret))
		return m.MaskString(ip)
	}
	const ua = "Mozilla/5.0 (+mailto:bot@example.org)"
	testCases := []struct {
		desc, host, target, xff  string
		wantPath, wantIP, wantUA string
	}{
		{"strict: reset token redacted, IPv4 to /16, user agent stripped", "strict.test", "/auth/password/reset/" + resetToken + "?email=alice@example.org", "203.0.113.45",
			"/auth/password/reset/[TOKEN]", "203.0.0.0/16", ""},
		{"strict: e-mail in the path, IPv6 to /48", "strict.test", "/users/alice@example.org/profile", "2001:db8:1:2::6",
			"/users/:email/profile", "2001:db8:1::/48", ""},
		{"strict: normal path untouched, mapped IPv4", "strict.test", "/api/v1/servers/551414f2", "::ffff:198.51.100.7",
			"/api/v1/servers/551414f2", "198.51.0.0/16", ""},
		{"pii: JWT masked, e-mail in the user agent masked, IPv4 hashed", "pii.test", "/magic/" + jwtToken + "/go", "203.0.113.45",
			"/magic/:token/go", hashOf("203.0.113.45"), "Mozilla/5.0 (+mailto::email)"},
		{"pii: encoded e-mail, IPv6 hashed", "pii.test", "/u/alice%2540example.org", "2001:db8:1:2::6",
			"/u/:email", hashOf("2001:db8:1:2::6"), "Mozilla/5.0 (+mailto::email)"},
		{"open: everything kept", "open.test", "/auth/password/reset/" + resetToken, "203.0.113.45",
			"/auth/password/reset/" + resetToken, "203.0.113.45", ua},
		{"no route: built-in defaults mask e-mails and the last octet", "nowhere.test", "/users/alice@example.org", "203.0.113.45",
			"/users/:email", "203.0.113.xxx", "Mozilla/5.0 (+mailto::email)"},
	}
	for i, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			h.do(t, http.MethodGet, tc.host, tc.target, nil, http.Header{
				"X-Forwarded-For": {tc.xff}, "User-Agent": {ua},
				"Authorization": {"Bearer secret-bearer"}, "Cookie": {"session=secret-cookie"}})
			ev := h.events.wait(t, i+1)[i]
			if ev.GetPath() != tc.wantPath || ev.GetClientIp() != tc.wantIP || ev.GetUserAgent() != tc.wantUA {
				t.Errorf("event path %q, IP %q, user agent %q; want %q, %q, %q",
					ev.GetPath(), ev.GetClientIp(), ev.GetUserAgent(), tc.wantPath, tc.wantIP, tc.wantUA)
			}
		})
	}
}

// TestSecurityEventPathIsMasked: a WAF block on a route with mask_pii stores the masked path
// with the raw client address (security records keep it by design).
func TestSecurityEventPathIsMasked(t *testing.T) {
	h, sec, _ := newWAFHarness(t, &proxyv1.Waf{Enabled: true, Mode: "block", Rules: allRules()})
	rt, err := Build(&proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{withPolicy(newRoute("panel", echoBackend(t, "be").URL, "/", "panel.test"),
		&proxyv1.Policy{Waf: &proxyv1.Waf{Enabled: true, Mode: "block", Rules: allRules()}, Logging: &proxyv1.Logging{MaskPii: true}})}},
		h.pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.holder.Store(rt)
	res, _ := h.do(t, http.MethodGet, "panel.test", "/confirm/"+resetToken+"/alice@example.org?id=1%27%20OR%20%271%27=%271", nil, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", res.StatusCode)
	}
	evs := sec.all()
	if len(evs) != 1 {
		t.Fatalf("%d security events, want 1", len(evs))
	}
	if p := evs[0].GetPath(); p != "/confirm/:token/:email" {
		t.Errorf("security event path %q, want the masked one", p)
	}
	if ip := evs[0].GetClientIp(); ip != "127.0.0.1" {
		t.Errorf("security event client IP %q, want the raw 127.0.0.1", ip)
	}
}

// TestWebSocketEventsAreMasked: the open and close events of a WebSocket carry the masked path
// and client address.
func TestWebSocketEventsAreMasked(t *testing.T) {
	seenReq := make(chan *http.Request, 1)
	be := wsBackend(t, seenReq)
	h := &harness{holder: &Holder{}, pools: proxy.NewPools(proxy.Options{})}
	log := &wsLog{}
	handler, err := New(Config{Runtimes: h.holder, Events: log})
	if err != nil {
		t.Fatal(err)
	}
	h.front = httptest.NewServer(handler)
	defer h.front.Close()
	defer h.pools.Close()
	h.apply(t, 1, withPolicy(newRoute("chat", be.URL, "/", "chat.example.org"), seedLoggingPolicy("prefix:8:32")))

	conn, err := net.Dial("tcp", h.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hs := strings.Replace(wsHandshake, "GET /socket ", "GET /socket/alice@example.org/"+resetToken+" ", 1)
	if _, err := conn.Write([]byte(hs)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	<-seenReq
	if _, err := conn.Write(frameToClose()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(log.webSockets()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ws := log.webSockets()
	if len(ws) != 2 {
		t.Fatalf("%d websocket events, want 2", len(ws))
	}
	for _, ev := range ws {
		if ev.GetPath() != "/socket/:email/:token" || ev.GetClientIp() != "127.0.0.0/8" {
			t.Errorf("%s event path %q, IP %q; want the masked ones", ev.GetKind(), ev.GetPath(), ev.GetClientIp())
		}
	}
	if ev := log.wait(t, 1)[0]; ev.GetPath() != "/socket/:email/:token" || ev.GetClientIp() != "127.0.0.0/8" {
		t.Errorf("request event path %q, IP %q", ev.GetPath(), ev.GetClientIp())
	}
}

// BenchmarkEdgeLogging is BenchmarkEdgeProxy with the seeds' logging policy (a redaction and
// mask_pii) and the hash IP method, on a path where nothing is masked and on one with a token.
func BenchmarkEdgeLogging(b *testing.B) {
	backend := benchBackend(b)
	pools := proxy.NewPools(proxy.Options{})
	b.Cleanup(pools.Close)
	var holder Holder
	for _, method := range []string{"last_octet", "hash"} {
		rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{
			withPolicy(newRoute("site", backend.URL, "/", "example.org"), seedLoggingPolicy(method)),
		}}, pools, BuildOptions{IPHashKey: []byte(hashSecret)})
		if err != nil {
			b.Fatal(err)
		}
		holder.Store(rt)
		h, err := New(Config{Runtimes: &holder, Events: events.NewQueue(4096)})
		if err != nil {
			b.Fatal(err)
		}
		for _, path := range []struct{ name, target string }{
			{"clean", "/api/client/servers/551414f2/resources"},
			{"short", "/api/items"},
			{"token", "/confirm/" + resetToken},
		} {
			b.Run(method+"/"+path.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodGet, "http://example.org"+path.target, nil)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		}
	}
}
