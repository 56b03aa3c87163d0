// Package edge is the data plane's HTTP handler: every client request enters here, and this
// file is the whole request path, in order. Policies added later (bans, rate limits, WAF, ...)
// are built per route in Build, once per snapshot, and called from serve in the order written
// there.
package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/breaker"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/errorpage"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/headers"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/limits"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/maintenance"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/metrics"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/redact"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/retry"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/slowreq"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/websocket"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// RuntimeSource gives the Runtime to serve a request with; *Holder is one.
type RuntimeSource interface {
	Load() *Runtime
}

// Sink takes one event per finished request. Push must not block; *events.Queue is one.
type Sink interface {
	Push(*proxyv1.RequestEvent)
}

// Config is what the Handler needs from the rest of the data plane.
type Config struct {
	Runtimes RuntimeSource // required
	Events   Sink          // required
	// IDs makes request ids; nil means a new requestid.Generator.
	IDs *requestid.Generator
	// Pages writes error pages; nil means the built-in ones.
	Pages *errorpage.Renderer
	// WebSocketEvents takes the open and close events of WebSockets; nil means Events if it
	// takes them too (as *events.Queue does), else they are discarded.
	WebSocketEvents WebSocketSink
	// WebSockets counts the open WebSockets per route; nil means a new Tracker.
	WebSockets *websocket.Tracker
	// Log receives what the request path reports (slow requests); nil means no logging.
	Log *zap.Logger
	// Security takes the security events (rate limits, bans, WAF, GeoIP); nil means Events if
	// it takes them too (as *events.Queue does), else they are discarded.
	Security SecuritySink
	// Bans is the ban set, kept across snapshots: the control-plane client gives it the pushed
	// lists (SetBans), the edge adds the bans it decides. nil means a set of the edge's own.
	Bans *bans.Set
	// Metrics counts the requests per route; pass the same to BuildOptions.Metrics. nil means
	// counters of the edge's own (for the requests that match no route).
	Metrics *metrics.Requests
	// Health says which routes' backends the control plane's health checks see down; nil means
	// none is.
	Health HealthSource
	// Maintenance holds the routes in maintenance (pushed by the control plane); nil: none.
	Maintenance *maintenance.Holder
}

// HealthSource says whether a route's backend is down; *health.Holder is one.
type HealthSource interface {
	Down(routeID, backendURL string) bool
}

// Handler is the data plane's http.Handler.
type Handler struct {
	runtimes RuntimeSource
	events   Sink
	ids      *requestid.Generator
	pages    *errorpage.Renderer
	// websockets counts open WebSockets across snapshots; wsEvents takes their events.
	websockets *websocket.Tracker
	wsEvents   WebSocketSink
	security   SecuritySink
	// geoEvents lets one GEO_BLOCKED event per client and minute through.
	geoEvents *geoip.Gate
	bans      *bans.Set
	// defaultMasker and defaultLogging mask the client IP and path of requests that matched no
	// route, as the built-in logging defaults do (last_octet, mask_pii).
	defaultMasker  ipmask.Masker
	defaultLogging *redact.Policy
	log            *zap.Logger
	// unmatched counts the requests that matched no route; health may be nil.
	unmatched *metrics.Route
	health    HealthSource
	maint     *maintenance.Holder
}

