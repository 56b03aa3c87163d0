package edge

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/breaker"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/clientip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/compress"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/errorpage"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/headers"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/limits"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/metrics"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/ratelimit"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/redact"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/route"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/slowreq"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/waf"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/websocket"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// Runtime is one snapshot compiled for the request path: the route table and, per route,
// everything its requests need, built once here and never per request. A Runtime does not
// change after Build; a new snapshot gives a new Runtime, swapped in through a Holder, so a
// request sees one whole snapshot from start to end.
type Runtime struct {
	version uint64
	table   *route.Table
	// clientIP finds a request's client from the snapshot's trusted_proxies.
	clientIP *clientip.Resolver
	routes   []Route   // in snapshot order: route.Entry.Index points here
	geoip    *geoip.DB // the snapshot's GeoIP database; nil: GeoIP off
	close    sync.Once

	// pages are the snapshot's global error pages; nil: none.
	pages *errorpage.Templates
	// applied is when a Holder first served the Runtime (set by Store before it is published).
	applied time.Time
}

// Route is one route ready to serve: its backend (with timeouts, pool, retries and circuit
// breaker in its round trip) and every policy of the request path, built once (policy.go).
type Route struct {
	id         string
	backend    *proxy.Backend
	backendURL string
	masker     ipmask.Masker
	logging    *redact.Policy // what of the path and user agent an event may store
	websocket  websocket.Policy
	limits     *limits.Limits
	waf        *waf.Policy // nil: no WAF on the route
	headers    *headers.Policy
	compress   *compress.Policy
	slow       *slowreq.Policy
	retries    bool
	geoip      *geoip.Policy
	rate       *ratelimit.Limiter // never nil: it holds the whitelist that beats bans
	metrics    *metrics.Route     // the route's request counters, kept across snapshots

	// pages are the route's error pages; nil: none.
	pages *errorpage.Templates
}

// ID returns the route's id from the snapshot.
func (r *Route) ID() string { return r.id }

// BuildOptions are the data plane's own settings that a snapshot does not carry.
type BuildOptions struct {
	// IPHashKey is the secret of the "hash" IP mask method (at least ipmask.MinKeyLen bytes),
	// from which the key of each UTC day derives (ipmask.DayKey). A snapshot with a route that
	// asks for hash does not build without it.
	IPHashKey []byte
	// Breakers keeps circuit breakers across snapshots; nil gives each Build its own, so an open
	// circuit would close on every reload.
	Breakers *breaker.Registry
	// GeoIP loads the database the snapshot names, once per path, and keeps it up to date; nil
	// means GeoIP off. GeoIPLogins remembers the countries of each route's logins across
	// snapshots; nil gives each Build its own, so the unusual-country warm-up would restart.
	GeoIP       *geoip.Source
	GeoIPLogins *geoip.Logins
	// RateLimits holds the rate-limit counters across snapshots; nil gives each Build its own,
	// so counts would start from zero on every reload.
	RateLimits *ratelimit.Table
	// Metrics holds the request counters per route across snapshots (and gives the Handler
	// its counters of unmatched requests); nil gives each Build its own.
	Metrics *metrics.Requests

	// pageCache compiles each error page of a snapshot once, however many routes have it.
	pageCache errorpage.Cache
}

// smallTable is the capacity of the counter table of a Build without BuildOptions.RateLimits
// (tests, tools); the data plane passes one of ratelimit.DefaultCapacity.
const smallTable = 4096

