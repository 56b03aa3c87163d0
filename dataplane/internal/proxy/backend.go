package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
)

// Backend forwards requests to one backend URL. Build it with Pools.NewBackend, once per route
// and snapshot; it is safe for concurrent use.
type Backend struct {
	target  *url.URL
	rp      *httputil.ReverseProxy
	pools   *Pools
	pool    *pool
	release sync.Once
}

func newBackend(p *Pools, pl *pool, target *url.URL) *Backend {
	b := &Backend{target: target, pools: p, pool: pl}
	// FlushInterval stays 0: ReverseProxy flushes every write of responses without a length
	// and of text/event-stream anyway, so streams reach the client at once, while responses of
	// known length are not flushed chunk by chunk.
	b.rp = &httputil.ReverseProxy{
		Rewrite:        b.rewrite,
		Transport:      pl.transport,
		BufferPool:     p.bufs,
		ModifyResponse: dropEdgeHeaders,
		ErrorHandler:   recordError,
		ErrorLog:       p.opts.ErrorLog,
	}
	return b
}

// URL returns the backend URL as configured, for access logs.
func (b *Backend) URL() string { return b.target.String() }

// Release gives the Backend's transport back to the Pools. The Backend must not serve
// afterwards; calling Release again does nothing.
func (b *Backend) Release() {
	b.release.Do(func() { b.pools.release(b.pool) })
}

// Serve forwards r to the backend and streams the response to w. It returns nil when the
// backend's response was relayed, whatever its status, and an *Error when there was none to
// relay; then nothing has been written to w and the caller answers the client (unless the
// client is gone, Status 499).
func (b *Backend) Serve(w http.ResponseWriter, r *http.Request) error {
	c := &capture{ResponseWriter: w}
	b.rp.ServeHTTP(c, r)
	return c.err
}

// rewrite turns the client's request into the backend's.
func (b *Backend) rewrite(pr *httputil.ProxyRequest) {
	// Scheme and host of the backend, its path prepended to the request's, queries merged.
	pr.SetURL(b.target)
	// Keep the Host the client asked for, as Caddy and Traefik do: applications behind the
	// proxy (Pterodactyl, Vaultwarden) build their links and check their domain from it.
	pr.Out.Host = pr.In.Host
	// ReverseProxy has removed the client's Forwarded and X-Forwarded-* headers, so these are
	// ours alone: a client cannot pose as another address. Trusted outer proxies are a later
	// policy.
	pr.SetXForwarded()
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		pr.Out.Header.Set("X-Real-IP", ip)
	} else {
		pr.Out.Header.Del("X-Real-IP")
	}
}

// dropEdgeHeaders removes from the backend's response the headers the edge sets itself, since
// ReverseProxy adds the backend's headers to the client's and there would be two:
//   - X-Request-ID: the client already has the id the proxy assigned and forwarded;
//   - Alt-Svc: a backend's advertisement describes the backend, which clients cannot reach;
//     the edge advertises its own HTTP/3.
func dropEdgeHeaders(res *http.Response) error {
	res.Header.Del(requestid.Header)
	res.Header.Del("Alt-Svc")
	return nil
}

// capture carries ReverseProxy's error from its ErrorHandler back to Serve. Unwrap lets
// http.ResponseController reach the writer below for flushing and hijacking (protocol
// upgrades).
type capture struct {
	http.ResponseWriter
	err error
}

func (c *capture) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// recordError is ReverseProxy's ErrorHandler. It writes nothing: the caller of Serve owns
// the error page.
func recordError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(r, err)
	if c, ok := w.(*capture); ok {
		c.err = e
		return
	}
	// Only reachable if the ReverseProxy were served without Serve.
	if e.Status != StatusClientClosedRequest {
		w.WriteHeader(e.Status)
	}
}