// New checks cfg and returns the Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Runtimes == nil || cfg.Events == nil {
		return nil, errors.New("edge: Runtimes and Events are required")
	}
	h := &Handler{runtimes: cfg.Runtimes, events: cfg.Events, ids: cfg.IDs, pages: cfg.Pages,
		websockets: cfg.WebSockets, wsEvents: cfg.WebSocketEvents, log: cfg.Log, geoEvents: geoip.NewGate()}
	if h.log == nil {
		h.log = zap.NewNop()
	}
	if h.websockets == nil {
		h.websockets = websocket.NewTracker()
	}
	if h.wsEvents == nil {
		if ws, ok := cfg.Events.(WebSocketSink); ok {
			h.wsEvents = ws
		} else {
			h.wsEvents = discardWebSockets{}
		}
	}
	h.security = cfg.Security
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRequests()
	}
	h.unmatched, h.health, h.maint = cfg.Metrics.Unmatched(), cfg.Health, cfg.Maintenance
	if h.bans = cfg.Bans; h.bans == nil {
		h.bans = bans.New(bans.Options{Log: h.log})
	}
	if h.security == nil {
		if s, ok := cfg.Events.(SecuritySink); ok {
			h.security = s
		} else {
			h.security = discardSecurity{}
		}
	}
	var err error
	if h.defaultMasker, err = ipmask.New(string(ipmask.Default), nil); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if h.defaultLogging, err = redact.New(&proxyv1.Logging{MaskPii: true}); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if h.ids == nil {
		if h.ids, err = requestid.NewGenerator(); err != nil {
			return nil, fmt.Errorf("edge: %w", err)
		}
	}
	if h.pages == nil {
		if h.pages, err = errorpage.New(h.log); err != nil {
			return nil, fmt.Errorf("edge: %w", err)
		}
	}
	return h, nil
}

// Errors recorded in events for answers the edge gives itself.
var (
	errNoSnapshot = errors.New("no snapshot applied yet")
	errNoRoute    = errors.New("no route for host and path")
	errConnect    = errors.New("CONNECT is not supported by a reverse proxy")
	errLimit      = errors.New("request over the route's limits")
	errDown       = errors.New("backend down (health check)")
)

// ServeHTTP is the request path, in order.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// 1. Request id: keep a well-formed one from the client or an outer proxy, else make one.
	//    The backend, the response, the error page and the event all carry it.
	x := h.begin(w, r)
	h.serveRecorded(x)
	// 6. A WebSocket that was upgraded in step 4 is relayed now, frame by frame, after its
	//    request's event (status 101) went out, until it closes; it has events of its own.
	if x.tunnel != nil {
		h.relay(x)
	}
}

// serveRecorded runs steps 2 to 5.
func (h *Handler) serveRecorded(x *exchange) {
	// 5. One event per request, however it ends: also when the edge aborts a response
	//    that broke off half-way (it panics with http.ErrAbortHandler).
	defer h.finish(x)
	h.serve(x)
}

