package listen_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/http2"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/certstore/certtest"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// TestSameHandlerEveryProtocol: HTTP/1.1 and HTTP/2 over TLS and HTTP/3 over QUIC reach the one
// handler with a correct r.Proto, r.TLS, r.Host and r.RemoteAddr, and get the same response;
// HTTPS responses over TCP advertise HTTP/3.
func TestSameHandlerEveryProtocol(t *testing.T) {
	e := start(t, echo(), nil)
	url := "https://www.example.org:" + e.tlsPort() + "/hello?x=1"
	wantBody := "edge: GET www.example.org:" + e.tlsPort() + " /hello?x=1"
	wantAltSvc := `h3=":` + e.h3Port() + `"; ma=86400`
	for _, c := range e.clients() {
		t.Run(c.proto, func(t *testing.T) {
			resp, body := get(t, c.client, url)
			if resp.StatusCode != http.StatusOK || body != wantBody {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, wantBody)
			}
			if resp.Proto != c.proto || resp.Header.Get("X-Proto") != c.proto {
				t.Errorf("response %s, handler saw %s; want %s", resp.Proto, resp.Header.Get("X-Proto"), c.proto)
			}
			if got := resp.Header.Get("X-TLS-SNI"); got != "www.example.org" {
				t.Errorf("handler saw r.TLS.ServerName %q", got)
			}
			if got := resp.Header.Get("X-Host"); got != "www.example.org:"+e.tlsPort() {
				t.Errorf("handler saw r.Host %q", got)
			}
			if got := resp.Header.Get("X-Remote-IP"); got != "127.0.0.1" {
				t.Errorf("handler saw r.RemoteAddr IP %q", got)
			}
			if got := certtest.Fingerprint(resp.TLS.PeerCertificates[0].Raw); got != e.certs.www.GetSha256Fingerprint() {
				t.Errorf("presented %v, want the www certificate", resp.TLS.PeerCertificates[0].DNSNames)
			}
			altSvc := resp.Header.Values("Alt-Svc")
			if c.proto == "HTTP/3.0" {
				if len(altSvc) != 0 {
					t.Errorf("HTTP/3 response carries Alt-Svc %q", altSvc)
				}
			} else if len(altSvc) != 1 || altSvc[0] != wantAltSvc {
				t.Errorf("Alt-Svc = %q, want %q", altSvc, wantAltSvc)
			}
		})
	}
}

// TestHTTP3Switch: a snapshot that disables HTTP/3 removes Alt-Svc at once and refuses new QUIC
// connections; enabling it again brings both back.
func TestHTTP3Switch(t *testing.T) {
	e := start(t, echo(), nil)
	url := "https://www.example.org:" + e.tlsPort() + "/"
	h2 := &http.Client{Transport: e.tcpTransport("h2", e.clientTLS())}

	e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{Http3Disabled: true}))
	resp, _ := get(t, h2, url)
	if v := resp.Header.Values("Alt-Svc"); len(v) != 0 {
		t.Errorf("Alt-Svc with HTTP/3 disabled: %q", v)
	}
	if _, err := getErr(&http.Client{Transport: e.h3Transport(e.clientTLS())}, url); err == nil {
		t.Error("HTTP/3 request succeeded with HTTP/3 disabled")
	}

	e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{}))
	resp, _ = get(t, h2, url)
	if v := resp.Header.Get("Alt-Svc"); v == "" {
		t.Error("no Alt-Svc after enabling HTTP/3 again")
	}
	if resp, _ := get(t, &http.Client{Transport: e.h3Transport(e.clientTLS())}, url); resp.ProtoMajor != 3 {
		t.Errorf("proto %s after enabling HTTP/3 again", resp.Proto)
	}
}

// TestNoHTTP3Listener: without an HTTP/3 address nothing is advertised.
func TestNoHTTP3Listener(t *testing.T) {
	e := start(t, echo(), func(c *listen.Config) { c.H3Addr = "" })
	if e.srv.H3Addr() != nil {
		t.Fatal("H3Addr without HTTP/3")
	}
	resp, _ := get(t, &http.Client{Transport: e.tcpTransport("h2", e.clientTLS())}, "https://www.example.org:"+e.tlsPort()+"/")
	if v := resp.Header.Values("Alt-Svc"); len(v) != 0 {
		t.Errorf("Alt-Svc without an HTTP/3 listener: %q", v)
	}
}

