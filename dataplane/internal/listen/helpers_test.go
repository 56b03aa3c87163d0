package listen_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"go.uber.org/goleak"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/certstore/certtest"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// certs is the certificate set of the tests.
type certs struct {
	www, wild, fallback *proxyv1.Certificate
}

func newCerts(t testing.TB) certs {
	return certs{
		www:      certtest.New(t, certtest.Options{Name: "www", DNSNames: []string{"www.example.org"}}),
		wild:     certtest.New(t, certtest.Options{Name: "wild", DNSNames: []string{"*.example.org"}}),
		fallback: certtest.New(t, certtest.Options{Name: "fallback", DNSNames: []string{"fallback.test"}}),
	}
}

func (c certs) all() []*proxyv1.Certificate {
	return []*proxyv1.Certificate{c.www, c.wild, c.fallback}
}

// mustEdge builds the Edge of a snapshot with certificates and edge settings.
func mustEdge(t testing.TB, cs []*proxyv1.Certificate, e *proxyv1.Edge) *listen.Edge {
	t.Helper()
	edge, err := listen.NewEdge(&proxyv1.Snapshot{Version: 1, Certificates: cs, Edge: e})
	if err != nil {
		t.Fatal(err)
	}
	return edge
}

// echo is the handler of the tests: it answers what the request looked like.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Proto", r.Proto)
		if r.TLS != nil {
			h.Set("X-TLS-SNI", r.TLS.ServerName)
		}
		h.Set("X-Host", r.Host)
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			h.Set("X-Remote-IP", host)
		}
		fmt.Fprintf(w, "edge: %s %s %s", r.Method, r.Host, r.URL.RequestURI())
	})
}

// env is a running Servers with its clients.
type env struct {
	t       *testing.T
	edges   *listen.EdgeHolder
	srv     *listen.Servers
	certs   certs
	pool    *x509.CertPool
	served  chan error
	stopped bool
}

func start(t *testing.T, handler http.Handler, tweak func(*listen.Config)) *env {
	t.Helper()
	e := &env{t: t, edges: &listen.EdgeHolder{}, certs: newCerts(t), served: make(chan error, 1)}
	e.pool = certtest.Pool(t, e.certs.all()...)
	e.edges.Store(mustEdge(t, e.certs.all(), &proxyv1.Edge{DefaultCertificate: "fallback"}))
	cfg := listen.Config{
		HTTPAddr: "127.0.0.1:0",
		TLSAddr:  "127.0.0.1:0",
		H3Addr:   "127.0.0.1:0",
		Handler:  handler,
		Edges:    e.edges,
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := listen.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	go func() { e.served <- srv.Serve() }()
	t.Cleanup(func() { e.shutdown(5 * time.Second) })
	return e
}

// shutdown stops the servers and checks that Serve returned nil.
func (e *env) shutdown(timeout time.Duration) error {
	if e.stopped {
		return nil
	}
	e.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	select {
	case serr := <-e.served:
		if serr != nil {
			e.t.Errorf("Serve: %v", serr)
		}
	case <-time.After(timeout):
		e.t.Error("Serve did not return after Shutdown")
	}
	return err
}

func (e *env) tlsPort() string  { return strconv.Itoa(e.srv.TLSAddr().(*net.TCPAddr).Port) }
func (e *env) h3Port() string   { return strconv.Itoa(e.srv.H3Addr().(*net.UDPAddr).Port) }
func (e *env) httpPort() string { return strconv.Itoa(e.srv.HTTPAddr().(*net.TCPAddr).Port) }

// clientTLS is what every client trusts: the test certificates only.
func (e *env) clientTLS() *tls.Config { return &tls.Config{RootCAs: e.pool} }

// tcpTransport makes an HTTPS client transport speaking only the given protocol ("h1" or
// "h2"), dialling the TLS listener whatever the URL's host.
func (e *env) tcpTransport(proto string, tlsConf *tls.Config) *http.Transport {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, e.srv.TLSAddr().String())
		},
		TLSClientConfig: tlsConf,
		Protocols:       new(http.Protocols),
	}
	switch proto {
	case "h1":
		tr.Protocols.SetHTTP1(true)
	case "h2":
		tr.Protocols.SetHTTP2(true)
	default:
		e.t.Fatalf("unknown protocol %q", proto)
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// h3Transport makes an HTTP/3 client transport dialling the QUIC listener.
func (e *env) h3Transport(tlsConf *tls.Config) *http3.Transport {
	tr := &http3.Transport{
		TLSClientConfig: tlsConf,
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 2 * time.Second},
		Dial: func(ctx context.Context, _ string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
			return quic.DialAddr(ctx, e.srv.H3Addr().String(), tlsCfg, cfg)
		},
	}
	e.t.Cleanup(func() { tr.Close() })
	return tr
}

// clients returns one client per protocol, in a fixed order.
func (e *env) clients() []namedClient {
	return []namedClient{
		{"HTTP/1.1", &http.Client{Transport: e.tcpTransport("h1", e.clientTLS())}},
		{"HTTP/2.0", &http.Client{Transport: e.tcpTransport("h2", e.clientTLS())}},
		{"HTTP/3.0", &http.Client{Transport: e.h3Transport(e.clientTLS())}},
	}
}

type namedClient struct {
	proto  string
	client *http.Client
}

// get does a GET and returns the response with its body read.
func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := getErr(c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, string(body)
}

func getErr(c *http.Client, url string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// handshake does a TLS handshake with the TLS listener and returns the connection state.
func (e *env) handshake(conf *tls.Config) (tls.ConnectionState, error) {
	d := &tls.Dialer{Config: conf, NetDialer: &net.Dialer{Timeout: 2 * time.Second}}
	c, err := d.Dial("tcp", e.srv.TLSAddr().String())
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

func leafFingerprint(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return ""
	}
	return certtest.Fingerprint(st.PeerCertificates[0].Raw)
}

var errNoRedirect = errors.New("redirect not followed")