// serve runs steps 2 to 4.
func (h *Handler) serve(x *exchange) {
	// 2. The configuration (loaded in begin, with the client): none yet means not ready.
	rt := x.runtime
	if rt == nil {
		h.fail(x, http.StatusServiceUnavailable, errNoSnapshot)
		return
	}

	// 3. The route, by Host and path. An unknown host or path gets a 404 page. CONNECT (a tunnel
	//    to anywhere, also HTTP/2 and HTTP/3 extended CONNECT) is not something a reverse proxy
	//    offers: 405.
	if x.r.Method == http.MethodConnect {
		x.w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		h.fail(x, http.StatusMethodNotAllowed, errConnect)
		return
	}
	rte := rt.Match(x.r.Host, x.r.URL.Path)
	if rte == nil {
		h.fail(x, http.StatusNotFound, errNoRoute)
		return
	}
	x.route = rte
	ip := x.clientAddr

	// 3a. Bans, first: a banned client (unless whitelisted) gets a 403 before the route spends
	//     anything on it.
	if h.refuseBanned(x, rte, ip) {
		return
	}

	// 3b. GeoIP (geoip.go): the client's country and city for the event, and the route's
	//     allowed/blocked countries (403). After the ban check (a banned client is refused
	//     whatever its country), before the rate limit (a refused country spends no quota).
	if h.checkGeoIP(x, rte) {
		return
	}

	// 3c. Rate limits, per client address (after trusted_proxies), before any other work for
	//     the request: 429 with Retry-After.
	if h.refuseThrottled(x, rte, ip) {
		return
	}

	// 3d. Maintenance (maintenance.go): 503 with Retry-After and the page, except to the allowed
	//     networks. After bans, GeoIP and rate limits (they still protect the route and the
	//     allowed clients' way in), before any other work: the backend is not to be reached.
	if h.underMaintenance(x, rte, ip) {
		return
	}

	// 4. The route's request limits, before any byte reaches the backend: an over-long URL 414,
	//    headers 431, a declared body 413; a body of unknown length is cut at the limit as it
	//    streams (step 7 turns that into a 413).
	if status, msg := rte.limits.Check(x.r); status != 0 {
		h.failPage(x, status, msg, errLimit)
		return
	}
	x.bodyLimit = rte.limits.LimitBody(x.r)

	// 4b. The route's WAF, once the request is known to be within the limits (its body read is
	//     then bounded) and before the headers policy adds headers of its own: a match is a 403
	//     page in block mode, only an event in log mode (waf.go).
	if h.inspect(x, rte) {
		return
	}

	// 5. The route's headers: a CORS preflight is answered here; request headers are set for
	//    the backend; response headers when the final status goes out (error pages included).
	if rte.headers != nil {
		x.vars = headers.VarsFrom(x.r, x.clientIP, x.requestID)
		if rte.headers.ServePreflight(&x.w, x.r, x.vars) {
			return
		}
		rte.headers.ApplyRequest(x.r, x.vars)
		x.headers = rte.headers
		x.w.hook = x // beforeHeader applies them to the response
	}

	// 5b. A backend the control plane's health checks see down: 503 at once rather than a wait
	//     for its connect timeout. After every policy that answers without the backend.
	if h.health != nil && h.health.Down(rte.id, rte.backendURL) {
		h.failPage(x, http.StatusServiceUnavailable, "The service behind this address is down; it is being checked and will be back when it answers again.", errDown)
		return
	}

	// 6. A WebSocket handshake (HTTP/1.1 Upgrade) goes through the route's WebSocket policy;
	//    when the backend switches protocols the client gets its 101 (websocket.go).
	if websocket.IsUpgrade(x.r) {
		h.upgrade(x, rte)
		return
	}

	// 7. The backend, under the slow-request timeout (which stops once the response starts),
	//    through the route's compression. Timeouts, the pool, retries and the circuit breaker
	//    are in the backend's round trip. A response is streamed as it comes, whatever its
	//    status; when there is none, the client gets a page: 413, 502, 503, 504 (or nothing,
	//    having left).
	//    The data plane's HTTP/1.1 server ends the request's own context at the timeout
	//    (slowreq.StartFor), and gives the request the retry counter's context without a copy
	//    (setContext).
	ctx, deadline := rte.slow.StartFor(x.w.rw, x.r.Context())
	defer deadline.Release()
	if rte.slow != nil {
		x.deadline, x.timed = deadline, true
		x.w.hook = x
	}
	if rte.retries && retry.Idempotent(x.r.Method) { // the middleware retries no other
		ctx = retry.WithCounter(ctx, &x.retries)
	}
	if ctx != x.r.Context() {
		x.setContext(ctx)
	}
	w, compressed := rte.compress.Wrap(&x.w, x.r)
	err := rte.backend.Forward(w, x.r)
	res := compressed()
	x.encoding, x.saved = res.Encoding, res.Saved()
	h.classifySlow(x, rte)
	// 7a. Failed logins count the backend's own answers, once their status is known.
	if err == nil {
		h.countFailedLogin(x, rte, ip)
	}
	if err != nil {
		h.failBackend(x, rte, ctx, err)
		var pe *proxy.Error
		if errors.As(err, &pe) && pe.Cut {
			panic(http.ErrAbortHandler) // the response broke off: abort it, so the client sees it cut
		}
	}
}

