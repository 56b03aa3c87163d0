package geoip

import (
	"sync"
	"sync/atomic"
	"time"
)

// The default warm-up of a route's login memory: until both have passed, countries are
// learned silently, so that a data plane that just started does not report every country as new.
const (
	WarmUpTime   = time.Hour
	WarmUpLogins = 20
)

// Logins keeps, per route, the countries that logged in through this data plane since it
// started. It outlives snapshots, so a configuration change does not restart the warm-up.
// Its size is bounded by the routes of the current snapshot (Retain) times 676 bits.
type Logins struct {
	mu           sync.Mutex
	routes       map[string]*RouteLogins
	warmUp       time.Duration
	warmUpLogins int64
	now          func() time.Time
}

// NewLogins returns an empty memory whose routes warm up for warmUp and warmUpLogins logins
// (WarmUpTime and WarmUpLogins in the data plane).
func NewLogins(warmUp time.Duration, warmUpLogins int64) *Logins {
	return &Logins{routes: map[string]*RouteLogins{}, warmUp: warmUp, warmUpLogins: warmUpLogins, now: time.Now}
}

// For returns the memory of the route with id, creating it (and starting its warm-up) the
// first time.
func (l *Logins) For(routeID string) *RouteLogins {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.routes[routeID]
	if r == nil {
		r = &RouteLogins{warmUntil: l.now().Add(l.warmUp).UnixNano(), warmUpLogins: l.warmUpLogins}
		l.routes[routeID] = r
	}
	return r
}

// Retain forgets the routes whose ids are not in ids (routes removed from the configuration).
func (l *Logins) Retain(ids map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.routes {
		if !ids[id] {
			delete(l.routes, id)
		}
	}
}

// RouteLogins is one route's memory of login countries. A login is unusual when, after the
// warm-up (a time since the route was first seen, and a number of logins), it comes from a
// country no earlier login on the route came from. The country is then learned, so each new
// country is reported once per route and data plane: at most 676 events per route.
type RouteLogins struct {
	seen         [len(countrySet{})]atomic.Uint64
	logins       atomic.Int64
	warmUntil    int64 // unix nanoseconds
	warmUpLogins int64
}

// Observe records a login from country (an upper-case two-letter code) at now and reports
// whether it was unusual. It takes no lock: the known-country case is one atomic load.
func (r *RouteLogins) Observe(country string, now time.Time) bool {
	i, ok := countryIndex(country)
	if !ok {
		return false
	}
	n := r.logins.Load()
	if n <= r.warmUpLogins { // past the warm-up the counter is left alone: no shared write per login
		n = r.logins.Add(1)
	}
	warm := n > r.warmUpLogins && now.UnixNano() >= r.warmUntil
	word, bit := &r.seen[i/64], uint64(1)<<(i%64)
	if word.Load()&bit != 0 {
		return false
	}
	// Of requests racing on a new country, only the one that sets the bit reports it.
	return word.Or(bit)&bit == 0 && warm
}
