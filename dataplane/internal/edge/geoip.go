package edge

import (
	"errors"
	"net/http"
	"net/netip"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var errGeoBlocked = errors.New("client country refused by the route's geoip policy")

// geoPageMessage is what the 403 page tells a refused client.
const geoPageMessage = "This site is not available from your country."

// checkGeoIP locates the client (country and city go on the request's event) and applies the
// route's GeoIP policy. It reports whether it answered the request (403). Without a loaded
// database GeoIP is off: nothing is located and nothing refused (the data plane warned once).
func (h *Handler) checkGeoIP(x *exchange, rte *Route) bool {
	db := x.runtime.geoip
	if db == nil {
		return false
	}
	addr, err := netip.ParseAddr(x.clientIP)
	if err != nil {
		return false // not an IP (a Unix socket listener): nothing to locate
	}
	loc, err := db.Lookup(addr)
	if errors.Is(err, geoip.ErrNotLoaded) {
		return false
	}
	if err != nil {
		// A record the database cannot decode: the country is unknown, which an allow list refuses.
		h.log.Debug("geoip lookup", zap.String("request_id", x.requestID), zap.Error(err))
	}
	x.country, x.city = loc.Country, loc.City
	if v := rte.geoip.Check(addr, loc.Country); v != geoip.Pass {
		x.blockedBy = "geoip"
		if h.geoEvents.Allow(x.clientIP, x.start) { // one event per client and minute, not one per request
			h.securityEvent(x, &proxyv1.SecurityEvent{Kind: proxyv1.SecurityKind_SECURITY_KIND_GEO_BLOCKED,
				Action: "blocked", Rule: v.Rule(), Reason: "country " + countryName(loc.Country) + " refused by " + v.Rule()})
		}
		h.failPage(x, http.StatusForbidden, geoPageMessage, errGeoBlocked)
		return true
	}
	// Reported once per route and new country (see geoip.RouteLogins), so no gate is needed.
	if rte.geoip.Unusual(x.r.Method, x.r.URL.Path, loc.Country, x.start) {
		h.securityEvent(x, &proxyv1.SecurityEvent{Kind: proxyv1.SecurityKind_SECURITY_KIND_UNUSUAL_COUNTRY,
			Action: "logged", Rule: "alert_on_unusual_country", AlertWebhook: true,
			Reason: "first login from " + loc.Country + " on this route since the data plane started"})
	}
	return false
}

func countryName(c string) string {
	if c == "" {
		return "unknown"
	}
	return c
}

// routeIDs are the ids of snap's routes: the routes whose login memory is kept.
func routeIDs(snap *proxyv1.Snapshot) map[string]bool {
	ids := make(map[string]bool, len(snap.GetRoutes()))
	for _, r := range snap.GetRoutes() {
		ids[r.GetId()] = true
	}
	return ids
}
