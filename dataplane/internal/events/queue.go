// Package events buffers the access-log events of the request path until the control-plane
// client ships them. The request path must never wait for the control plane, so the buffer is
// bounded and, when full, gives up the oldest events (recent ones matter most to someone
// looking at the dashboard) and counts them, so that the loss is reported, not hidden.
package events

import (
	"sync"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// DefaultCapacity is the queue size when none is given: at ~300 bytes per event about 30 MB,
// or a few minutes of a busy site while the control plane is away.
const DefaultCapacity = 100_000

// Queue is a bounded FIFO of events. Push never blocks; Take and Ready are for the one
// consumer that ships events. All methods are safe for concurrent use.
type Queue struct {
	ready chan struct{} // holds one token while events are waiting

	mu      sync.Mutex
	buf     []*proxyv1.RequestEvent // ring buffer
	head    int                     // index of the oldest event
	n       int                     // number of events held
	dropped uint64                  // events dropped since the last TakeDropped
}

// NewQueue returns a queue holding at most capacity events; capacity <= 0 means
// DefaultCapacity.
func NewQueue(capacity int) *Queue {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Queue{
		ready: make(chan struct{}, 1),
		buf:   make([]*proxyv1.RequestEvent, capacity),
	}
}

// Push adds an event. When the queue is full the oldest event is dropped and counted.
func (q *Queue) Push(e *proxyv1.RequestEvent) {
	if e == nil {
		return
	}
	q.mu.Lock()
	if q.n == len(q.buf) {
		q.buf[q.head] = e // overwrite the oldest; the new one is now the newest
		q.head = (q.head + 1) % len(q.buf)
		q.dropped++
	} else {
		q.buf[(q.head+q.n)%len(q.buf)] = e
		q.n++
	}
	q.mu.Unlock()
	q.signal()
}

// Take removes and returns up to max of the oldest events, oldest first; nil when the queue is
// empty or max <= 0.
func (q *Queue) Take(max int) []*proxyv1.RequestEvent {
	q.mu.Lock()
	k := min(max, q.n)
	if k <= 0 {
		q.mu.Unlock()
		return nil
	}
	out := make([]*proxyv1.RequestEvent, k)
	first := copy(out, q.buf[q.head:min(q.head+k, len(q.buf))])
	copy(out[first:], q.buf[:k-first])
	// Clear the slots so that shipped events can be collected.
	for i := range k {
		q.buf[(q.head+i)%len(q.buf)] = nil
	}
	q.head = (q.head + k) % len(q.buf)
	q.n -= k
	left := q.n
	q.mu.Unlock()
	if left > 0 {
		// Take consumed the token of the Push calls whose events are still here: re-arm it so
		// that a consumer waiting on Ready comes back for them.
		q.signal()
	}
	return out
}

// Ready returns a channel that receives a value when events are waiting. A consumer waits on it
// and then calls Take; the channel is never closed.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Len returns the number of events waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Cap returns the most events the queue holds.
func (q *Queue) Cap() int { return len(q.buf) }

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
	return d
}

// signal leaves a token in ready unless one is there already.
func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
