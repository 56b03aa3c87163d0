package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
)

// Backend forwards requests to one backend URL. Build it with Pools.NewBackend or
// NewBackendWith, once per route and snapshot; it is safe for concurrent use.
type Backend struct {
	target   *url.URL
	rp       *httputil.ReverseProxy
	pools    *Pools
	pool     *pool
	settings Settings
	release  sync.Once
}

func newBackend(p *Pools, pl *pool, target *url.URL, s Settings) *Backend {
	b := &Backend{target: target, pools: p, pool: pl, settings: s}
	var rt http.RoundTripper = pooledTransport{pl}
	if s.Wrap != nil {
		rt = s.Wrap(rt)
	}
	// FlushInterval stays 0: ReverseProxy flushes every write of responses without a length
	// and of text/event-stream anyway, so streams reach the client at once, while responses of
	// known length are not flushed chunk by chunk.
	b.rp = &httputil.ReverseProxy{
		Rewrite:        b.rewrite,
		Transport:      rt,
		BufferPool:     p.bufs,
		ModifyResponse: b.modifyResponse,
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
//
// A response that breaks off after its header went out (the backend stopped sending for the
// read timeout, the body crossed max_response_body, the backend or the client went away) makes
// Serve panic with http.ErrAbortHandler, as httputil.ReverseProxy does, so that net/http
// aborts the client connection. Use Forward to get the reason as an error instead.
func (b *Backend) Serve(w http.ResponseWriter, r *http.Request) error {
	err, abort := b.forward(w, r)
	if abort {
		panic(http.ErrAbortHandler)
	}
	return err
}

// Forward is Serve without the panic. When the response broke off after its header went out,
// Forward returns an *Error with Cut set, Kind and Status saying why when it was a read
// timeout ("read") or max_response_body ("response_too_large"); the caller records it and then
// must abort the client connection with panic(http.ErrAbortHandler) (when served by an
// http.Server), or a chunked response would look complete to the client.
func (b *Backend) Forward(w http.ResponseWriter, r *http.Request) error {
	err, _ := b.forward(w, r)
	return err
}

func (b *Backend) forward(w http.ResponseWriter, r *http.Request) (err error, abort bool) {
	c := &capture{ResponseWriter: w, backend: b}
	st := b.pool.stats
	st.inFlight.Add(1)
	defer func() {
		st.inFlight.Add(-1)
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			abort = true
		}
		c.body.stop()
		switch {
		case c.err != nil:
			err = c.err
		case c.body.err != nil:
			err = c.body.err
		case abort && r.Context().Err() != nil:
			err = &Error{Status: StatusClientClosedRequest, Cut: true, Err: errAborted}
		case abort:
			err = &Error{Status: http.StatusBadGateway, Cut: true, Err: errAborted}
		}
		if pe, ok := err.(*Error); ok && pe.Kind != "" {
			b.pools.counters.count(pe.Kind)
		}
	}()
	// The request carries c to modifyResponse, which wraps the response body with c.body.
	b.rp.ServeHTTP(c, r.WithContext(context.WithValue(r.Context(), captureKey{}, c)))
	return nil, false
}

// errAborted is a response copy that failed for another reason than ours: the backend closed
// or reset the connection, or the client went away.
var errAborted = errors.New("response aborted while copying the body")

type captureKey struct{}

// modifyResponse drops the edge's headers and enforces the read timeout and the response size
// limit on the body. A Content-Length over the limit fails the request before anything is sent.
func (b *Backend) modifyResponse(res *http.Response) error {
	_ = dropEdgeHeaders(res)
	if res.StatusCode == http.StatusSwitchingProtocols {
		return nil // its Body is the connection, relayed as it is
	}
	limit := b.settings.MaxResponseBody
	if limit > 0 && res.ContentLength > limit {
		return fmt.Errorf("%w: Content-Length %d, limit %d", errResponseTooLarge, res.ContentLength, limit)
	}
	if limit <= 0 && b.settings.ReadTimeout <= 0 {
		return nil
	}
	c, _ := res.Request.Context().Value(captureKey{}).(*capture)
	if c == nil {
		return nil
	}
	c.body.init(res.Body, limit, b.settings.ReadTimeout)
	res.Body = &c.body
	return nil
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

// capture carries ReverseProxy's error from its ErrorHandler back to Serve, and holds the
// response body's wrapper (one allocation for both). Unwrap lets http.ResponseController
// reach the writer below for flushing and hijacking (protocol upgrades).
type capture struct {
	http.ResponseWriter
	backend *Backend
	err     *Error
	body    responseBody
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

// pooledTransport is the round tripper under Settings.Wrap: the shared transport, counting
// the round trips that got a connection for the pool's statistics.
type pooledTransport struct{ pl *pool }

func (t pooledTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Counted before the connection's first write (poolStats.fresh), so that a report taken
	// while the request is in flight sees both or neither; taken back if no connection came.
	t.pl.stats.requests.Add(1)
	res, err := t.pl.transport.RoundTrip(req)
	var opErr *net.OpError
	if err != nil && errors.As(err, &opErr) && opErr.Op == "dial" {
		t.pl.stats.requests.Add(-1)
	}
	return res, err
}
