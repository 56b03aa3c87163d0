package alerts

import (
	"net/netip"
	"sync"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// route is what an alert says about one route of the snapshot in force.
type route struct {
	id, site, host, backend string
	mask                    ipmask.Masker
	slowAlert               bool // slow_request.alert_webhook: its critically slow requests are alerted
}

// defaultMask masks addresses of events whose route is not in the snapshot.
var defaultMask = mustMasker(string(ipmask.Default))

// maskIP masks a raw client address as the route's access log does. The "hash" method needs the
// data planes' key, which the control plane does not hold: it masks by the /16 and /48 prefixes
// instead, which identify less than every other method. Text that is not an address gives "".
func (r *route) maskIP(raw string, at time.Time) string {
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return ""
	}
	m := defaultMask
	if r != nil {
		m = r.mask
	}
	return m.MaskAt(addr, at)
}

// maskerFor builds the masker of a route's mask_ip_method.
func maskerFor(method string) ipmask.Masker {
	spec, err := ipmask.Parse(method)
	switch {
	case err != nil:
		return defaultMask
	case spec.Method == ipmask.Hash:
		return mustMasker(ipmask.FormatPrefix(ipmask.DefaultPrefixV4, ipmask.DefaultPrefixV6))
	}
	return mustMasker(method)
}

func mustMasker(method string) ipmask.Masker {
	m, err := ipmask.New(method, nil)
	if err != nil {
		panic("alerts: built-in mask method " + method + ": " + err.Error())
	}
	return m
}

// directory indexes the routes of the snapshot in force, rebuilt when a new one is published.
type directory struct {
	snaps Snapshots

	mu        sync.Mutex
	snap      *proxyv1.Snapshot
	byID      map[string]*route
	byBackend map[string]*route // the first route (by id) of each backend URL
	byHost    map[string]*route
}

func newDirectory(snaps Snapshots) *directory {
	return &directory{snaps: snaps, byID: map[string]*route{}, byBackend: map[string]*route{}, byHost: map[string]*route{}}
}

// refreshLocked rebuilds the indexes when the snapshot in force changed; it reports whether it did.
func (d *directory) refreshLocked() bool {
	if d.snaps == nil {
		return false
	}
	snap, _ := d.snaps.Current()
	if snap == d.snap {
		return false
	}
	d.snap = snap
	d.byID, d.byBackend, d.byHost = map[string]*route{}, map[string]*route{}, map[string]*route{}
	for _, r := range snap.GetRoutes() {
		rt := &route{id: r.GetId(), site: r.GetSite(), backend: r.GetBackendUrl(),
			mask: maskerFor(r.GetPolicy().GetLogging().GetMaskIpMethod()), slowAlert: r.GetPolicy().GetSlowRequest().GetAlertWebhook()}
		if hosts := r.GetHosts(); len(hosts) > 0 {
			rt.host = hosts[0]
		}
		d.byID[rt.id] = rt
		if prev, ok := d.byBackend[rt.backend]; !ok || rt.id < prev.id {
			d.byBackend[rt.backend] = rt
		}
		for _, h := range r.GetHosts() {
			if prev, ok := d.byHost[h]; !ok || rt.id < prev.id {
				d.byHost[h] = rt
			}
		}
	}
	return true
}

// byRoute returns the route with id, nil when the snapshot in force has none.
func (d *directory) byRoute(id string) *route {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	return d.byID[id]
}

// forBackend returns the first route served by backend, nil when none is.
func (d *directory) forBackend(backend string) *route {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	return d.byBackend[backend]
}

// forHost returns the first route of host, nil when none has it.
func (d *directory) forHost(host string) *route {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refreshLocked()
	return d.byHost[host]
}

// known reports, for pruning, whether a route id is in the snapshot in force.
func (d *directory) known(id string) bool { return d.byRoute(id) != nil }

// describe gives the route's id and host for an alert ("" for a nil route).
func (r *route) describe() (id, host string) {
	if r == nil {
		return "", ""
	}
	return r.id, r.host
}
