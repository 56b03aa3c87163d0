package headers

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func ops(add map[string]string, remove ...string) *proxyv1.HeaderOps {
	return &proxyv1.HeaderOps{Add: add, Remove: remove}
}

func mustNew(t testing.TB, cfg *proxyv1.Headers) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

var testVars = Vars{ClientIP: "203.0.113.7", RequestID: "req-1", Host: "gpanel.chilla55.de", Scheme: "https"}

// backendHeaders is what a typical PHP backend answers with.
func backendHeaders() http.Header {
	return http.Header{
		"Server":         {"nginx/1.18.0 (Ubuntu)"},
		"X-Powered-By":   {"PHP/8.1.2"},
		"Content-Type":   {"text/html; charset=UTF-8"},
		"Set-Cookie":     {"a=b"},
		"Content-Length": {"1234"},
	}
}

// The seeds' examples (000 task #25, 002 section 25), each as written.
func TestSeedPterodactyl(t *testing.T) {
	p := mustNew(t, &proxyv1.Headers{
		Request: ops(map[string]string{"X-Forwarded-Proto": "https", "X-Real-IP": "${client_ip}"}, "Cookie"),
		Response: ops(map[string]string{
			"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
			"X-Frame-Options":           "SAMEORIGIN",
			"X-Content-Type-Options":    "nosniff",
			"X-XSS-Protection":          "1; mode=block",
			"Referrer-Policy":           "strict-origin-when-cross-origin",
			"Permissions-Policy":        "geolocation=(), microphone=(), camera=()",
		}, "Server", "X-Powered-By"),
	})
	r := httptest.NewRequest("GET", "https://gpanel.chilla55.de/", nil)
	r.Header.Set("Cookie", "session=1")
	r.Header.Set("X-Real-IP", "6.6.6.6") // a client's forgery is replaced
	p.ApplyRequest(r, testVars)
	if got := r.Header.Get("X-Real-IP"); got != "203.0.113.7" {
		t.Errorf("X-Real-IP = %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto = %q", got)
	}
	if _, ok := r.Header["Cookie"]; ok {
		t.Error("Cookie was forwarded")
	}
	h := backendHeaders()
	p.ApplyResponse(h, testVars)
	want := map[string]string{
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
		"X-Frame-Options":           "SAMEORIGIN",
		"X-Content-Type-Options":    "nosniff",
		"X-Xss-Protection":          "1; mode=block",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"Permissions-Policy":        "geolocation=(), microphone=(), camera=()",
		"Content-Type":              "text/html; charset=UTF-8",
		"Set-Cookie":                "a=b",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"Server", "X-Powered-By"} {
		if _, ok := h[k]; ok {
			t.Errorf("%s was not removed", k)
		}
	}
}

func TestSeedVaultwardenCSP(t *testing.T) {
	csp := "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
	p := mustNew(t, &proxyv1.Headers{Response: ops(map[string]string{
		"Content-Security-Policy":   csp,
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
		"X-Frame-Options":           "DENY",
	})})
	h := http.Header{"Content-Security-Policy": {"default-src *"}} // the backend's is replaced
	p.ApplyResponse(h, testVars)
	if got := h.Values("Content-Security-Policy"); !slices.Equal(got, []string{csp}) {
		t.Errorf("CSP = %q", got)
	}
	if got := h.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains; preload" {
		t.Errorf("HSTS = %q", got)
	}
}