// TestSNISelection: the certificate presented follows the SNI over TCP and QUIC; an unknown
// name without a default fails the handshake with unrecognized_name.
func TestSNISelection(t *testing.T) {
	e := start(t, echo(), nil)
	testCases := []struct {
		desc string
		sni  string
		want *proxyv1.Certificate
	}{
		{"exact", "www.example.org", e.certs.www},
		{"wildcard", "shop.example.org", e.certs.wild},
		{"default for an unknown name", "unknown.test", e.certs.fallback},
		{"default without SNI", "", e.certs.fallback},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			// The client checks nothing here: only which certificate came.
			st, err := e.handshake(&tls.Config{ServerName: tc.sni, InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := leafFingerprint(st); got != tc.want.GetSha256Fingerprint() {
				t.Errorf("TCP: presented %v, want %q", st.PeerCertificates[0].DNSNames, tc.want.GetName())
			}
			if tc.sni == "" {
				return // HTTP/3 clients always send SNI
			}
			resp, _ := get(t, &http.Client{Transport: e.h3Transport(&tls.Config{InsecureSkipVerify: true})}, "https://"+tc.sni+"/")
			if got := certtest.Fingerprint(resp.TLS.PeerCertificates[0].Raw); got != tc.want.GetSha256Fingerprint() {
				t.Errorf("QUIC: presented %v, want %q", resp.TLS.PeerCertificates[0].DNSNames, tc.want.GetName())
			}
		})
	}

	t.Run("unknown name without default", func(t *testing.T) {
		e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{}))
		_, err := e.handshake(&tls.Config{ServerName: "unknown.test", InsecureSkipVerify: true})
		if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("TCP handshake: %v, want an unrecognized_name alert", err)
		}
		_, err = getErr(&http.Client{Transport: e.h3Transport(&tls.Config{InsecureSkipVerify: true})}, "https://unknown.test/")
		if err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("QUIC handshake: %v, want an unrecognized_name alert", err)
		}
		// The listener is still fine.
		if _, err := e.handshake(&tls.Config{ServerName: "www.example.org", RootCAs: e.pool}); err != nil {
			t.Errorf("handshake after a refused one: %v", err)
		}
	})

	t.Run("before the first snapshot", func(t *testing.T) {
		e.edges.Store(nil)
		if _, err := e.handshake(&tls.Config{ServerName: "www.example.org", RootCAs: e.pool}); err == nil {
			t.Error("handshake succeeded without certificates")
		}
	})
}

// TestTLSParameters: TLS 1.3 when the client can, TLS 1.2 with an AEAD suite otherwise, nothing
// older, and no CBC suite.
func TestTLSParameters(t *testing.T) {
	e := start(t, echo(), nil)
	base := func() *tls.Config { return &tls.Config{ServerName: "www.example.org", RootCAs: e.pool} }

	st, err := e.handshake(base())
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS13 {
		t.Errorf("version %s, want TLS 1.3", tls.VersionName(st.Version))
	}

	c12 := base()
	c12.MaxVersion = tls.VersionTLS12
	if st, err = e.handshake(c12); err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("TLS 1.2 client got %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}

	c11 := base()
	c11.MaxVersion = tls.VersionTLS11
	if _, err := e.handshake(c11); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}

	cbc := base()
	cbc.MaxVersion = tls.VersionTLS12
	cbc.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
	if _, err := e.handshake(cbc); err == nil {
		t.Error("CBC suite accepted")
	}

	h1only := base()
	h1only.NextProtos = []string{"http/1.1"}
	if st, err = e.handshake(h1only); err != nil || st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("ALPN http/1.1: %q, %v", st.NegotiatedProtocol, err)
	}
	h2 := base()
	h2.NextProtos = []string{"h2", "http/1.1"}
	if st, err = e.handshake(h2); err != nil || st.NegotiatedProtocol != "h2" {
		t.Errorf("ALPN h2: %q, %v", st.NegotiatedProtocol, err)
	}
}

