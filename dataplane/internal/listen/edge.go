// Package listen runs the data plane's client-facing listeners around one http.Handler (the
// edge): HTTPS over TCP (HTTP/1.1 and HTTP/2 by ALPN), HTTP/3 over QUIC on UDP, and plain HTTP
// (port 80), which redirects hosts that have a certificate to HTTPS and passes ACME HTTP-01
// challenges through to a backend. While the snapshot asks for it, the TCP listeners take a
// PROXY protocol header from trusted proxies at the start of every connection (proxyproto.go).
//
// What the listeners need from a snapshot (its certificates and its Edge switches) is an Edge,
// built once per snapshot by NewEdge and read through an EdgeSource (an EdgeHolder) at every
// handshake and request, so a new snapshot applies to the next handshake or request while open
// connections keep what they negotiated.
package listen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/certstore"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/clientip"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Edge is what the listeners take from one snapshot. It does not change once built.
type Edge struct {
	// Certs selects the certificate by SNI; never nil in an Edge made by NewEdge.
	Certs *certstore.Store
	// HTTP3Disabled stops the Alt-Svc advertisement and refuses new QUIC connections.
	HTTP3Disabled bool
	// HTTPSRedirectDisabled serves hosts with a certificate over plain HTTP too.
	HTTPSRedirectDisabled bool
	// ACMEBackend receives /.well-known/acme-challenge/ requests from the HTTP port; nil: 404.
	ACMEBackend *url.URL
	// ProxyProtocol makes the TCP listeners require a PROXY protocol header from
	// TrustedProxies on every new connection (proxyproto.go).
	ProxyProtocol bool
	// TrustedProxies are the peers a PROXY protocol header is accepted from; never nil in an
	// Edge made by NewEdge.
	TrustedProxies *clientip.Resolver
}

// NewEdge builds the Edge of a snapshot: it parses every certificate and checks the ACME
// backend URL. An error means the snapshot cannot be served (the caller NACKs it).
func NewEdge(snap *proxyv1.Snapshot) (*Edge, error) {
	cfg := snap.GetEdge()
	certs, err := certstore.New(snap.GetCertificates(), cfg.GetDefaultCertificate())
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", snap.GetVersion(), err)
	}
	trusted, err := clientip.New(cfg.GetTrustedProxies())
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", snap.GetVersion(), err)
	}
	if cfg.GetProxyProtocol() && !trusted.TrustsAny() {
		return nil, fmt.Errorf("snapshot %d: proxy_protocol without trusted_proxies would refuse every connection", snap.GetVersion())
	}
	e := &Edge{
		Certs:                 certs,
		HTTP3Disabled:         cfg.GetHttp3Disabled(),
		HTTPSRedirectDisabled: cfg.GetHttpsRedirectDisabled(),
		ProxyProtocol:         cfg.GetProxyProtocol(),
		TrustedProxies:        trusted,
	}
	if raw := cfg.GetAcmeChallengeBackend(); raw != "" {
		if e.ACMEBackend, err = parseBackend(raw); err != nil {
			return nil, fmt.Errorf("snapshot %d: acme_challenge_backend: %w", snap.GetVersion(), err)
		}
	}
	return e, nil
}

func parseBackend(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want an absolute http:// URL", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: want scheme://host[:port][/path] only", raw)
	}
	return u, nil
}

// EdgeSource gives the Edge in force; nil before the first snapshot. *EdgeHolder is one.
type EdgeSource interface {
	Load() *Edge
}

// EdgeHolder holds the current Edge. The zero value holds none.
type EdgeHolder struct {
	current atomic.Pointer[Edge]
}

// Load returns the current Edge, nil before the first Store.
func (h *EdgeHolder) Load() *Edge { return h.current.Load() }

// Store makes e the current Edge: new handshakes and requests use it at once.
func (h *EdgeHolder) Store(e *Edge) { h.current.Store(e) }

// CertificateSource picks a certificate for a handshake, as tls.Config.GetCertificate does.
// It may return certstore.ErrNoCertificate.
type CertificateSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// EdgeCertificates returns the CertificateSource that reads the certificates of the Edge in
// force at each handshake.
func EdgeCertificates(src EdgeSource) CertificateSource { return edgeCertificates{src} }

type edgeCertificates struct{ src EdgeSource }

func (c edgeCertificates) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	e := c.src.Load()
	if e == nil {
		return nil, certstore.ErrNoCertificate
	}
	return e.Certs.GetCertificate(hello)
}

// errNoEdge is why QUIC connections are refused before the first snapshot.
var errNoEdge = errors.New("no snapshot applied yet")
