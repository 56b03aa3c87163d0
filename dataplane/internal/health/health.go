// Package health holds the control plane's health-check state of the routes' backends, as last
// pushed on the snapshot stream (HealthList), for the edge: a route whose backend is down is
// answered 503 at once instead of waiting on a dead backend. Only "down" refuses; healthy,
// degraded and unknown pass, and so does a route the list does not name.
package health

import (
	"net/url"
	"sync/atomic"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Down is the state that refuses requests.
const Down = "down"

// Holder holds the latest HealthList. The zero value holds none: nothing is down. It is safe for
// concurrent use; Down takes no lock.
type Holder struct {
	cur atomic.Pointer[state]
}

type state struct {
	list *proxyv1.HealthList
	// down maps the id of each route whose backend is down to that backend's URL, as
	// proxy.Backend.URL writes it ("" when the list does not say).
	down map[string]string
}

// SetHealth replaces the list (each list is complete: the control plane sends the whole of it on
// every change and after every reconnect).
func (h *Holder) SetHealth(l *proxyv1.HealthList) {
	s := &state{list: l}
	for _, b := range l.GetBackends() {
		if b.GetState() != Down {
			continue
		}
		if s.down == nil {
			s.down = make(map[string]string)
		}
		s.down[b.GetRouteId()] = normalize(b.GetBackendUrl())
	}
	h.cur.Store(s)
}

// normalize writes a backend URL the way the data plane's backends do (url.Parse, String), so
// that the list's URL compares with the route's.
func normalize(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw // compares equal to nothing the data plane serves: the entry refuses nothing
	}
	return u.String()
}

// Down reports whether the backend of route routeID is down. backendURL is the backend the
// route serves now: a list about another backend (the snapshot changed it since the check) does
// not refuse the route.
func (h *Holder) Down(routeID, backendURL string) bool {
	s := h.cur.Load()
	if s == nil || len(s.down) == 0 {
		return false
	}
	u, ok := s.down[routeID]
	return ok && (u == "" || u == backendURL)
}

// List returns the latest list, nil before the first.
func (h *Holder) List() *proxyv1.HealthList {
	if s := h.cur.Load(); s != nil {
		return s.list
	}
	return nil
}