// TestCertificateSwap: after a new snapshot new handshakes present the new certificate, while an
// HTTP/2 connection opened before keeps working with the old one.
func TestCertificateSwap(t *testing.T) {
	e := start(t, echo(), nil)
	renewed := certtest.New(t, certtest.Options{Name: "www", DNSNames: []string{"www.example.org"}})
	pool := certtest.Pool(t, append(e.certs.all(), renewed)...)
	url := "https://www.example.org:" + e.tlsPort() + "/"
	tlsConf := &tls.Config{RootCAs: pool}

	h2 := &http.Client{Transport: e.tcpTransport("h2", tlsConf)}
	resp, _ := get(t, h2, url)
	if got := certtest.Fingerprint(resp.TLS.PeerCertificates[0].Raw); got != e.certs.www.GetSha256Fingerprint() {
		t.Fatal("first connection did not get the first certificate")
	}
	e.edges.Store(mustEdge(t, []*proxyv1.Certificate{renewed, e.certs.wild, e.certs.fallback}, nil))

	st, err := e.handshake(&tls.Config{ServerName: "www.example.org", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if leafFingerprint(st) != renewed.GetSha256Fingerprint() {
		t.Error("new TCP handshake did not get the renewed certificate")
	}
	resp, _ = get(t, &http.Client{Transport: e.h3Transport(tlsConf)}, url)
	if got := certtest.Fingerprint(resp.TLS.PeerCertificates[0].Raw); got != renewed.GetSha256Fingerprint() {
		t.Error("new QUIC handshake did not get the renewed certificate")
	}

	// The open HTTP/2 connection is reused (it still shows the old certificate) and works.
	for range 3 {
		resp, body := get(t, h2, url)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "edge:") {
			t.Fatalf("request on the old connection: %d %q", resp.StatusCode, body)
		}
		if got := certtest.Fingerprint(resp.TLS.PeerCertificates[0].Raw); got != e.certs.www.GetSha256Fingerprint() {
			t.Fatal("the old HTTP/2 connection was replaced, not kept")
		}
	}
}

// TestSessionResumption: a returning client resumes its TLS session (TLS 1.3 and 1.2), also
// after one ticket key rotation; after more rotations than keys are kept it cannot.
func TestSessionResumption(t *testing.T) {
	e := start(t, echo(), nil)
	url := "https://www.example.org:" + e.tlsPort() + "/"
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(8)
			conf := &tls.Config{RootCAs: e.pool, ClientSessionCache: cache, MaxVersion: version}
			// A new connection for every request, so every request has a handshake.
			tr := e.tcpTransport("h1", conf)
			tr.DisableKeepAlives = true
			c := &http.Client{Transport: tr}
			didResume := func() bool {
				t.Helper()
				resp, _ := get(t, c, url)
				return resp.TLS.DidResume
			}
			if didResume() {
				t.Fatal("first connection resumed")
			}
			if !didResume() {
				t.Fatal("second connection did not resume")
			}
			e.srv.TLS().RotateTicketKeys()
			if !didResume() {
				t.Fatal("no resumption with a ticket of the previous key")
			}
			// The ticket of the last connection was issued under the current key; rotate past
			// the keys kept (current + 2 previous) and it is worthless.
			for range 3 {
				e.srv.TLS().RotateTicketKeys()
			}
			if didResume() {
				t.Fatal("resumed with a ticket whose key was dropped")
			}
		})
	}
}

// TestSessionResumptionQUIC: HTTP/3 clients resume too, also after a key rotation: the QUIC
// listener sees the rotated keys although quic-go cloned the tls.Config when it started.
func TestSessionResumptionQUIC(t *testing.T) {
	e := start(t, echo(), nil)
	url := "https://www.example.org:" + e.tlsPort() + "/"
	cache := tls.NewLRUClientSessionCache(8)
	didResume := func() bool {
		t.Helper()
		// A new transport for every request, so every request has a handshake.
		tr := e.h3Transport(&tls.Config{RootCAs: e.pool, ClientSessionCache: cache})
		defer tr.Close()
		resp, _ := get(t, &http.Client{Transport: tr}, url)
		return resp.TLS.DidResume
	}
	if didResume() {
		t.Fatal("first connection resumed")
	}
	if !didResume() {
		t.Fatal("second connection did not resume")
	}
	for range 3 {
		e.srv.TLS().RotateTicketKeys()
	}
	if didResume() {
		t.Fatal("resumed with a ticket whose key was dropped: the QUIC listener does not see rotations")
	}
	if !didResume() {
		t.Fatal("no resumption with a ticket of the rotated key")
	}
}

// TestGracefulShutdown: Shutdown stops accepting on every listener while requests in flight on
// HTTP/1.1, HTTP/2, HTTP/3 and plain HTTP complete.
func TestGracefulShutdown(t *testing.T) {
	release := make(chan struct{})
	var inFlight sync.WaitGroup
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inFlight.Done()
			<-release
		}
		io.WriteString(w, "done "+r.Proto)
	})
	e := start(t, handler, nil)
	httpsURL := "https://www.example.org:" + e.tlsPort() + "/slow"
	plain := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(plain.CloseIdleConnections)

	type result struct {
		name string
		body string
		err  error
	}
	results := make(chan result, 4)
	do := func(name string, c *http.Client, url string) {
		inFlight.Add(1)
		go func() {
			resp, err := c.Get(url)
			if err != nil {
				results <- result{name, "", err}
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{name, string(body), err}
		}()
	}
	clients := e.clients()
	for _, c := range clients {
		do(c.proto, c.client, httpsURL)
	}
	do("plain", plain, "http://"+e.srv.HTTPAddr().String()+"/slow")
	inFlight.Wait() // every request is in the handler

	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- e.shutdown(10 * time.Second) }()

	// New connections are refused soon, on every listener.
	waitFor(t, "TLS listener closed", func() bool { return refused(e.srv.TLSAddr().String()) })
	waitFor(t, "HTTP listener closed", func() bool { return refused(e.srv.HTTPAddr().String()) })
	h3 := e.h3Transport(e.clientTLS())
	h3.QUICConfig = &quic.Config{HandshakeIdleTimeout: 300 * time.Millisecond}
	if _, err := getErr(&http.Client{Transport: h3}, httpsURL); err == nil {
		t.Error("new HTTP/3 connection accepted during shutdown")
	}
	select {
	case err := <-shutdownErr:
		t.Fatalf("Shutdown returned before the requests finished: %v", err)
	default:
	}

	close(release)
	for range 4 {
		r := <-results
		if r.err != nil || !strings.HasPrefix(r.body, "done HTTP/") {
			t.Errorf("%s: in-flight request: %q, %v", r.name, r.body, r.err)
		}
	}
	if err := <-shutdownErr; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestShutdownDeadline: a request that outlives the deadline is cut and Shutdown says so.
