package edge

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/ratelimit"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var errBanned = errors.New("client banned")

// buildRateLimit compiles a route's rate_limit with the global whitelist; every route gets a
// Limiter, also without rate_limit, for the whitelist that beats bans.
func buildRateLimit(r *proxyv1.Route, edge *proxyv1.Edge, table *ratelimit.Table) (*ratelimit.Limiter, error) {
	return ratelimit.New(r.GetPolicy().GetRateLimit(), ratelimit.Options{RouteID: r.GetId(), Table: table, Whitelist: edge.GetWhitelist()})
}

// refuseBanned answers 403 to a banned client that is not whitelisted. It makes no security
// event: the ban was reported when it was decided, and a banned client's flood must not flood
// the store (each request's event says blocked_by "ban").
func (h *Handler) refuseBanned(x *exchange, rte *Route, ip netip.Addr) bool {
	b, ok := h.bans.Banned(ip, rte.id)
	if !ok || rte.rate.Whitelisted(ip) {
		return false
	}
	x.blockedBy = "ban"
	msg := "Your address is banned from this site."
	if !b.Until.IsZero() {
		msg = "Your address is banned from this site until " + b.Until.UTC().Format(time.RFC1123) + "."
	}
	h.failPage(x, http.StatusForbidden, msg, errBanned)
	return true
}

// refuseThrottled answers 429 with Retry-After to a request over one of the route's rate limits,
// reports the first refusal of a client per limit and window, and applies and reports a ban the
// refusal decided.
func (h *Handler) refuseThrottled(x *exchange, rte *Route, ip netip.Addr) bool {
	d := rte.rate.Allow(ip, x.r.URL.Path)
	if d.Allowed {
		return false
	}
	x.blockedBy = "rate_limit"
	if d.Notify {
		h.securityEvent(x, &proxyv1.SecurityEvent{Kind: proxyv1.SecurityKind_SECURITY_KIND_THROTTLED, Action: "throttled",
			Rule: d.Rule, Count: d.Count, Reason: fmt.Sprintf("%d requests in the last minute, limit %d (%s)", d.Count, d.Limit, d.Rule)})
	}
	if d.Ban.Decided() {
		h.ban(x, rte, ip, d.Ban)
	}
	x.w.Header().Set("Retry-After", strconv.FormatInt(d.RetryAfter, 10))
	h.failPage(x, http.StatusTooManyRequests, "Too many requests: try again in "+strconv.FormatInt(d.RetryAfter, 10)+" s.",
		fmt.Errorf("rate limit %s: %d requests in the last minute, limit %d", d.Rule, d.Count, d.Limit))
	return true
}

// countFailedLogin counts a backend's answer to a login path that means a failed login, and
// bans after too many. Each failure before the ban makes a FAILED_LOGIN event: at most
// ban_after per client and window, since the ban stops the client.
func (h *Handler) countFailedLogin(x *exchange, rte *Route, ip netip.Addr) {
	if !rte.rate.TracksLogins() {
		return
	}
	status := x.w.status
	if status == 0 {
		status = http.StatusOK
	}
	f := rte.rate.Failure(ip, x.r.URL.Path, status)
	if !f.Counted {
		return
	}
	if f.Ban.Decided() {
		h.ban(x, rte, ip, f.Ban)
		return
	}
	h.securityEvent(x, &proxyv1.SecurityEvent{Kind: proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN, Action: "logged",
		Rule: "failed_logins", Count: f.Count, Reason: "login answered " + strconv.Itoa(status)})
}

// ban applies a ban this data plane decided to the ban set at once and reports it; the control
// plane stores it and pushes it to every data plane.
func (h *Handler) ban(x *exchange, rte *Route, ip netip.Addr, b ratelimit.Ban) {
	if !h.bans.Add(ip, rte.id, b.Until, b.Reason) {
		h.log.Warn("local ban not applied (too many waiting for the control plane)", zap.String("request_id", x.requestID),
			zap.String("route", rte.id), zap.String("rule", b.Rule))
	}
	h.securityEvent(x, &proxyv1.SecurityEvent{Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED, Action: "banned", Rule: b.Rule,
		Count: b.Count, BanUntil: timestamppb.New(b.Until), Reason: b.Reason, AlertWebhook: b.AlertWebhook})
}
