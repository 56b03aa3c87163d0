package edge

import (
	"errors"
	"net/netip"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/maintenance"
)

var errMaintenance = errors.New("maintenance")

// underMaintenance answers a route in maintenance with 503, Retry-After and its page, unless the
// client (after trusted_proxies) is in its allow list. The event says blocked_by "maintenance".
//
// A route listed because a circuit is open is left to this data plane's own breaker (step 7):
// it lets the half-open probes through, which close the circuit when the backend is back, and
// answers the requests it refuses with the maintenance page (circuitOpenPage). Answering them
// all here would keep the circuit open for ever.
func (h *Handler) underMaintenance(x *exchange, rte *Route, ip netip.Addr) bool {
	m := h.maint.Lookup(rte.id)
	if m == nil || m.Reason() == maintenance.ReasonCircuitOpen || m.Allows(ip) {
		return false
	}
	x.blockedBy, x.err = "maintenance", errMaintenance
	if x.w.wroteHeader {
		return true
	}
	// A failed write means the client left; the event records the status all the same.
	_ = m.Write(&x.w, x.r, x.requestID, time.Now())
	return true
}

// circuitOpenPage answers a request the route's circuit breaker refused with the maintenance
// page (503, Retry-After), as for a route in maintenance; the event records the breaker's error.
func (h *Handler) circuitOpenPage(x *exchange, rte *Route, err error) {
	x.err = err
	if x.w.wroteHeader {
		return
	}
	_ = h.maint.CircuitOpen(rte.id).Write(&x.w, x.r, x.requestID, time.Now())
}