func TestShutdownDeadline(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	started := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	e := start(t, handler, nil)
	c := &http.Client{Transport: e.tcpTransport("h2", e.clientTLS())}
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Get("https://www.example.org:" + e.tlsPort() + "/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	err := e.shutdown(200 * time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if err := <-errc; err == nil {
		t.Error("the request outliving the deadline completed")
	}
}

// TestBindError: a port in use is reported with the listener and the address.
func TestBindError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	udpTaken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udpTaken.Close()
	testCases := []struct {
		desc     string
		cfg      listen.Config
		listener string
	}{
		{"https", listen.Config{TLSAddr: taken.Addr().String(), HTTPAddr: "127.0.0.1:0"}, listen.ListenerHTTPS},
		{"http", listen.Config{TLSAddr: "127.0.0.1:0", HTTPAddr: taken.Addr().String()}, listen.ListenerHTTP},
		{"http3", listen.Config{H3Addr: udpTaken.LocalAddr().String()}, listen.ListenerHTTP3},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			tc.cfg.Handler = echo()
			tc.cfg.Edges = &listen.EdgeHolder{}
			_, err := listen.Listen(tc.cfg)
			var be *listen.BindError
			if !errors.As(err, &be) || be.Listener != tc.listener {
				t.Fatalf("err = %v, want a BindError for %s", err, tc.listener)
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("err = %v, want EADDRINUSE", err)
			}
			if !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("message %q does not say the port is in use", err)
			}
		})
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	srv, err := listen.Listen(listen.Config{TLSAddr: "127.0.0.1:0", H3Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Handler: echo(), Edges: &listen.EdgeHolder{}})
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.TLSAddr().String()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("listener still open")
	}
}

// refused reports whether a TCP connection to addr is refused. A connection that gets through
// is closed at once (an open one would hold up Shutdown for 5 s as a new connection).
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHTTP2ExtendedConnect documents what net/http does with RFC 8441 (WebSockets over HTTP/2):
// Go 1.26 advertises SETTINGS_ENABLE_CONNECT_PROTOCOL only when the process starts with
// GODEBUG=http2xconnect=1 (read once from the environment at init; it cannot be switched on
// from code). With it, the handler sees Method CONNECT and the header ":protocol"; without it,
// a client may not send such a request (x/net's client refuses, having seen no setting).
func TestHTTP2ExtendedConnect(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Protocol", r.Header.Get(":protocol"))
		w.Header().Set("X-Proto", r.Proto)
		w.WriteHeader(http.StatusOK)
	})
	e := start(t, handler, nil)
	// net/http's client refuses the header name ":protocol" before HTTP/2 sees it; x/net's
	// HTTP/2 transport sends it as the pseudo-header.
	tr := &http2.Transport{
		TLSClientConfig: e.clientTLS(),
		DialTLSContext: func(ctx context.Context, network, _ string, conf *tls.Config) (net.Conn, error) {
			d := &tls.Dialer{Config: conf}
			return d.DialContext(ctx, network, e.srv.TLSAddr().String())
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	body, bodyW := io.Pipe()
	defer bodyW.Close()
	req, err := http.NewRequest(http.MethodConnect, "https://www.example.org:"+e.tlsPort()+"/chat", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(":protocol", "websocket")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Do(req.WithContext(ctx))
	enabled := strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")
	if !enabled {
		if err == nil || !strings.Contains(err.Error(), "extended connect not supported") {
			t.Fatalf("without GODEBUG=http2xconnect=1: %v, want the client to refuse", err)
		}
		t.Log("extended CONNECT is off (GODEBUG=http2xconnect=1 not set)")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Method") != "CONNECT" || resp.Header.Get("X-Protocol") != "websocket" {
		t.Errorf("handler saw %d %s :protocol=%q", resp.StatusCode, resp.Header.Get("X-Method"), resp.Header.Get("X-Protocol"))
	}
	t.Logf("extended CONNECT reached the handler: %s %s :protocol=%s", resp.Header.Get("X-Proto"), resp.Header.Get("X-Method"), resp.Header.Get("X-Protocol"))
}
