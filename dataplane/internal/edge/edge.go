// Package edge is the data plane's HTTP handler: every client request enters here, and this
// file is the whole request path, in order. Policies added later (bans, rate limits, WAF, ...)
// are built per route in Build, once per snapshot, and called from serve in the order written
// there.
package edge

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/errorpage"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
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
	// defaultMasker masks the client IP of requests that matched no route.
	defaultMasker ipmask.Masker
}

// New checks cfg and returns the Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Runtimes == nil || cfg.Events == nil {
		return nil, errors.New("edge: Runtimes and Events are required")
	}
	h := &Handler{runtimes: cfg.Runtimes, events: cfg.Events, ids: cfg.IDs, pages: cfg.Pages,
		websockets: cfg.WebSockets, wsEvents: cfg.WebSocketEvents}
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
	var err error
	if h.defaultMasker, err = ipmask.New(string(ipmask.Default), nil); err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	if h.ids == nil {
		if h.ids, err = requestid.NewGenerator(); err != nil {
			return nil, fmt.Errorf("edge: %w", err)
		}
	}
	if h.pages == nil {
		if h.pages, err = errorpage.New(); err != nil {
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
	// 5. One event per request, however it ends: also when ReverseProxy aborts a response
	//    that broke off half-way (it panics with http.ErrAbortHandler).
	defer h.finish(x)
	h.serve(x)
}

// serve runs steps 2 to 4.
func (h *Handler) serve(x *exchange) {
	// 2. The configuration: none yet means not ready.
	rt := h.runtimes.Load()
	if rt == nil {
		h.fail(x, http.StatusServiceUnavailable, errNoSnapshot)
		return
	}
	x.runtime = rt

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

	// 4. The backend. A response it gives is streamed as it is, whatever its status; when it
	//    gives none, the client gets a 502 or 504 page (or nothing, having left). A WebSocket
	//    handshake (HTTP/1.1 Upgrade) goes through the route's WebSocket policy first, and
	//    when the backend switches protocols the client gets its 101 (websocket.go).
	if websocket.IsUpgrade(x.r) {
		h.upgrade(x, rte)
		return
	}
	if err := rte.backend.Serve(&x.w, x.r); err != nil {
		h.failBackend(x, err)
	}
}

// failBackend answers for a backend that gave no response: 502, 504, or 499 for a client that
// left.
func (h *Handler) failBackend(x *exchange, err error) {
	var pe *proxy.Error
	status := http.StatusBadGateway
	if errors.As(err, &pe) {
		status = pe.Status
	}
	h.fail(x, status, err)
}

// fail answers with an error page for status, unless the client is gone (499) or the backend
// already started a response, and records err for the event.
func (h *Handler) fail(x *exchange, status int, err error) {
	x.err = err
	switch {
	case status == proxy.StatusClientClosedRequest:
		x.w.status = status // for the event only: nobody is listening
	case x.w.wroteHeader:
		// Too late for a page; the event shows the status that went out and the error.
	default:
		page := errorpage.Page{Status: status, RequestID: x.requestID, Time: x.start}
		// A failed write means the client left; the event records the status all the same.
		_ = h.pages.Write(&x.w, x.r, page)
	}
}
