package edge

import (
	"fmt"
	"net/http"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/breaker"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/compress"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/errorpage"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/headers"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/limits"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/redact"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/retry"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/slowreq"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/waf"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/websocket"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// buildRoute compiles one route's policies. Every constructor validates its part of the policy,
// so a snapshot the data plane cannot enforce as written is refused here, whole.
func buildRoute(r *proxyv1.Route, pools *proxy.Pools, opts BuildOptions) (Route, error) {
	pol := r.GetPolicy()
	rte := Route{id: r.GetId(), metrics: opts.Metrics.Route(r.GetId())}
	var err error
	if rte.masker, err = ipmask.New(pol.GetLogging().GetMaskIpMethod(), opts.IPHashKey); err != nil {
		return Route{}, fmt.Errorf("logging: %w", err)
	}
	if rte.logging, err = redact.New(pol.GetLogging()); err != nil {
		return Route{}, fmt.Errorf("logging: %w", err)
	}
	if rte.websocket, err = websocket.NewPolicy(pol.GetWebsocket()); err != nil {
		return Route{}, err
	}
	if rte.limits, err = limits.New(pol.GetLimits()); err != nil {
		return Route{}, fmt.Errorf("limits: %w", err)
	}
	if rte.waf, err = waf.New(pol.GetWaf()); err != nil {
		return Route{}, err
	}
	if rte.headers, err = headers.New(pol.GetHeaders()); err != nil {
		return Route{}, fmt.Errorf("headers: %w", err)
	}
	if rte.compress, err = compress.New(pol.GetCompression()); err != nil {
		return Route{}, fmt.Errorf("compression: %w", err)
	}
	if rte.pages, err = errorpage.Compile(rte.id, pol.GetErrorPages(), opts.pageCache); err != nil {
		return Route{}, err
	}
	if rte.slow, err = slowreq.New(pol.GetSlowRequest()); err != nil {
		return Route{}, fmt.Errorf("slow_request: %w", err)
	}
	if geo := pol.GetGeoip(); geo.GetEnabled() {
		if rte.geoip, err = geoip.NewPolicy(geo, pol.GetRateLimit().GetFailedLogins().GetPaths(), opts.GeoIPLogins.For(rte.id)); err != nil {
			return Route{}, fmt.Errorf("geoip: %w", err)
		}
	}
	// Validate the retry policy now; the round trip below builds it for the backend's transport.
	if _, err := retry.New(pol.GetRetry(), http.DefaultTransport); err != nil {
		return Route{}, fmt.Errorf("retry: %w", err)
	}
	rte.retries = pol.GetRetry().GetEnabled()
	br, err := opts.Breakers.Get(r.GetBackendUrl(), pol.GetCircuitBreaker())
	if err != nil {
		return Route{}, fmt.Errorf("circuit_breaker: %w", err)
	}

	settings := proxy.SettingsFromPolicy(pol)
	settings.Wrap = roundTrip(pol.GetRetry(), br)
	if rte.backend, err = pools.NewBackendWith(r.GetBackendUrl(), settings); err != nil {
		return Route{}, err
	}
	rte.backendURL = rte.backend.URL()
	return rte, nil
}

// roundTrip puts the circuit breaker in front of the retries in front of the transport: an open
// circuit fails at once without retrying, and the retries of one request count once for it.
func roundTrip(retryPolicy *proxyv1.Retry, br *breaker.Breaker) func(http.RoundTripper) http.RoundTripper {
	if !retryPolicy.GetEnabled() && br == nil {
		return nil
	}
	return func(rt http.RoundTripper) http.RoundTripper {
		if retryPolicy.GetEnabled() {
			// Validated in buildRoute: New fails only for a policy that failed there.
			rt, _ = retry.New(retryPolicy, rt)
		}
		if br != nil {
			rt = br.Wrap(rt)
		}
		return rt
	}
}
