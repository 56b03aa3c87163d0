package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
)

// Backend forwards requests to one backend URL. Build it with Pools.NewBackend or
// NewBackendWith, once per route and snapshot; it is safe for concurrent use.
type Backend struct {
	target   *url.URL
	rt       http.RoundTripper // the pool's transport, under Settings.Wrap
	pools    *Pools
	pool     *pool
	settings Settings
	release  sync.Once
}

func newBackend(p *Pools, pl *pool, target *url.URL, s Settings) *Backend {
	b := &Backend{target: target, pools: p, pool: pl, settings: s, rt: pl.transport}
	if s.Wrap != nil {
		b.rt = s.Wrap(b.rt)
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
// Serve panic with http.ErrAbortHandler, so that net/http aborts the client connection. Use
// Forward to get the reason as an error instead.
func (b *Backend) Serve(w http.ResponseWriter, r *http.Request) error {
	err := b.Forward(w, r)
	if pe, ok := err.(*Error); ok && pe.Cut {
		panic(http.ErrAbortHandler)
	}
	return err
}

// Forward is Serve without the panic. When the response broke off after its header went out,
// Forward returns an *Error with Cut set, Kind and Status saying why when it was a read
// timeout ("read") or max_response_body ("response_too_large"); the caller records it and then
// must abort the client connection with panic(http.ErrAbortHandler) (when served by an
// http.Server), or a chunked response would look complete to the client.
//
// r is the request as the edge received it (after its own policies); Forward does not change
// it. The backend gets it as writeRequest describes, with the backend URL's path prepended and
// its query merged.
func (b *Backend) Forward(w http.ResponseWriter, r *http.Request) error {
	st := b.pool.stats
	st.inFlight.Add(1)
	defer st.inFlight.Add(-1)
	if upgradeProtocol(r) != "" {
		return b.tunnel(w, r)
	}
	res, err := b.rt.RoundTrip(b.outgoing(r))
	if err != nil {
		return b.count(classify(r, err))
	}
	// relay is the response's last user, and closes its body when done with it.
	recycleAtClose(res)
	return b.count(b.relay(w, r, res))
}

// count adds a failure to the Pools' counters, by kind, and returns it.
func (b *Backend) count(e *Error) error {
	if e == nil {
		return nil
	}
	if e.Kind != "" {
		b.pools.counters.count(e.Kind)
	}
	return e
}

// outgoing returns r with the backend URL's path prepended and query merged: r itself when
// the backend URL has neither (no copy), else a shallow copy with its own URL.
func (b *Backend) outgoing(r *http.Request) *http.Request {
	t := b.target
	if (t.Path == "" || t.Path == "/") && t.RawQuery == "" {
		return r
	}
	out := r.WithContext(r.Context()) // a shallow copy; its headers are only read
	u := *r.URL
	u.Path, u.RawPath = joinURLPath(t, r.URL)
	switch {
	case t.RawQuery == "":
	case u.RawQuery == "":
		u.RawQuery = t.RawQuery
	default:
		u.RawQuery = t.RawQuery + "&" + u.RawQuery
	}
	out.URL = &u
	return out
}

// joinURLPath joins the backend URL's path and the request's, with one slash between them, and
// keeps an escaped form when either has one (as httputil.ReverseProxy does).
func joinURLPath(a, b *url.URL) (path, rawpath string) {
	if a.RawPath == "" && b.RawPath == "" {
		return singleJoiningSlash(a.Path, b.Path), ""
	}
	apath, bpath := a.EscapedPath(), b.EscapedPath()
	aslash, bslash := strings.HasSuffix(apath, "/"), strings.HasPrefix(bpath, "/")
	switch {
	case aslash && bslash:
		return a.Path + b.Path[1:], apath + bpath[1:]
	case !aslash && !bslash:
		return a.Path + "/" + b.Path, apath + "/" + bpath
	}
	return a.Path + b.Path, apath + bpath
}

func singleJoiningSlash(a, b string) string {
	aslash, bslash := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}

// relay sends the backend's response to the client: status, headers (without hop-by-hop ones
// and the edge's own), body streamed through a pooled buffer and flushed as it comes when its
// length is unknown or it is an event stream, then trailers. max_response_body is enforced
// here: a Content-Length over it fails before anything is sent, a longer body is cut.
func (b *Backend) relay(w http.ResponseWriter, r *http.Request, res *http.Response) *Error {
	defer res.Body.Close()
	limit := b.settings.MaxResponseBody
	if limit > 0 && res.ContentLength > limit {
		return &Error{Status: http.StatusBadGateway, Kind: KindResponseTooLarge,
			Err: fmt.Errorf("%w: Content-Length %d, limit %d", errResponseTooLarge, res.ContentLength, limit)}
	}
	removeHopByHop(res.Header)
	dropEdgeHeaders(res.Header)
	h := w.Header()
	for k, vv := range res.Header {
		if old, ok := h[k]; ok {
			h[k] = append(old, vv...)
		} else {
			h[k] = vv
		}
	}
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)

	// A controller rather than its Flush method value: that would be an allocation per
	// request; this stays on the stack.
	var flusher *http.ResponseController
	if res.ContentLength == -1 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		flusher = http.NewResponseController(w)
	}
	bufp := b.pools.bufs.Get(res.ContentLength)
	defer b.pools.bufs.Put(bufp)
	buf := *bufp
	var sent int64
	for {
		n, rerr := res.Body.Read(buf)
		if n > 0 {
			if limit > 0 && sent+int64(n) > limit {
				n = int(limit - sent)
				// The limit's worth goes out, header first, and then the response is cut.
				if _, err := w.Write(buf[:n]); err == nil {
					_ = http.NewResponseController(w).Flush()
				}
				return &Error{Status: http.StatusBadGateway, Kind: KindResponseTooLarge, Cut: true, Err: errResponseTooLarge}
			}
			sent += int64(n)
			if _, werr := w.Write(buf[:n]); werr != nil {
				return cutError(r, fmt.Errorf("%w: writing to the client: %w", errAborted, werr))
			}
			if flusher != nil {
				if ferr := flusher.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
					return cutError(r, fmt.Errorf("%w: flushing to the client: %w", errAborted, ferr))
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return cutError(r, rerr)
		}
	}
	if len(res.Trailer) > 0 {
		for k, vv := range res.Trailer {
			if len(res.Trailer) != announced {
				k = http.TrailerPrefix + k
			}
			h[k] = vv
		}
	}
	return nil
}

// cutError is a response that broke off after its header went out: 499 when the client left,
// 504 "read" when the backend stopped sending for the read timeout, else 502.
func cutError(r *http.Request, err error) *Error {
	e := classify(r, err)
	e.Cut = true
	if e.Status != StatusClientClosedRequest && e.Status != http.StatusGatewayTimeout {
		e.Status, e.Kind = http.StatusBadGateway, ""
		if !errors.Is(err, errAborted) {
			e.Err = fmt.Errorf("%w: %w", errAborted, err)
		}
	}
	return e
}

// errAborted is a response copy that failed for another reason than ours: the backend closed
// or reset the connection, or the client went away.
var errAborted = errors.New("response aborted while copying the body")

// dropEdgeHeaders removes from the backend's response the headers the edge sets itself, which
// would otherwise be there twice:
//   - X-Request-ID: the client already has the id the proxy assigned and forwarded;
//   - Alt-Svc: a backend's advertisement describes the backend, which clients cannot reach;
//     the edge advertises its own HTTP/3.
func dropEdgeHeaders(h http.Header) {
	delete(h, requestid.Header)
	delete(h, "Alt-Svc")
}
