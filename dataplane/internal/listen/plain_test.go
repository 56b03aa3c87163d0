package listen_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// acmeBackend is a stand-in ACME client answering challenges.
func acmeBackend(t *testing.T) *httptest.Server {
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend-Host", r.Host)
		w.Header().Set("X-Backend-Forwarded-Proto", r.Header.Get("X-Forwarded-Proto"))
		io.WriteString(w, "token for "+r.URL.Path)
	}))
	t.Cleanup(b.Close)
	return b
}

func TestPlainHandler(t *testing.T) {
	cs := newCerts(t)
	backend := acmeBackend(t)
	withACME := mustEdge(t, cs.all(), &proxyv1.Edge{DefaultCertificate: "fallback", AcmeChallengeBackend: backend.URL})
	noACME := mustEdge(t, cs.all(), &proxyv1.Edge{DefaultCertificate: "fallback"})
	noRedirect := mustEdge(t, cs.all(), &proxyv1.Edge{AcmeChallengeBackend: backend.URL, HttpsRedirectDisabled: true})
	deadACME := mustEdge(t, cs.all(), &proxyv1.Edge{AcmeChallengeBackend: "http://127.0.0.1:1"})

	testCases := []struct {
		desc       string
		edge       *listen.Edge
		httpsPort  int
		method     string
		target     string // request-target
		host       string
		wantStatus int
		wantLoc    string // Location, for redirects
		wantBody   string // prefix of the body
	}{
		{desc: "host with certificate redirects", edge: withACME, httpsPort: 443, target: "/a/b?x=1&y=%20", host: "www.example.org",
			wantStatus: 308, wantLoc: "https://www.example.org/a/b?x=1&y=%20"},
		{desc: "port kept when not 443", edge: withACME, httpsPort: 8443, target: "/a", host: "www.example.org:8080",
			wantStatus: 308, wantLoc: "https://www.example.org:8443/a"},
		{desc: "host normalised", edge: withACME, httpsPort: 443, target: "/", host: "WWW.Example.ORG.",
			wantStatus: 308, wantLoc: "https://www.example.org/"},
		{desc: "escaped path kept", edge: withACME, httpsPort: 443, target: "/a%2Fb/c%20d", host: "www.example.org",
			wantStatus: 308, wantLoc: "https://www.example.org/a%2Fb/c%20d"},
		{desc: "POST redirects with 308 (method kept)", edge: withACME, httpsPort: 443, method: http.MethodPost, target: "/form", host: "www.example.org",
			wantStatus: 308, wantLoc: "https://www.example.org/form"},
		{desc: "wildcard host redirects", edge: withACME, httpsPort: 443, target: "/", host: "shop.example.org",
			wantStatus: 308, wantLoc: "https://shop.example.org/"},
		{desc: "absolute-form target: redirect stays on its host", edge: withACME, httpsPort: 443, target: "http://www.example.org/p?q", host: "evil.test",
			wantStatus: 308, wantLoc: "https://www.example.org/p?q"},
		{desc: "host without certificate served plainly", edge: withACME, httpsPort: 443, target: "/x", host: "plain.test",
			wantStatus: 200, wantBody: "edge: GET plain.test /x"},
		{desc: "default certificate does not count", edge: withACME, httpsPort: 443, target: "/", host: "other.test",
			wantStatus: 200, wantBody: "edge:"},
		{desc: "IP host served plainly", edge: withACME, httpsPort: 443, target: "/", host: "127.0.0.1:80",
			wantStatus: 200, wantBody: "edge:"},
		{desc: "crafted host is not redirected", edge: withACME, httpsPort: 443, target: "/", host: "www.example.org@evil.test",
			wantStatus: 200, wantBody: "edge:"},
		{desc: "redirect disabled", edge: noRedirect, httpsPort: 443, target: "/", host: "www.example.org",
			wantStatus: 200, wantBody: "edge:"},
		{desc: "no snapshot yet: the edge answers", edge: nil, httpsPort: 443, target: "/", host: "www.example.org",
			wantStatus: 200, wantBody: "edge:"},
		{desc: "ACME challenge proxied, not redirected", edge: withACME, httpsPort: 443, target: "/.well-known/acme-challenge/tok3n", host: "www.example.org",
			wantStatus: 200, wantBody: "token for /.well-known/acme-challenge/tok3n"},
		{desc: "ACME challenge for a host without certificate", edge: withACME, httpsPort: 443, target: "/.well-known/acme-challenge/t", host: "new.test",
			wantStatus: 200, wantBody: "token for /.well-known/acme-challenge/t"},
		{desc: "ACME challenge proxied with redirects disabled", edge: noRedirect, httpsPort: 443, target: "/.well-known/acme-challenge/t", host: "www.example.org",
			wantStatus: 200, wantBody: "token for"},
		{desc: "ACME challenge without backend", edge: noACME, httpsPort: 443, target: "/.well-known/acme-challenge/t", host: "www.example.org",
			wantStatus: 404},
		{desc: "ACME challenge before the first snapshot", edge: nil, httpsPort: 443, target: "/.well-known/acme-challenge/t", host: "www.example.org",
			wantStatus: 404},
		{desc: "ACME challenge: only GET and HEAD", edge: withACME, httpsPort: 443, method: http.MethodPost, target: "/.well-known/acme-challenge/t", host: "www.example.org",
			wantStatus: 405},
		{desc: "ACME backend down", edge: deadACME, httpsPort: 443, target: "/.well-known/acme-challenge/t", host: "www.example.org",
			wantStatus: 502},
		{desc: "other well-known paths redirect", edge: withACME, httpsPort: 443, target: "/.well-known/security.txt", host: "www.example.org",
			wantStatus: 308, wantLoc: "https://www.example.org/.well-known/security.txt"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			edges := &listen.EdgeHolder{}
			edges.Store(tc.edge)
			p, err := listen.NewPlain(listen.PlainConfig{Next: echo(), Edges: edges, HTTPSPort: tc.httpsPort})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			r := httptest.NewRequest(method, tc.target, nil)
			r.Host = tc.host
			if strings.HasPrefix(tc.target, "http://") {
				r.Host = r.URL.Host // as net/http does for absolute-form requests
			}
			w := httptest.NewRecorder()
			p.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", w.Code, tc.wantStatus, w.Body.String())
			}
			if got := w.Header().Get("Location"); got != tc.wantLoc {
				t.Errorf("Location %q, want %q", got, tc.wantLoc)
			}
			if !strings.HasPrefix(w.Body.String(), tc.wantBody) {
				t.Errorf("body %q, want prefix %q", w.Body.String(), tc.wantBody)
			}
		})
	}
}

