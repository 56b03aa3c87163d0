package edge

import (
	"errors"
	"net/netip"
	"time"
)

var errMaintenance = errors.New("maintenance")

// underMaintenance answers a route in maintenance with 503, Retry-After and its page, unless the
// client (after trusted_proxies) is in its allow list. The event says blocked_by "maintenance".
func (h *Handler) underMaintenance(x *exchange, rte *Route, ip netip.Addr) bool {
	m := h.maint.Lookup(rte.id)
	if m == nil || m.Allows(ip) {
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
