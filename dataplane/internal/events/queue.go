// Package events buffers the access-log events of the request path until the control-plane
// client ships them. The request path must never wait for the control plane, so the buffer is
// bounded and, when full, gives up the oldest events (recent ones matter most to someone
// looking at the dashboard) and counts them, so that the loss is reported, not hidden.
package events

import (
	"sync"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// DefaultCapacity is the queue size when none is given. A queued request event takes about 600
// bytes of heap (its timestamps are messages of their own), so 20,000 are about 12 MB: 10 s of a
// data plane at 2,000 requests a second, minutes of a community site, while the control plane is
// away or cannot keep up. It was 100,000 (60 MB, and twice that in RSS with the garbage
// collector's headroom); PROXY_EVENT_BUFFER raises it for a longer outage.
const DefaultCapacity = 20_000

// Queue is a bounded FIFO of events: request events, and WebSocket open/close events in a
// second ring of their own (so that a flood of requests does not push out the close of a
// long-lived connection), both with the same drop-oldest rule and one dropped count. Push
// never blocks; Take and Ready are for the one consumer that ships events. All methods are
// safe for concurrent use.
type Queue struct {
	ready chan struct{} // holds one token while events are waiting

	mu         sync.Mutex
	requests   ring[*proxyv1.RequestEvent]
	websockets ring[*proxyv1.WebSocketEvent]
	circuits   ring[*proxyv1.CircuitEvent]
	security   ring[*proxyv1.SecurityEvent]
	dropped    uint64 // events dropped since the last TakeDropped
	taken      uint64 // dropped counts handed out by TakeDropped, for DroppedTotal

	// recycle takes the request events dropped on overflow: recycleRequest, or a test's counter.
	recycle func(*proxyv1.RequestEvent)
}

// ring is a bounded FIFO that overwrites its oldest entry when full. Its buffer grows as
// entries wait, up to max, so that a queue sized for minutes of outage costs nothing while the
// control plane keeps up.
type ring[T any] struct {
	buf  []T
	max  int
	head int // index of the oldest entry
	n    int // number of entries held
}

// minRing is the first buffer a ring allocates.
const minRing = 256

// push adds e and reports whether the oldest entry was dropped for it, and which.
func (r *ring[T]) push(e T) (old T, dropped bool) {
	if r.n == len(r.buf) && len(r.buf) < r.max {
		r.grow()
	}
	if r.n == len(r.buf) {
		old = r.buf[r.head]
		r.buf[r.head] = e // overwrite the oldest; the new one is now the newest
		r.head = (r.head + 1) % len(r.buf)
		return old, true
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	return old, false
}

// grow doubles the buffer (up to max), oldest entry first.
func (r *ring[T]) grow() {
	buf := make([]T, min(max(2*len(r.buf), minRing), r.max))
	first := copy(buf, r.buf[r.head:])
	copy(buf[first:], r.buf[:r.head])
	r.buf, r.head = buf, 0
}

// take removes and returns up to max of the oldest entries, oldest first.
func (r *ring[T]) take(max int) []T {
	k := min(max, r.n)
	if k <= 0 {
		return nil
	}
	out := make([]T, k)
	first := copy(out, r.buf[r.head:min(r.head+k, len(r.buf))])
	copy(out[first:], r.buf[:k-first])
	// Clear the slots so that shipped events can be collected.
	var zero T
	for i := range k {
		r.buf[(r.head+i)%len(r.buf)] = zero
	}
	r.head = (r.head + k) % len(r.buf)
	r.n -= k
	if r.n == 0 && len(r.buf) > 16*minRing {
		r.buf, r.head = nil, 0 // a backlog drained: give its memory back
	}
	return out
}

// webSocketCapacity is the WebSocket ring's size for a queue of capacity request events: a
// tenth, at least 1,000 (two events per connection).
func webSocketCapacity(capacity int) int { return max(capacity/10, 1000) }

// NewQueue returns a queue holding at most capacity request events (and a tenth of that, at
// least 1,000, WebSocket events); capacity <= 0 means DefaultCapacity.
func NewQueue(capacity int) *Queue {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Queue{
		ready:      make(chan struct{}, 1),
		requests:   ring[*proxyv1.RequestEvent]{max: capacity},
		websockets: ring[*proxyv1.WebSocketEvent]{max: webSocketCapacity(capacity)},
		circuits:   ring[*proxyv1.CircuitEvent]{max: circuitCapacity},
		security:   ring[*proxyv1.SecurityEvent]{max: securityCapacity(capacity)},
		recycle:    recycleRequest,
	}
}

// Push adds a request event and takes it over: the caller must not touch it again. When the
// queue is full the oldest request event is dropped, counted and recycled (RecycleRequests).
func (q *Queue) Push(e *proxyv1.RequestEvent) {
	if e == nil {
		return
	}
	q.mu.Lock()
	old, dropped := q.requests.push(e)
	if dropped {
		q.dropped++
	}
	q.mu.Unlock()
	if dropped {
		// The ring held the only reference (Push took it over, and Take had not handed it
		// out), and push removed it, so nothing can see it any more: it is recycled once.
		q.recycle(old)
	}
	q.signal()
}

// PushWebSocket adds a WebSocket event. When its ring is full the oldest WebSocket event is
// dropped and counted.
func (q *Queue) PushWebSocket(e *proxyv1.WebSocketEvent) {
	if e == nil {
		return
	}
	q.mu.Lock()
	if _, dropped := q.websockets.push(e); dropped {
		q.dropped++
	}
	q.mu.Unlock()
	q.signal()
}

// circuitCapacity bounds the circuit-breaker events kept: state changes are rare, and a flapping
// backend must not crowd out anything else.
const circuitCapacity = 1000

// PushCircuit adds a circuit-breaker state change. When its ring is full the oldest is dropped
// and counted. It never blocks: breakers call it on the request path.
func (q *Queue) PushCircuit(e *proxyv1.CircuitEvent) {
	if e == nil {
		return
	}
	q.mu.Lock()
	if _, dropped := q.circuits.push(e); dropped {
		q.dropped++
	}
	q.mu.Unlock()
	q.signal()
}

// securityCapacity bounds the security events kept: a flood of attacks (each WAF match, each
// 429) must neither exhaust memory nor push out the access log, so they have a ring of their own.
func securityCapacity(capacity int) int { return max(capacity/10, 1000) }

// PushSecurity adds a security event (a throttled or banned client, a WAF match, a GeoIP refusal).
// When its ring is full the oldest is dropped and counted. It never blocks.
func (q *Queue) PushSecurity(e *proxyv1.SecurityEvent) {
	if e == nil {
		return
	}
	q.mu.Lock()
	if _, dropped := q.security.push(e); dropped {
		q.dropped++
	}
	q.mu.Unlock()
	q.signal()
}

// TakeSecurity removes and returns up to max of the oldest security events.
func (q *Queue) TakeSecurity(max int) []*proxyv1.SecurityEvent {
	q.mu.Lock()
	out := q.security.take(max)
	left := q.lenLocked()
	q.mu.Unlock()
	q.rearm(out != nil, left)
	return out
}

// TakeCircuits removes and returns up to max of the oldest circuit-breaker events.
func (q *Queue) TakeCircuits(max int) []*proxyv1.CircuitEvent {
	q.mu.Lock()
	out := q.circuits.take(max)
	left := q.lenLocked()
	q.mu.Unlock()
	q.rearm(len(out) > 0, left)
	return out
}

// Take removes and returns up to max of the oldest request events, oldest first; nil when
// there are none or max <= 0. The caller owns them: it gives them back with RecycleRequests
// when nothing needs them any more.
func (q *Queue) Take(max int) []*proxyv1.RequestEvent {
	q.mu.Lock()
	out := q.requests.take(max)
	left := q.lenLocked()
	q.mu.Unlock()
	q.rearm(out != nil, left)
	return out
}

// TakeWebSockets removes and returns up to max of the oldest WebSocket events, oldest first;
// nil when there are none or max <= 0.
func (q *Queue) TakeWebSockets(max int) []*proxyv1.WebSocketEvent {
	q.mu.Lock()
	out := q.websockets.take(max)
	left := q.lenLocked()
	q.mu.Unlock()
	q.rearm(out != nil, left)
	return out
}

// rearm leaves the Ready token again after a Take that took something while events remain:
// it consumed the token of the Push calls whose events are still here, and a consumer waiting
// on Ready must come back for them.
func (q *Queue) rearm(took bool, left int) {
	if took && left > 0 {
		q.signal()
	}
}

// Ready returns a channel that receives a value when events are waiting. A consumer waits on it
// and then calls Take; the channel is never closed.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Len returns the number of events waiting, of every kind.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked()
}

func (q *Queue) lenLocked() int {
	return q.requests.n + q.websockets.n + q.circuits.n + q.security.n
}

// Cap returns the most request events the queue holds.
func (q *Queue) Cap() int { return q.requests.max }

// Dropped returns the number of events dropped since the last TakeDropped.
func (q *Queue) Dropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}

// TakeDropped returns the number of events dropped since its last call and resets it, for the
// dropped_events field of the next batch.
func (q *Queue) TakeDropped() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.dropped
	q.dropped = 0
	q.taken += d
	return d
}

// DroppedTotal returns the number of events dropped since the queue was made.
func (q *Queue) DroppedTotal() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.taken + q.dropped
}

// signal leaves a token in ready unless one is there already.
func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
