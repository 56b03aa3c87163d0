package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// tlsClients returns an HTTP/1.1-only, an HTTP/2 and an HTTP/3 client trusting pool.
func tlsClients(t *testing.T, pool *x509.CertPool, serverName string) (h1, h2 *http.Client, h3 *http.Client) {
	t.Helper()
	cfg := func() *tls.Config { return &tls.Config{RootCAs: pool, ServerName: serverName} }
	h1 = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}
	h2 = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg(), ForceAttemptHTTP2: true}}
	tr3 := &http3.Transport{TLSClientConfig: cfg()}
	h3 = &http.Client{Timeout: 10 * time.Second, Transport: tr3}
	t.Cleanup(func() {
		h1.CloseIdleConnections()
		h2.CloseIdleConnections()
		tr3.Close()
	})
	return h1, h2, h3
}

func tlsGet(cl *http.Client, addr, host, path string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Host = host
	resp, err := cl.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// Checked by 1 (issue 3): HTTP/1.1, HTTP/2 and HTTP/3 clients get the same answer through the same
// route, and HTTPS responses advertise HTTP/3.
func TestProtocols(t *testing.T) {
	a := backend(t, "A")
	ca := newTestCA(t)
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	crt, key := ca.issue(t, 100, "a.test")
	writeFile(t, filepath.Join(cl.dir, "certs", "a.test.crt"), string(crt))
	writeFile(t, filepath.Join(cl.dir, "certs", "a.test.key"), string(key))
	cl.startCP()
	cl.startDP("node-1")

	h1, h2, h3 := tlsClients(t, ca.pool, "a.test")
	_, port, _ := net.SplitHostPort(cl.tlsAddr)
	for _, c := range []struct {
		name   string
		client *http.Client
		proto  string
	}{{"HTTP/1.1", h1, "HTTP/1.1"}, {"HTTP/2", h2, "HTTP/2.0"}, {"HTTP/3", h3, "HTTP/3.0"}} {
		resp, body, err := tlsGet(c.client, cl.tlsAddr, "a.test", "/same?x=1")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if resp.StatusCode != 200 || resp.Proto != c.proto || !strings.HasPrefix(body, "backend=A path=/same ") || !strings.Contains(body, "xfp=https") {
			t.Errorf("%s: %s %d %q; want 200 from A over %s with X-Forwarded-Proto https", c.name, resp.Proto, resp.StatusCode, body, c.proto)
		}
		// Alt-Svc tells TCP clients where HTTP/3 is; a client already on HTTP/3 needs no advertisement.
		if alt := resp.Header.Get("Alt-Svc"); c.proto != "HTTP/3.0" && !strings.Contains(alt, `h3=":`+port+`"`) {
			t.Errorf("%s: Alt-Svc %q, want h3 on port %s", c.name, alt, port)
		}
	}

	// The request log knows which protocol each request came over.
	db := cl.openDB()
	eventually(t, 10*time.Second, "three protocols in request_logs", func() error {
		var n int
		err := db.QueryRow("SELECT COUNT(DISTINCT protocol) FROM request_logs WHERE path = '/same'").Scan(&n)
		if err != nil || n != 3 {
			return fmt.Errorf("%d protocols (%v)", n, err)
		}
		return nil
	})
}

// Checked by 2 (issue 3): a certbot-style renewal (new files in archive/, live/ symlinks swapped)
// is served to new handshakes within 2 s, and a connection opened before keeps working.
func TestCertificateRenewal(t *testing.T) {
	a := backend(t, "A")
	ca := newTestCA(t)
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	crt, key := ca.issue(t, 100, "a.test")
	certbotLineage(t, filepath.Join(cl.dir, "certs"), "a.test", 1, crt, key)
	cl.startCP()
	cl.startDP("node-1")
	if s, err := servedSerial(cl.tlsAddr, "a.test", ca.pool); err != nil || s != 100 {
		t.Fatalf("before renewal: serial %d (%v), want 100", s, err)
	}
	_, h2, _ := tlsClients(t, ca.pool, "a.test")
	if _, _, err := tlsGet(h2, cl.tlsAddr, "a.test", "/before"); err != nil {
		t.Fatal(err)
	}

	crt2, key2 := ca.issue(t, 200, "a.test")
	renewed := time.Now()
	certbotLineage(t, filepath.Join(cl.dir, "certs"), "a.test", 2, crt2, key2)
	eventually(t, 2*time.Second, "the renewed certificate served within 2 s", func() error {
		s, err := servedSerial(cl.tlsAddr, "a.test", ca.pool)
		if err != nil || s != 200 {
			return fmt.Errorf("serial %d (%v)", s, err)
		}
		return nil
	})
	t.Logf("renewal served after %v", time.Since(renewed).Round(time.Millisecond))

	// The HTTP/2 connection from before the renewal is still the one used, and it still works.
	var reused bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+cl.tlsAddr+"/after", nil)
	req.Host = "a.test"
	resp, err := h2.Do(req)
	if err != nil {
		t.Fatalf("request on the old connection: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !reused {
		t.Fatalf("after renewal: status %d, connection reused %v; want 200 on the connection opened before", resp.StatusCode, reused)
	}
}

// Checked by 3 (issue 3): a mismatched key/certificate pair is reported with its file names and
// does not replace the working certificate.
func TestMismatchedPairKeepsWorkingCertificate(t *testing.T) {
	a := backend(t, "A")
	ca := newTestCA(t)
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	crtPath, keyPath := filepath.Join(cl.dir, "certs", "a.test.crt"), filepath.Join(cl.dir, "certs", "a.test.key")
	crt, key := ca.issue(t, 100, "a.test")
	writeFile(t, crtPath, string(crt))
	writeFile(t, keyPath, string(key))
	cl.startCP()
	cl.startDP("node-1")

	other, _ := ca.issue(t, 300, "a.test") // a new certificate, but the old key stays: they do not match
	replaceFile(t, crtPath, string(other))
	eventually(t, 5*time.Second, "the mismatch reported with both file names", func() error {
		for _, line := range strings.Split(cl.cp.out.String(), "\n") {
			if strings.Contains(line, "a.test.crt") && strings.Contains(line, "a.test.key") && strings.Contains(line, "does not match") {
				return nil
			}
		}
		return fmt.Errorf("not logged")
	})
	for i := 0; i < 10; i++ {
		if s, err := servedSerial(cl.tlsAddr, "a.test", ca.pool); err != nil || s != 100 {
			t.Fatalf("after the broken pair: serial %d (%v), want the working 100", s, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Checked by 4 (issue 3): plain HTTP redirects with 308 to HTTPS for hosts with a certificate, the
// ACME challenge path is proxied and not redirected, and hosts without a certificate stay on HTTP.
func TestHTTPToHTTPS(t *testing.T) {
	a, b, acme := backend(t, "A"), backend(t, "B"), backend(t, "ACME")
	ca := newTestCA(t)
	cl := newCluster(t, "acme:\n  challenge_backend: "+acme.URL+"\n", map[string]string{
		"a.yaml": flatSite("a.test", a.URL),
		"b.yaml": flatSite("b.test", b.URL),
	})
	crt, key := ca.issue(t, 100, "a.test")
	writeFile(t, filepath.Join(cl.dir, "certs", "a.test.crt"), string(crt))
	writeFile(t, filepath.Join(cl.dir, "certs", "a.test.key"), string(key))
	cl.startCP()
	cl.startDP("node-1")
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, port, _ := net.SplitHostPort(cl.tlsAddr)

	resp, _, err := get(context.Background(), noRedirect, cl.httpAddr, "a.test", "/p/q?x=1&y=2")
	if err != nil {
		t.Fatal(err)
	}
	if want := "https://a.test:" + port + "/p/q?x=1&y=2"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("a.test over HTTP: %d Location %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	resp, body, err := get(context.Background(), noRedirect, cl.httpAddr, "a.test", "/.well-known/acme-challenge/tok123")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "backend=ACME path=/.well-known/acme-challenge/tok123") {
		t.Errorf("ACME challenge: %d %q, want it proxied to the challenge backend", resp.StatusCode, body)
	}
	resp, body, err = get(context.Background(), noRedirect, cl.httpAddr, "b.test", "/plain")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "backend=B path=/plain") {
		t.Errorf("b.test (no certificate) over HTTP: %d %q, want it served plainly", resp.StatusCode, body)
	}
}
