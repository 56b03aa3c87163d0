package edge

import (
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// count adds the finished request to its route's counters (the unmatched ones when no route
// matched), with the status and duration its event records: atomics, no lock, no allocation.
func (h *Handler) count(x *exchange, ev *proxyv1.RequestEvent) {
	m := h.unmatched
	if x.route != nil {
		m = x.route.metrics
	}
	m.Observe(x.r.Method, int(ev.GetStatus()), ev.GetDuration().AsDuration(), x.blockedBy == "waf")
}