// classifySlow flags a request over the route's slow-request thresholds, measured to the
// response's first byte (or to the end when there was none), and logs it.
func (h *Handler) classifySlow(x *exchange, rte *Route) {
	if rte.slow == nil {
		return
	}
	d := x.firstByte
	if d == 0 {
		d = time.Since(x.start)
	}
	switch lvl := rte.slow.Classify(d); lvl {
	case slowreq.LevelWarning:
		x.slow = lvl.String()
		h.log.Warn("slow request", zap.String("request_id", x.requestID), zap.String("route", rte.id), zap.String("path", h.storedPath(x)), zap.Duration("time_to_response", d))
	case slowreq.LevelCritical:
		x.slow = lvl.String()
		h.log.Error("slow request", zap.String("request_id", x.requestID), zap.String("route", rte.id), zap.String("path", h.storedPath(x)), zap.Duration("time_to_response", d))
	}
}

// failBackend answers for a backend that gave no response: 504 when the slow-request timeout
// ended it, 413 when the request body crossed the route's limit, else what the proxy says
// (502, 503 for an open circuit, 504, or 499 for a client that left).
func (h *Handler) failBackend(x *exchange, rte *Route, ctx context.Context, err error) {
	if slowreq.TimedOut(ctx) {
		x.timeout = slowreq.TimeoutName
		h.fail(x, http.StatusGatewayTimeout, fmt.Errorf("slow_request timeout %v: %w", rte.slow.Timeout(), err))
		return
	}
	if status, msg, ok := rte.limits.BodyStatus(err); ok {
		h.failPage(x, status, msg, err)
		return
	}
	// The body crossed the limit, but the backend (closing on the cut upload) failed the
	// exchange before the proxy saw its own error: still the client's 413.
	if cut := x.bodyLimit.Exceeded(); cut != nil {
		status, msg, _ := rte.limits.BodyStatus(cut)
		h.failPage(x, status, msg, fmt.Errorf("%w (backend: %v)", cut, err))
		return
	}
	// An open circuit shows the maintenance page, instead of waiting on a dead backend.
	if errors.Is(err, breaker.ErrOpen) {
		h.circuitOpenPage(x, rte, err)
		return
	}
	var pe *proxy.Error
	status := http.StatusBadGateway
	if errors.As(err, &pe) {
		status = pe.Status
	}
	h.fail(x, status, err)
}

// fail answers with an error page for status, unless the client is gone (499) or the backend
// already started a response, and records err for the event.
func (h *Handler) fail(x *exchange, status int, err error) { h.failPage(x, status, "", err) }

// failPage is fail with a message for the page (what limit was crossed, for instance).
func (h *Handler) failPage(x *exchange, status int, msg string, err error) {
	x.err = err
	switch {
	case status == proxy.StatusClientClosedRequest:
		x.w.status = status // for the event only: nobody is listening
	case x.w.wroteHeader:
		// Too late for a page; the event shows the status that went out and the error.
	default:
		page := errorpage.Page{Status: status, Message: msg, RequestID: x.requestID, Time: x.start,
			RetryAfter: x.w.Header().Get("Retry-After")}
		// The route's pages, then the snapshot's global ones (compiled in Build), then the built-in page.
		if x.runtime != nil {
			page.GlobalTemplates = x.runtime.pages
		}
		if rte := x.route; rte != nil {
			page.Route, page.RouteTemplates = rte.id, rte.pages
			if limit := rte.limits.MaxRequestBody(); status == http.StatusRequestEntityTooLarge && limit > 0 {
				page.MaxSize = limits.HumanSize(limit)
			}
		}
		// A failed write means the client left; the event records the status all the same.
		_ = h.pages.Write(&x.w, x.r, page)
	}
}

// Reject answers a request the listeners refuse before routing (an invalid Host, for example)
// with the same error page, request id and event as any other answer of the edge.
func (h *Handler) Reject(w http.ResponseWriter, r *http.Request, status int, reason string) {
	x := h.begin(w, r)
	defer h.finish(x)
	h.failPage(x, status, reason, errors.New(reason))
}
