package adminhttp

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/retention"
	"github.com/proxy-manager/proxy-manager/ui"
)

// csrfToken asks h for its CSRF token the way the dashboard does.
func csrfToken(h http.Handler) string {
	r := httptest.NewRequest(http.MethodGet, "/api/csrf", nil)
	r.Host = "localhost:8080"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var v struct{ Token string }
	_ = json.Unmarshal(w.Body.Bytes(), &v)
	return v.Token
}

// TestGuard sends requests over a real socket to the admin handler with its real mutating
// endpoints (GDPR erase takes a JSON body, the retention run none) and checks which pass.
func TestGuard(t *testing.T) {
	log := zaptest.NewLogger(t)
	st := openStore(t)
	job, err := retention.New(log, st, builtinConfig{}, retention.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fleet.New(log), Config: fakeStatus{loaded: true},
		PersonalData: st, Retention: job, Audit: st, Dashboard: ui.Dashboard()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	token := csrfToken(h)
	if len(token) != 64 {
		t.Fatalf("GET /api/csrf: token %q, want 32 random bytes in hex", token)
	}
	self := "http://127.0.0.1:" + port
	const erase = `{"ip": "203.0.113.7"}`

	tests := []struct {
		desc, method, path, host string
		hdr                      []string // name, value, ...
		body                     string
		want                     int
	}{
		{desc: "curl-style JSON POST, no Origin", method: "POST", path: "/api/gdpr/erase", hdr: []string{"Content-Type", "application/json"}, body: erase, want: 200},
		{desc: "POST without a body, no Origin", method: "POST", path: "/api/retention/run", want: 200},
		{desc: "same-origin browser POST with the token", method: "POST", path: "/api/gdpr/erase",
			hdr: []string{"Content-Type", "application/json", "Origin", self, "Sec-Fetch-Site", "same-origin", CSRFHeader, token}, body: erase, want: 200},
		{desc: "same-origin browser POST without the token", method: "POST", path: "/api/gdpr/erase",
			hdr: []string{"Content-Type", "application/json", "Origin", self, "Sec-Fetch-Site", "same-origin"}, body: erase, want: 403},
		{desc: "browser POST with a wrong token", method: "POST", path: "/api/retention/run",
			hdr: []string{"Origin", self, CSRFHeader, strings.Repeat("0", 64)}, want: 403},
		{desc: "Sec-Fetch-Site alone needs the token", method: "POST", path: "/api/retention/run", hdr: []string{"Sec-Fetch-Site", "same-origin"}, want: 403},
		{desc: "cross-origin POST even with the token", method: "POST", path: "/api/gdpr/erase",
			hdr: []string{"Content-Type", "application/json", "Origin", "https://evil.example", CSRFHeader, token}, body: erase, want: 403},
		{desc: "another local origin (other port)", method: "POST", path: "/api/retention/run",
			hdr: []string{"Origin", "http://127.0.0.1:3000", CSRFHeader, token}, want: 403},
		{desc: "cross-site fetch without Origin", method: "DELETE", path: "/api/bans/203.0.113.7",
			hdr: []string{"Sec-Fetch-Site", "cross-site", CSRFHeader, token}, want: 403},
		{desc: "null Origin (sandboxed frame)", method: "POST", path: "/api/retention/run", hdr: []string{"Origin", "null"}, want: 403},
		{desc: "form body", method: "POST", path: "/api/gdpr/erase", hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, body: "ip=203.0.113.7", want: 415},
		{desc: "text/plain body (a no-preflight cross-site fetch)", method: "POST", path: "/api/gdpr/erase", hdr: []string{"Content-Type", "text/plain"}, body: erase, want: 415},
		{desc: "body without a content type", method: "POST", path: "/api/gdpr/erase", body: erase, want: 415},
		{desc: "foreign Host (DNS rebinding)", method: "GET", path: "/api/status", host: "evil.example:" + port, want: 421},
		{desc: "foreign Host on a POST", method: "POST", path: "/api/gdpr/erase", host: "evil.example", hdr: []string{"Content-Type", "application/json"}, body: erase, want: 421},
		{desc: "a LAN address is not loopback", method: "GET", path: "/api/status", host: "192.168.1.10:" + port, want: 421},
		{desc: "localhost without a port", method: "GET", path: "/api/status", host: "localhost", want: 200},
		{desc: "IPv6 loopback", method: "GET", path: "/api/status", host: "[::1]:" + port, want: 200},
		{desc: "a tunnel's other local port", method: "GET", path: "/api/status", host: "localhost:9000", want: 200},
		{desc: "same-origin GET needs no token", method: "GET", path: "/api/status", hdr: []string{"Origin", self, "Sec-Fetch-Site", "same-origin"}, want: 200},
		{desc: "cross-origin GET refused", method: "GET", path: "/api/csrf", hdr: []string{"Origin", "https://evil.example"}, want: 403},
		{desc: "the token to a cross-site script tag", method: "GET", path: "/api/csrf", hdr: []string{"Sec-Fetch-Site", "cross-site"}, want: 403},
		{desc: "the token to the dashboard", method: "GET", path: "/api/csrf", hdr: []string{"Sec-Fetch-Site", "same-origin"}, want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.body == "" {
				r.Body, r.ContentLength = nil, 0
			}
			if tc.host != "" {
				r.Host = tc.host
			}
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				r.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, b, tc.want)
			}
			if resp.StatusCode >= 400 && resp.StatusCode != 404 && !json.Valid(b) {
				t.Fatalf("refusal is not JSON: %s", b)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("headers %v: want a CSP that forbids framing, and nosniff", resp.Header)
			}
		})
	}
}

// TestGuardEmptyHost: a Unix-socket client (curl --unix-socket) may send no Host at all.
func TestGuardEmptyHost(t *testing.T) {
	h := Handler(testConfig(t, fakeHealth{started: true}))
	r := httptest.NewRequest(http.MethodGet, "/health/live", nil)
	r.Host = ""
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Fatalf("empty Host: %d %s", w.Code, w.Body)
	}
}
