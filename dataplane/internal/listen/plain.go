package listen

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// ACMEChallengePrefix is the path of ACME HTTP-01 challenges (RFC 8555 §8.3).
const ACMEChallengePrefix = "/.well-known/acme-challenge/"

// PlainConfig configures the port-80 handler.
type PlainConfig struct {
	Next  http.Handler // the edge, for everything not redirected; required
	Edges EdgeSource   // required
	// HTTPSPort is the port redirects point to; 0 or 443 leaves it out of the URL.
	HTTPSPort int
	// ACMETimeout bounds a whole challenge request to the ACME backend; 0 means 15 s.
	ACMETimeout time.Duration
	// ErrorLog receives the ACME proxy's errors; nil means the log package's logger.
	ErrorLog *log.Logger
}

// Plain is the handler of the plain-HTTP listener, in order:
//  1. /.well-known/acme-challenge/... goes to the Edge's ACME backend (404 without one), never
//     redirected, so an ACME client elsewhere can answer HTTP-01 challenges, also for a renewal
//     while the host already redirects;
//  2. a host with a certificate gets 308 to https://<host>[:port]<path>?<query>, unless the Edge
//     disables redirects;
//  3. anything else goes to the edge as plain HTTP.
type Plain struct {
	next      http.Handler
	edges     EdgeSource
	portPart  string // ":8443", or "" for 443
	timeout   time.Duration
	errorLog  *log.Logger
	transport *http.Transport
}

// NewPlain returns the port-80 handler. Close releases its idle ACME backend connections.
func NewPlain(cfg PlainConfig) (*Plain, error) {
	if cfg.Next == nil || cfg.Edges == nil {
		return nil, errors.New("listen: PlainConfig needs Next and Edges")
	}
	if cfg.HTTPSPort < 0 || cfg.HTTPSPort > 65535 {
		return nil, errors.New("listen: HTTPSPort out of range")
	}
	p := &Plain{next: cfg.Next, edges: cfg.Edges, timeout: cfg.ACMETimeout, errorLog: cfg.ErrorLog}
	if cfg.HTTPSPort != 0 && cfg.HTTPSPort != 443 {
		p.portPart = ":" + strconv.Itoa(cfg.HTTPSPort)
	}
	if p.timeout <= 0 {
		p.timeout = 15 * time.Second
	}
	// Challenges are small and rare: short timeouts, few idle connections, no proxy from the
	// environment (the backend is on the local network).
	p.transport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   2,
	}
	return p, nil
}

// Close closes idle connections to the ACME backend.
func (p *Plain) Close() { p.transport.CloseIdleConnections() }

// ServeHTTP implements the order above.
func (p *Plain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := p.edges.Load()
	if strings.HasPrefix(r.URL.Path, ACMEChallengePrefix) {
		p.serveACME(w, r, e)
		return
	}
	if e != nil && !e.HTTPSRedirectDisabled && strings.HasPrefix(r.URL.Path, "/") {
		if host, ok := hostname(r.Host); ok && e.Certs.HasCertificate(host) {
			// The target is built from the validated host only, so a crafted Host cannot
			// redirect anywhere we have no certificate for; RequestURI is path and query only,
			// also for absolute-form requests.
			http.Redirect(w, r, "https://"+host+p.portPart+r.URL.RequestURI(), http.StatusPermanentRedirect)
			return
		}
	}
	p.next.ServeHTTP(w, r)
}

// serveACME proxies a challenge to the ACME backend, streaming, with the client's Host kept
// (ACME clients that answer for several names look at it).
func (p *Plain) serveACME(w http.ResponseWriter, r *http.Request, e *Edge) {
	if e == nil || e.ACMEBackend == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	backend := e.ACMEBackend
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport:     p.transport,
		FlushInterval: -1,
		ErrorLog:      p.errorLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if p.errorLog != nil {
				p.errorLog.Printf("acme challenge %s for %s: %v", r.URL.Path, r.Host, err)
			}
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			http.Error(w, http.StatusText(status), status)
		},
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	rp.ServeHTTP(w, r.WithContext(ctx))
}

// hostname returns the host of a Host header, lower-case and without port or trailing dot, if
// it is a syntactically valid DNS name (RFC 1123 labels; underscores allowed as in the wild).
// IP literals and anything else are refused: they are never redirected.
func hostname(hostport string) (string, bool) {
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		port := hostport[i+1:]
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return "", false
			}
		}
		host = hostport[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || len(host) > 253 {
		return "", false
	}
	allDigits := true
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for j := 0; j < len(label); j++ {
			c := label[j]
			switch {
			case 'a' <= c && c <= 'z', c == '-', c == '_':
				allDigits = false
			case '0' <= c && c <= '9':
			default:
				return "", false
			}
		}
	}
	if allDigits { // an IPv4 address
		return "", false
	}
	return host, true
}