// TestPlainListener: through a real port-80 listener, a host with a certificate is redirected
// to the HTTPS listener's port, the ACME path reaches the backend with its Host, and a host
// without a certificate is served.
func TestPlainListener(t *testing.T) {
	backend := acmeBackend(t)
	e := start(t, echo(), nil)
	e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{AcmeChallengeBackend: backend.URL}))
	c := &http.Client{
		Transport:     &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errNoRedirect },
		Timeout:       5 * time.Second,
	}
	t.Cleanup(c.CloseIdleConnections)
	do := func(host, path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+e.srv.HTTPAddr().String()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := c.Do(req)
		if resp == nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	resp := do("www.example.org", "/a/b?x=1")
	if want := "https://www.example.org:" + e.tlsPort() + "/a/b?x=1"; resp.StatusCode != 308 || resp.Header.Get("Location") != want {
		t.Errorf("redirect: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp = do("www.example.org", "/.well-known/acme-challenge/abc")
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend-Host") != "www.example.org" || resp.Header.Get("X-Backend-Forwarded-Proto") != "http" {
		t.Errorf("ACME: %d, backend saw Host %q, X-Forwarded-Proto %q", resp.StatusCode, resp.Header.Get("X-Backend-Host"), resp.Header.Get("X-Backend-Forwarded-Proto"))
	}
	resp = do("plain.test", "/x")
	if resp.StatusCode != 200 || resp.Header.Get("X-Proto") != "HTTP/1.1" || resp.Header.Get("Alt-Svc") != "" {
		t.Errorf("plain host: %d %s, Alt-Svc %q", resp.StatusCode, resp.Header.Get("X-Proto"), resp.Header.Get("Alt-Svc"))
	}
}

func TestNewEdge(t *testing.T) {
	cs := newCerts(t)
	testCases := []struct {
		desc    string
		snap    *proxyv1.Snapshot
		wantErr string
	}{
		{desc: "empty snapshot", snap: &proxyv1.Snapshot{}},
		{desc: "ACME backend", snap: &proxyv1.Snapshot{Edge: &proxyv1.Edge{AcmeChallengeBackend: "http://certbot:8080"}}},
		{desc: "ACME backend with path", snap: &proxyv1.Snapshot{Edge: &proxyv1.Edge{AcmeChallengeBackend: "http://certbot/acme"}}},
		{desc: "ACME backend relative", snap: &proxyv1.Snapshot{Edge: &proxyv1.Edge{AcmeChallengeBackend: "certbot:80"}}, wantErr: "acme_challenge_backend"},
		{desc: "ACME backend ftp", snap: &proxyv1.Snapshot{Edge: &proxyv1.Edge{AcmeChallengeBackend: "ftp://certbot"}}, wantErr: "acme_challenge_backend"},
		{desc: "ACME backend with credentials", snap: &proxyv1.Snapshot{Edge: &proxyv1.Edge{AcmeChallengeBackend: "http://u:p@certbot"}}, wantErr: "acme_challenge_backend"},
		{desc: "default certificate missing", snap: &proxyv1.Snapshot{Version: 7, Certificates: cs.all(), Edge: &proxyv1.Edge{DefaultCertificate: "nope"}}, wantErr: "snapshot 7"},
		{desc: "broken certificate", snap: &proxyv1.Snapshot{Certificates: []*proxyv1.Certificate{{Name: "x", CertChainPem: []byte("x"), PrivateKeyPem: []byte("y")}}}, wantErr: `certificate "x"`},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			e, err := listen.NewEdge(tc.snap)
			if tc.wantErr == "" {
				if err != nil || e.Certs == nil {
					t.Fatalf("NewEdge: %v, %v", e, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