// The seed's full example: security-strict with an explicit HSTS (the same as the preset's).
func TestSeedPresetWithOverride(t *testing.T) {
	p := mustNew(t, &proxyv1.Headers{Preset: "security-strict", Response: ops(map[string]string{
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains"})})
	h := backendHeaders()
	p.ApplyResponse(h, testVars)
	if got := h.Get("Content-Security-Policy"); got != StrictCSP {
		t.Errorf("CSP = %q", got)
	}
	if got := h.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Errorf("HSTS = %q", got)
	}
}

func TestPresets(t *testing.T) {
	testCases := []struct {
		preset string
		want   map[string]string // "" means absent
	}{
		{"security-strict", map[string]string{
			"Strict-Transport-Security":   "max-age=31536000; includeSubDomains",
			"Content-Security-Policy":     "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
			"X-Frame-Options":             "DENY",
			"X-Content-Type-Options":      "nosniff",
			"Referrer-Policy":             "no-referrer",
			"Permissions-Policy":          StrictPermissionsPolicy,
			"Cross-Origin-Opener-Policy":  "same-origin",
			"Server":                      "",
			"X-Powered-By":                "",
			"Access-Control-Allow-Origin": "",
		}},
		{"security-basic", map[string]string{
			"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
			"X-Frame-Options":           "SAMEORIGIN",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "strict-origin-when-cross-origin",
			"Content-Security-Policy":   "",
			"Server":                    "",
		}},
		{"cors-permissive", map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
			"Access-Control-Max-Age":       "86400",
			"Server":                       "nginx/1.18.0 (Ubuntu)",
			"Cache-Control":                "",
		}},
		{"api", map[string]string{
			"Access-Control-Allow-Origin": "*",
			"X-Content-Type-Options":      "nosniff",
			"Cache-Control":               "no-store",
			"Content-Type":                "text/html; charset=UTF-8", // the backend's stays
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.preset, func(t *testing.T) {
			p := mustNew(t, &proxyv1.Headers{Preset: tc.preset})
			h := backendHeaders()
			p.ApplyResponse(h, testVars)
			for k, v := range tc.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestAPIPresetDefaultsContentType(t *testing.T) {
	p := mustNew(t, &proxyv1.Headers{Preset: "api"})
	h := http.Header{}
	p.ApplyResponse(h, testVars)
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
}

func TestOverrides(t *testing.T) {
	testCases := []struct {
		desc string
		cfg  *proxyv1.Headers
		want map[string]string
	}{
		{"explicit add replaces the preset's value",
			&proxyv1.Headers{Preset: "security-strict", Response: ops(map[string]string{"X-Frame-Options": "SAMEORIGIN"})},
			map[string]string{"X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "no-referrer"}},
		{"explicit remove wins over the preset's header",
			&proxyv1.Headers{Preset: "security-strict", Response: ops(nil, "Content-Security-Policy")},
			map[string]string{"Content-Security-Policy": "", "X-Frame-Options": "DENY"}},
		{"explicit remove also drops the backend's",
			&proxyv1.Headers{Preset: "security-basic", Response: ops(nil, "Set-Cookie")},
			map[string]string{"Set-Cookie": ""}},
		{"explicit add cancels the preset's removal",
			&proxyv1.Headers{Preset: "security-basic", Response: ops(map[string]string{"Server": "proxy"})},
			map[string]string{"Server": "proxy", "X-Powered-By": ""}},
		{"remove and add of one header replaces it",
			&proxyv1.Headers{Response: ops(map[string]string{"Server": "proxy"}, "server")},
			map[string]string{"Server": "proxy"}},
		{"explicit remove of the preset's CORS origin turns CORS off",
			&proxyv1.Headers{Preset: "cors-permissive", Response: ops(nil, "access-control-allow-origin")},
			map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Max-Age": "86400"}},
		{"names are case-insensitive",
			&proxyv1.Headers{Preset: "security-strict", Response: ops(map[string]string{"x-frame-options": "SAMEORIGIN"})},
			map[string]string{"X-Frame-Options": "SAMEORIGIN"}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			p := mustNew(t, tc.cfg)
			h := backendHeaders()
			p.ApplyResponse(h, testVars)
			for k, v := range tc.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
				if n := len(h.Values(k)); n > 1 {
					t.Errorf("%s has %d values", k, n)
				}
			}
		})
	}
}

func TestVariableSubstitution(t *testing.T) {
	p := mustNew(t, &proxyv1.Headers{
		Request: ops(map[string]string{
			"X-Client":  "${client_ip}",
			"X-Trace":   "id=${request_id};host=${host}",
			"X-Origin":  "${scheme}://${host}",
			"X-Dollars": "$5, $host and {x}",
		}),
		Response: ops(map[string]string{"X-Request-Echo": "${request_id}"}),
	})
	r := httptest.NewRequest("GET", "/", nil)
	p.ApplyRequest(r, testVars)
	want := map[string]string{
		"X-Client":  "203.0.113.7",
		"X-Trace":   "id=req-1;host=gpanel.chilla55.de",
		"X-Origin":  "https://gpanel.chilla55.de",
		"X-Dollars": "$5, $host and {x}",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	h := http.Header{}
	p.ApplyResponse(h, testVars)
	if got := h.Get("X-Request-Echo"); got != "req-1" {
		t.Errorf("X-Request-Echo = %q", got)
	}
}

func TestVarsFrom(t *testing.T) {
	r := httptest.NewRequest("GET", "https://example.com/", nil)
	r.Header.Set("Origin", "https://a.example")
	v := VarsFrom(r, "1.2.3.4", "id")
	if v.Scheme != "https" || v.Host != "example.com" || v.Origin != "https://a.example" || v.ClientIP != "1.2.3.4" {
		t.Errorf("VarsFrom = %+v", v)
	}
	r.TLS = nil
	if v := VarsFrom(r, "", ""); v.Scheme != "http" {
		t.Errorf("scheme = %q", v.Scheme)
	}
	r.TLS = &tls.ConnectionState{}
	if v := VarsFrom(r, "", ""); v.Scheme != "https" {
		t.Errorf("scheme = %q", v.Scheme)
	}
}

func TestRequestHost(t *testing.T) {
	p := mustNew(t, &proxyv1.Headers{Request: ops(map[string]string{"Host": "internal.local"})})
	r := httptest.NewRequest("GET", "http://public.example/", nil)
	p.ApplyRequest(r, testVars)
	if r.Host != "internal.local" {
		t.Errorf("Host = %q", r.Host)
	}
}

func TestValidation(t *testing.T) {
	testCases := []struct {
		desc    string
		cfg     *proxyv1.Headers
		wantErr string
	}{
		{"unknown preset", &proxyv1.Headers{Preset: "security-max"}, "unknown preset"},
		{"bad name", &proxyv1.Headers{Response: ops(map[string]string{"X Bad": "1"})}, "not a valid header name"},
		{"bad name in remove", &proxyv1.Headers{Request: ops(nil, "X:Bad")}, "not a valid header name"},
		{"empty name", &proxyv1.Headers{Request: ops(map[string]string{"": "1"})}, "not a valid header name"},
		{"CRLF in value", &proxyv1.Headers{Response: ops(map[string]string{"X-A": "1\r\nSet-Cookie: x=y"})}, "control character"},
		{"LF in value", &proxyv1.Headers{Request: ops(map[string]string{"X-A": "1\nB"})}, "control character"},
		{"NUL in value", &proxyv1.Headers{Request: ops(map[string]string{"X-A": "1\x00"})}, "control character"},
		{"unknown variable", &proxyv1.Headers{Request: ops(map[string]string{"X-A": "${client_port}"})}, "unknown variable"},
		{"unterminated variable", &proxyv1.Headers{Request: ops(map[string]string{"X-A": "${host"})}, "unterminated"},
		{"empty variable", &proxyv1.Headers{Request: ops(map[string]string{"X-A": "${}"})}, "empty variable"},
		{"Content-Length", &proxyv1.Headers{Response: ops(map[string]string{"Content-Length": "0"})}, "framing"},
		{"Content-Encoding removal", &proxyv1.Headers{Response: ops(nil, "content-encoding")}, "framing"},
		{"variable in CORS origin", &proxyv1.Headers{Response: ops(map[string]string{"Access-Control-Allow-Origin": "${host}"})}, "variables are not allowed"},
		{"* in an origin list", &proxyv1.Headers{Response: ops(map[string]string{"Access-Control-Allow-Origin": "https://a, *"})}, "cannot be part of a list"},
	}
	for _, name := range []string{"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade"} {
		testCases = append(testCases,
			struct {
				desc    string
				cfg     *proxyv1.Headers
				wantErr string
			}{"hop-by-hop request " + name, &proxyv1.Headers{Request: ops(map[string]string{name: "x"})}, "hop-by-hop"},
			struct {
				desc    string
				cfg     *proxyv1.Headers
				wantErr string
			}{"hop-by-hop response " + name, &proxyv1.Headers{Response: ops(map[string]string{name: "x"})}, "hop-by-hop"})
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New: err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNilAndEmpty(t *testing.T) {
	for _, cfg := range []*proxyv1.Headers{nil, {}, {Request: ops(nil), Response: ops(nil)}} {
		p := mustNew(t, cfg)
		if p != nil {
			t.Errorf("New(%v) = %v, want nil", cfg, p)
		}
		// A nil Policy does nothing.
		r := httptest.NewRequest("OPTIONS", "/", nil)
		r.Header.Set("Origin", "https://a")
		r.Header.Set("Access-Control-Request-Method", "GET")
		p.ApplyRequest(r, testVars)
		p.ApplyResponse(http.Header{}, testVars)
		if p.ServePreflight(httptest.NewRecorder(), r, testVars) {
			t.Error("a nil Policy answered a preflight")
		}
	}
}

// The seed's "API with CORS" example, and origin lists.
func TestCORS(t *testing.T) {
	seed := &proxyv1.Headers{Response: ops(map[string]string{
		"Access-Control-Allow-Origin":  "https://example.com",
		"Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
		"Access-Control-Allow-Headers": "Content-Type, Authorization",
		"Access-Control-Max-Age":       "86400",
	})}
	list := &proxyv1.Headers{Response: ops(map[string]string{
		"Access-Control-Allow-Origin": "https://a.example, https://b.example",
	})}
	testCases := []struct {
		desc       string
		cfg        *proxyv1.Headers
		method     string
		reqHeaders map[string]string
		preflight  bool
		want       map[string]string
		wantVary   []string
	}{
		{"seed preflight", seed, "OPTIONS", map[string]string{"Origin": "https://example.com", "Access-Control-Request-Method": "PUT"}, true,
			map[string]string{"Access-Control-Allow-Origin": "https://example.com", "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
				"Access-Control-Allow-Headers": "Content-Type, Authorization", "Access-Control-Max-Age": "86400"}, nil},
		{"seed simple request", seed, "GET", map[string]string{"Origin": "https://example.com"}, false,
			map[string]string{"Access-Control-Allow-Origin": "https://example.com"}, nil},
		{"OPTIONS without Access-Control-Request-Method goes to the backend", seed, "OPTIONS", map[string]string{"Origin": "https://example.com"}, false, nil, nil},
		{"OPTIONS without Origin goes to the backend", seed, "OPTIONS", map[string]string{"Access-Control-Request-Method": "GET"}, false, nil, nil},
		{"list: matching origin is echoed", list, "OPTIONS", map[string]string{"Origin": "https://b.example", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "x-token"}, true,
			map[string]string{"Access-Control-Allow-Origin": "https://b.example", "Access-Control-Allow-Methods": "DELETE", "Access-Control-Allow-Headers": "x-token"},
			[]string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}},
		{"list: other origin gets no Allow-Origin", list, "OPTIONS", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}, true,
			map[string]string{"Access-Control-Allow-Origin": ""}, []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}},
		{"list: simple request", list, "POST", map[string]string{"Origin": "https://a.example"}, false,
			map[string]string{"Access-Control-Allow-Origin": "https://a.example"}, []string{"Origin"}},
		{"list: simple request from elsewhere", list, "POST", map[string]string{"Origin": "https://evil.example"}, false,
			map[string]string{"Access-Control-Allow-Origin": ""}, []string{"Origin"}},
		{"cors-permissive preflight", &proxyv1.Headers{Preset: "cors-permissive"}, "OPTIONS", map[string]string{"Origin": "https://x", "Access-Control-Request-Method": "PATCH"}, true,
			map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": corsMethods}, nil},
		{"api preflight has no Content-Type", &proxyv1.Headers{Preset: "api"}, "OPTIONS", map[string]string{"Origin": "https://x", "Access-Control-Request-Method": "GET"}, true,
			map[string]string{"Access-Control-Allow-Origin": "*", "Content-Type": ""}, nil},
		{"no CORS configured", &proxyv1.Headers{Preset: "security-basic"}, "OPTIONS", map[string]string{"Origin": "https://x", "Access-Control-Request-Method": "GET"}, false, nil, nil},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			p := mustNew(t, tc.cfg)
			r := httptest.NewRequest(tc.method, "https://api.example.com/v1/x", nil)
			for k, v := range tc.reqHeaders {
				r.Header.Set(k, v)
			}
			vars := VarsFrom(r, "203.0.113.7", "id")
			w := httptest.NewRecorder()
			answered := p.ServePreflight(w, r, vars)
			if answered != tc.preflight {
				t.Fatalf("ServePreflight = %v, want %v", answered, tc.preflight)
			}
			h := w.Header()
			if answered {
				if w.Code != http.StatusNoContent {
					t.Errorf("status = %d, want 204", w.Code)
				}
			} else {
				h = http.Header{}
				p.ApplyResponse(h, vars)
			}
			for k, v := range tc.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := h.Values("Vary"); !slices.Equal(got, tc.wantVary) {
				t.Errorf("Vary = %q, want %q", got, tc.wantVary)
			}
		})
	}
}

// A preflight never reaches the backend, and hop-by-hop headers never do either when the
// policy runs in front of httputil.ReverseProxy, as in the edge.
func TestThroughReverseProxy(t *testing.T) {
	var backendCalls int
	var got http.Header
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		backendCalls++
		got = r.Header.Clone()
		w.Header().Set("Server", "Apache/2.4")
		w.Header().Set("X-Powered-By", "Express")
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "1")
		_, _ = w.Write([]byte("ok"))
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	p := mustNew(t, &proxyv1.Headers{Preset: "cors-permissive",
		Request:  ops(map[string]string{"X-Real-IP": "${client_ip}"}, "Cookie"),
		Response: ops(nil, "Server", "X-Powered-By")})
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
	}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := VarsFrom(r, "198.51.100.1", "rid")
		if p.ServePreflight(w, r, vars) {
			return
		}
		p.ApplyRequest(r, vars)
		rp.ModifyResponse = nil
		rp.ServeHTTP(&hookWriter{ResponseWriter: w, hook: func(h http.Header) { p.ApplyResponse(h, vars) }}, r)
	}))
	defer front.Close()

	req, _ := http.NewRequest("OPTIONS", front.URL+"/x", nil)
	req.Header.Set("Origin", "https://a")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || backendCalls != 0 || res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: status %d, backend calls %d, headers %v", res.StatusCode, backendCalls, res.Header)
	}

	req, _ = http.NewRequest("GET", front.URL+"/x", nil)
	req.Header.Set("Cookie", "s=1")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Te", "deflate") // only "trailers" passes ReverseProxy, for gRPC
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if backendCalls != 1 {
		t.Fatalf("backend calls = %d", backendCalls)
	}
	for _, k := range []string{"Cookie", "X-Hop", "Te"} {
		if v := got.Get(k); v != "" {
			t.Errorf("backend got %s: %q", k, v)
		}
	}
	if v := got.Get("X-Real-Ip"); v != "198.51.100.1" {
		t.Errorf("backend got X-Real-IP %q", v)
	}
	for _, k := range []string{"Server", "X-Powered-By", "X-Secret"} {
		if v := res.Header.Get(k); v != "" {
			t.Errorf("client got %s: %q", k, v)
		}
	}
	if res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("client got no CORS header: %v", res.Header)
	}
}

