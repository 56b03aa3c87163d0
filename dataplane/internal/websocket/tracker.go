package websocket

import (
	"context"
	"errors"
	"strconv"
	"sync"
)

// Errors of Tracker.Acquire; the edge answers both with 503 before upgrading.
var (
	ErrTooManyConnections = errors.New("websocket: the route's max_connections are open")
	ErrShuttingDown       = errors.New("websocket: shutting down")
)

// Tracker counts the open WebSockets per route, enforces max_connections, and closes them all
// at shutdown. It outlives snapshots: a reload does not reset the counts. The zero value is not
// usable; call NewTracker.
type Tracker struct {
	mu       sync.Mutex
	perRoute map[string]int64
	open     int64
	nextID   uint64
	closing  bool
	shutdown chan struct{} // closed by CloseAll: relays close with 1001 Going Away
	abort    chan struct{} // closed when CloseAll's context ends: relays cut at once
	drained  chan struct{} // closed when closing and nothing is open
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{
		perRoute: map[string]int64{},
		shutdown: make(chan struct{}),
		abort:    make(chan struct{}),
		drained:  make(chan struct{}),
	}
}

// Lease is one open WebSocket counted by a Tracker. Release it when the connection ended.
type Lease struct {
	t       *Tracker
	route   string
	id      string
	release sync.Once
}

// ID returns the connection's id, unique in this process: "ws-1", "ws-2", ...
func (l *Lease) ID() string { return l.id }

// Shutdown is closed when the Tracker closes every connection (give it to Relay.Shutdown).
func (l *Lease) Shutdown() <-chan struct{} { return l.t.shutdown }

// Abort is closed when the shutdown's deadline passed (give it to Relay.Abort).
func (l *Lease) Abort() <-chan struct{} { return l.t.abort }

// Acquire counts a new connection of route unless max (> 0) are open already, or the Tracker
// is shutting down.
func (t *Tracker) Acquire(route string, max int64) (*Lease, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closing:
		return nil, ErrShuttingDown
	case max > 0 && t.perRoute[route] >= max:
		return nil, ErrTooManyConnections
	}
	t.perRoute[route]++
	t.open++
	t.nextID++
	return &Lease{t: t, route: route, id: "ws-" + strconv.FormatUint(t.nextID, 10)}, nil
}

// Release stops counting the connection; calling it again does nothing.
func (l *Lease) Release() {
	l.release.Do(func() {
		t := l.t
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.perRoute[l.route]--; t.perRoute[l.route] <= 0 {
			delete(t.perRoute, l.route)
		}
		t.open--
		if t.closing && t.open == 0 {
			close(t.drained)
		}
	})
}

// Active returns the open connections of route.
func (t *Tracker) Active(route string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perRoute[route]
}

// Open returns the open connections of all routes.
func (t *Tracker) Open() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open
}

// CloseAll refuses new connections and closes every open one: each client and backend gets
// 1001 Going Away at its next frame boundary, then the closing handshake runs (bounded by the
// relay's close wait). It returns when all have ended, or when ctx ends: then the ones left
// are cut without waiting further and it returns ctx's error. Calling it again waits again.
func (t *Tracker) CloseAll(ctx context.Context) error {
	t.mu.Lock()
	if !t.closing {
		t.closing = true
		close(t.shutdown)
		if t.open == 0 {
			close(t.drained)
		}
	}
	t.mu.Unlock()
	select {
	case <-t.drained:
		return nil
	case <-ctx.Done():
		t.mu.Lock()
		select {
		case <-t.abort:
		default:
			close(t.abort)
		}
		t.mu.Unlock()
		return ctx.Err()
	}
}