// Build compiles a snapshot. An error means the snapshot cannot be served as written: the
// caller NACKs it with the error and keeps the current Runtime. A Runtime that is built but
// never stored in a Holder must be Closed.
func Build(snap *proxyv1.Snapshot, pools *proxy.Pools, opts BuildOptions) (_ *Runtime, err error) {
	if snap == nil {
		return nil, errors.New("no snapshot")
	}
	table, err := route.NewTable(snap.GetRoutes())
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", snap.GetVersion(), err)
	}
	clients, err := clientip.New(snap.GetEdge().GetTrustedProxies())
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: %w", snap.GetVersion(), err)
	}
	opts.pageCache = errorpage.Cache{}
	pages, err := errorpage.Compile("global", snap.GetErrorPages(), opts.pageCache)
	if err != nil {
		return nil, fmt.Errorf("snapshot %d: global %w", snap.GetVersion(), err)
	}
	rt := &Runtime{
		version:  snap.GetVersion(),
		table:    table,
		clientIP: clients,
		routes:   make([]Route, len(snap.GetRoutes())),
		pages:    pages,
	}
	defer func() {
		if err != nil {
			rt.Close() // give back the transports of the routes built so far
		}
	}()
	if opts.Breakers == nil {
		opts.Breakers = breaker.NewRegistry(func(*proxyv1.CircuitEvent) {})
	}
	if opts.GeoIPLogins == nil {
		opts.GeoIPLogins = geoip.NewLogins(geoip.WarmUpTime, geoip.WarmUpLogins)
	}
	if opts.RateLimits == nil {
		opts.RateLimits = ratelimit.NewTable(smallTable)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewRequests()
	}
	for i, r := range snap.GetRoutes() {
		if rt.routes[i], err = buildRoute(r, pools, opts); err != nil {
			return nil, fmt.Errorf("snapshot %d: route %q: %w", snap.GetVersion(), r.GetId(), err)
		}
		if rt.routes[i].rate, err = buildRateLimit(r, snap.GetEdge(), opts.RateLimits); err != nil {
			return nil, fmt.Errorf("snapshot %d: route %q: rate_limit: %w", snap.GetVersion(), r.GetId(), err)
		}
	}
	rt.geoip = opts.GeoIP.Use(snap.GetEdge().GetGeoipDatabase())
	opts.GeoIPLogins.Retain(routeIDs(snap))
	opts.Metrics.Retain(routeIDs(snap))
	return rt, nil
}

// Applied returns the version of the Runtime served and when it was stored; 0 and the zero
// time before the first.
func (h *Holder) Applied() (uint64, time.Time) {
	rt := h.current.Load()
	if rt == nil {
		return 0, time.Time{}
	}
	return rt.version, rt.applied
}

// Version returns the snapshot version the Runtime was built from.
func (rt *Runtime) Version() uint64 { return rt.version }

// resolveClient returns the client of r. Before the first snapshot (nil Runtime) no proxy is
// trusted.
func (rt *Runtime) resolveClient(r *http.Request) clientip.Client {
	if rt == nil {
		return clientip.Peer(r.RemoteAddr)
	}
	return rt.clientIP.Resolve(r.RemoteAddr, r.Header)
}

// Match returns the route for a request's Host header and path, nil if there is none.
func (rt *Runtime) Match(host, path string) *Route {
	e := rt.table.Match(host, path)
	if e == nil {
		return nil
	}
	return &rt.routes[e.Index]
}

// Close releases the Runtime's backend transports to their Pools, which keep them warm for a
// grace period. Requests still being served by the Runtime finish normally. Holder.Store
// closes the Runtime it replaces.
func (rt *Runtime) Close() {
	rt.close.Do(func() {
		for i := range rt.routes {
			if b := rt.routes[i].backend; b != nil {
				b.Release()
			}
		}
	})
}

// Holder holds the Runtime being served. The zero value holds none: the edge answers 503.
type Holder struct {
	current atomic.Pointer[Runtime]
}

// Load returns the current Runtime, nil before the first Store.
func (h *Holder) Load() *Runtime { return h.current.Load() }

// Store makes rt the current Runtime and Closes the one it replaces. Requests that already
// loaded the old Runtime finish on it.
func (h *Holder) Store(rt *Runtime) {
	if rt != nil && rt.applied.IsZero() {
		rt.applied = time.Now()
	}
	if old := h.current.Swap(rt); old != nil && old != rt {
		old.Close()
	}
}

// Applier builds every snapshot it is given and serves it: the control-plane client's way of
// making a snapshot live. Apply is called for one snapshot at a time.
type Applier struct {
	Holder  *Holder
	Pools   *proxy.Pools
	Options BuildOptions
}

// Apply builds snap and stores it in the Holder. On error nothing changes: the current Runtime
// keeps serving and the error says why the snapshot was refused (the NACK reason).
func (a *Applier) Apply(snap *proxyv1.Snapshot) error {
	rt, err := Build(snap, a.Pools, a.Options)
	if err != nil {
		return err
	}
	a.Holder.Store(rt)
	return nil
}