// hookWriter calls hook once before the header is written, as the edge's writer would.
type hookWriter struct {
	http.ResponseWriter
	hook func(http.Header)
	done bool
}

func (w *hookWriter) WriteHeader(code int) {
	if !w.done && code >= 200 {
		w.done = true
		w.hook(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *hookWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func BenchmarkApplyResponse(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  *proxyv1.Headers
	}{
		{"security-strict", &proxyv1.Headers{Preset: "security-strict"}},
		{"seed-pterodactyl", &proxyv1.Headers{Response: ops(map[string]string{
			"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
			"X-Frame-Options":           "SAMEORIGIN",
			"X-Content-Type-Options":    "nosniff",
			"X-XSS-Protection":          "1; mode=block",
			"Referrer-Policy":           "strict-origin-when-cross-origin",
		}, "Server", "X-Powered-By")}},
		{"templated", &proxyv1.Headers{Response: ops(map[string]string{"X-Request-Echo": "${request_id}", "X-Via": "${scheme}://${host}"})}},
		{"cors-origin-list", &proxyv1.Headers{Response: ops(map[string]string{"Access-Control-Allow-Origin": "https://a.example, https://b.example"})}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := mustNew(b, bc.cfg)
			vars := testVars
			vars.Origin = "https://b.example"
			h := make(http.Header, 16)
			server, ctype := []string{"nginx"}, []string{"text/html"}
			b.ReportAllocs()
			for b.Loop() {
				clear(h)
				h["Server"], h["Content-Type"] = server, ctype
				p.ApplyResponse(h, vars)
			}
		})
	}
}
