// Package metrics exports the data plane's state to Prometheus (/metrics on the ops listener)
// and to the control plane (SystemMetrics on the event batches).
//
// The request path counts into a Route: plain atomic counters, found once per snapshot (the edge
// keeps each route's *Route with the route), so counting a request takes no lock and allocates
// nothing. The Prometheus collector reads the counters when scraped. Labels are bounded: the
// route id (from the configuration), the method folded to the standard ones, the status code.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Unmatched is the route label of requests that matched no route (no snapshot yet, unknown host
// or path, CONNECT). Route ids always hold a "/", so it cannot be a route's.
const Unmatched = "unmatched"

// methods are the method labels; a method that is none of the standard ones counts as OTHER.
var methods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "OTHER",
}

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodConnect:
		return 7
	case http.MethodTrace:
		return 8
	}
	return len(methods) - 1
}

// Buckets are the upper bounds, in seconds, of proxy_request_duration_seconds: from 1 ms (a
// cached answer on the same host) to 30 s (the default read timeout).
var Buckets = [nBuckets]float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

const nBuckets = 14

// bucketBounds are Buckets in nanoseconds, for comparing durations without floats.
var bucketBounds = func() [nBuckets]int64 {
	var b [nBuckets]int64
	for i, s := range Buckets {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// statusSlots index status codes 0 to 999 directly (HTTP codes have three digits); a code out of
// that range counts as 0.
const statusSlots = 1000

type statusCounts [statusSlots]atomic.Uint64

// Route is the counters of one route. A nil *Route counts nothing.
type Route struct {
	id string
	// byMethod is allocated per method on first use (8 KB each): a route sees few methods.
	byMethod [len(methods)]atomic.Pointer[statusCounts]
	// buckets count durations per bucket (not cumulative; the last is +Inf); their total is the
	// request count.
	buckets   [nBuckets + 1]atomic.Uint64
	sumNanos  atomic.Int64
	wafBlocks atomic.Uint64
}

// Observe counts one finished request: its method, final status and duration, and whether the
// route's WAF blocked it.
func (r *Route) Observe(method string, status int, d time.Duration, wafBlocked bool) {
	if r == nil {
		return
	}
	if status < 0 || status >= statusSlots {
		status = 0
	}
	m := methodIndex(method)
	counts := r.byMethod[m].Load()
	if counts == nil {
		counts = r.methodCounts(m)
	}
	counts[status].Add(1)
	n := int64(d)
	i := 0
	for i < nBuckets && n > bucketBounds[i] {
		i++
	}
	r.buckets[i].Add(1)
	r.sumNanos.Add(n)
	if wafBlocked {
		r.wafBlocks.Add(1)
	}
}

// methodCounts allocates the status counters of method m, once: the first Observe to store them wins.
func (r *Route) methodCounts(m int) *statusCounts {
	fresh := new(statusCounts)
	if r.byMethod[m].CompareAndSwap(nil, fresh) {
		return fresh
	}
	return r.byMethod[m].Load()
}

// requests is the number of requests counted.
func (r *Route) requests() uint64 {
	var n uint64
	for i := range r.buckets {
		n += r.buckets[i].Load()
	}
	return n
}

// Requests holds the Routes by route id, across snapshots: a reload does not reset a route's
// counters. The zero value is not usable; call NewRequests.
type Requests struct {
	mu        sync.Mutex
	routes    map[string]*Route
	unmatched *Route
	// retired counts the requests of routes dropped by Retain, so that the total never goes back.
	retired uint64
}

// NewRequests returns an empty set of counters.
func NewRequests() *Requests {
	return &Requests{routes: make(map[string]*Route), unmatched: &Route{id: Unmatched}}
}

// Route returns the counters of route id, made on first use; nil for a nil Requests. It takes a
// lock: call it when building a snapshot, not per request.
func (q *Requests) Route(id string) *Route {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.routes[id]
	if r == nil {
		r = &Route{id: id}
		q.routes[id] = r
	}
	return r
}

// Unmatched returns the counters of requests that matched no route.
func (q *Requests) Unmatched() *Route {
	if q == nil {
		return nil
	}
	return q.unmatched
}

// Retain drops the counters of the routes not in keep (the routes of the snapshot just built),
// so that the series of a removed route go away. Requests still in flight on a dropped route
// when it is dropped are not counted.
func (q *Requests) Retain(keep map[string]bool) {
	if q == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, r := range q.routes {
		if !keep[id] {
			q.retired += r.requests()
			delete(q.routes, id)
		}
	}
}

// Total returns the requests counted since start, over all routes (dropped ones included).
func (q *Requests) Total() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.retired + q.unmatched.requests()
	for _, r := range q.routes {
		n += r.requests()
	}
	return n
}

// all returns the Routes, the unmatched one first.
func (q *Requests) all() []*Route {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*Route, 0, len(q.routes)+1)
	out = append(out, q.unmatched)
	for _, r := range q.routes {
		out = append(out, r)
	}
	return out
}

// statusLabel is the status_code label of slot i: three digits.
func statusLabel(i int) string {
	s := strconv.Itoa(i)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}
