// Package maintenance holds the routes in maintenance, as the control plane last pushed them
// (MaintenanceList on the snapshot stream), for the edge: such a route answers 503 with
// Retry-After and its page, except to the allowed client networks, which reach the backend.
//
// Each list is compiled once when it arrives (allow networks parsed, pages ready to write) and
// swapped in behind an atomic pointer: the request path takes no lock and allocates nothing for a
// route not in maintenance.
package maintenance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/errorpage"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/ipset"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// UnknownRetryAfter is the Retry-After of a window without a known end (a circuit, an open-ended
// window): 5 minutes, as the contract says.
const UnknownRetryAfter = 300

// overdueRetryAfter is the Retry-After once the end has passed but the control plane's new list
// has not arrived yet: any moment now.
const overdueRetryAfter = 30

// Holder holds the compiled list. The zero value holds none. Safe for concurrent use; Lookup
// takes no lock.
type Holder struct {
	log *zap.Logger
	cur atomic.Pointer[map[string]*Route]
}

// NewHolder returns an empty holder; log (nil: none) reports allow entries it cannot parse.
func NewHolder(log *zap.Logger) *Holder {
	if log == nil {
		log = zap.NewNop()
	}
	return &Holder{log: log}
}

// ReasonCircuitOpen is the reason of a route the control plane lists because a data plane's
// circuit breaker for its backend is open.
const ReasonCircuitOpen = "circuit_open"

// circuitOpen is the answer of a route whose circuit breaker refused a request and that the
// control plane has not (yet) listed: the default page, Retry-After UnknownRetryAfter.
var circuitOpen = &Route{reason: ReasonCircuitOpen}

// CircuitOpen returns the maintenance to answer with for a request the route's circuit breaker
// refused: the route's own (the control plane's page for it), or the default one.
func (h *Holder) CircuitOpen(routeID string) *Route {
	if r := h.Lookup(routeID); r != nil {
		return r
	}
	return circuitOpen
}

// Route is one route in maintenance, compiled.
type Route struct {
	allow  *ipset.Set
	page   []byte // the administrator's page, nil for the default one
	endsAt time.Time
	reason string
}

// SetMaintenance replaces the list (each one is complete). An allow entry that does not parse is
// left out and logged: the route stays in maintenance for everyone else.
func (h *Holder) SetMaintenance(l *proxyv1.MaintenanceList) {
	routes := make(map[string]*Route, len(l.GetRoutes()))
	for _, m := range l.GetRoutes() {
		r := &Route{reason: m.GetReason()}
		if m.GetHtml() != "" {
			r.page = []byte(m.GetHtml())
		}
		if m.GetEndsAt() != nil {
			r.endsAt = m.GetEndsAt().AsTime()
		}
		var ok []string
		for _, a := range m.GetAllow() {
			if _, err := ipset.Parse([]string{a}); err != nil {
				if h.log != nil {
					h.log.Error("maintenance allow entry ignored", zap.String("route", m.GetRouteId()), zap.Error(err))
				}
				continue
			}
			ok = append(ok, a)
		}
		r.allow, _ = ipset.Parse(ok) // every entry parsed above
		routes[m.GetRouteId()] = r
	}
	h.cur.Store(&routes)
}

// Lookup returns the route's maintenance, nil when it is not in maintenance.
func (h *Holder) Lookup(routeID string) *Route {
	if h == nil {
		return nil
	}
	m := h.cur.Load()
	if m == nil || len(*m) == 0 {
		return nil
	}
	return (*m)[routeID]
}

// Allows reports whether client a still reaches the backend.
func (r *Route) Allows(a netip.Addr) bool { return r.allow.Contains(a) }

// Reason is the control plane's reason: "admin", "schedule" or "circuit_open".
func (r *Route) Reason() string { return r.reason }

// RetryAfter is the Retry-After in seconds at now: until the end, rounded up.
func (r *Route) RetryAfter(now time.Time) int64 {
	if r.endsAt.IsZero() {
		return UnknownRetryAfter
	}
	d := r.endsAt.Sub(now)
	if d <= 0 {
		return overdueRetryAfter
	}
	return int64(math.Ceil(d.Seconds()))
}

//go:embed page.html
var defaultPage string

// defaultBefore and defaultAfter are the default page around its request id.
var defaultBefore, defaultAfter, _ = strings.Cut(defaultPage, "{{RequestID}}")

// jsonBody is what a JSON client gets.
type jsonBody struct {
	Status     int    `json:"status"`
	Error      string `json:"error"`
	Message    string `json:"message"`
	RequestID  string `json:"request_id"`
	RetryAfter int64  `json:"retry_after"`
}

// Message is what the page and the JSON answer say.
const Message = "This service is down for maintenance. Please try again later."

// Write answers 503 with Retry-After and the page: JSON when the client prefers it, the
// administrator's page, or the default one with the request id.
func (r *Route) Write(w http.ResponseWriter, req *http.Request, requestID string, now time.Time) error {
	retry := r.RetryAfter(now)
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(retry, 10))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Vary", "Accept")
	h.Del("Content-Encoding")
	var body []byte
	switch {
	case errorpage.PrefersJSON(req.Header.Get("Accept")):
		h.Set("Content-Type", "application/json")
		j, err := json.Marshal(jsonBody{Status: http.StatusServiceUnavailable, Error: "Service Unavailable",
			Message: Message, RequestID: requestID, RetryAfter: retry})
		if err != nil {
			return err
		}
		body = append(j, '\n')
	case r.page != nil:
		h.Set("Content-Type", "text/html; charset=utf-8")
		body = r.page
	default:
		h.Set("Content-Type", "text/html; charset=utf-8")
		// The page has inline styles and nothing else.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		var b bytes.Buffer
		b.Grow(len(defaultPage) + len(requestID))
		b.WriteString(defaultBefore)
		b.WriteString(html.EscapeString(requestID))
		b.WriteString(defaultAfter)
		body = b.Bytes()
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusServiceUnavailable)
	if req.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body)
	return err
}
