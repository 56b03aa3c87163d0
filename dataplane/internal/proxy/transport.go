package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// transport is the HTTP/1.1 client of one backend (scheme, host and settings): a pool of
// keep-alive connections, each carrying one request at a time, driven by the goroutine of the
// request itself. Unlike http.Transport there is no reader and writer goroutine per connection
// and no channel hand-off per request (a request body is the one exception: it is written by a
// goroutine of its own while the response is read, so that a backend may answer early).
//
// Its RoundTrip forwards a request the edge received, as a proxy does (see writeRequest): the
// Host kept, hop-by-hop headers dropped, forwarding headers replaced by ours.
type transport struct {
	addr     string      // host:port to dial
	tls      *tls.Config // nil for http://
	settings Settings
	stats    *poolStats
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	// handshakeTimeout bounds the TLS handshake of an https:// backend.
	handshakeTimeout time.Duration
	maxIdle          int // idle connections kept, at least 1
	// interruptGrace is the exchanges' (exchangeInterrupt); tests change it.
	interruptGrace time.Duration

	mu      sync.Mutex
	idle    []*pconn    // oldest first; taken from the end (most recently used, warmest)
	open    int         // connections open or being dialed, for MaxConnsPerHost
	waiters []*waiter   // requests waiting for a connection at MaxConnsPerHost, in order
	sweeper *time.Timer // armed while idle is not empty
	closed  bool        // retired: connections are closed instead of kept idle
}

// waiter is a request waiting at MaxConnsPerHost. It receives a connection that was given
// back, or nil: a connection closed and the waiter may dial in its place.
type waiter struct{ ch chan *pconn }

// peekAfter is how long a connection may sit idle before it is checked for a close by the
// backend on its way out of the pool. Backends close idle connections after seconds (Node 5 s,
// Apache 5 s, gunicorn 2 s); a connection used again within this much is taken as it is.
const peekAfter = time.Second

func newTransport(o Options, s Settings, st *poolStats, scheme, addr, serverName string) *transport {
	t := &transport{
		addr:             addr,
		settings:         s,
		stats:            st,
		dial:             st.dialer(s.ConnectTimeout, s.WriteTimeout),
		handshakeTimeout: o.TLSHandshakeTimeout,
		maxIdle:          max(s.MaxIdleConnsPerHost, 1),
		interruptGrace:   interruptGrace,
	}
	if s.MaxIdleConns > 0 {
		t.maxIdle = min(t.maxIdle, s.MaxIdleConns)
	}
	if scheme == "https" {
		// HTTP/1.1 only: HTTP/2 to backends (and its single-connection head-of-line blocking)
		// would be an opt-in of its own.
		t.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, NextProtos: []string{"http/1.1"}}
	}
	return t
}

// RoundTrip forwards req (a request the edge received) and returns the response; its Body gives
// the connection back when read to the end. The Settings.Wrap middlewares sit in front of it.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.exchange(req, "")
}

// exchange is RoundTrip, asking the backend to switch to the upgrade protocol when set.
//
// A request that failed on a reused connection before any byte of response came back is sent
// once more on a new connection when that is safe: the backend most likely closed the
// connection while it was idle, and had not seen the request. Safe means a body that was not
// sent (none), and an idempotent method (RFC 9110 section 9.2.2), as net/http decides.
func (t *transport) exchange(req *http.Request, upgrade string) (*http.Response, error) {
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		pc, err := t.get(ctx)
		if err != nil {
			return nil, err
		}
		t.stats.requests.Add(1)
		res, err := pc.roundTrip(req, upgrade)
		if err != nil && attempt == 0 && closedWhileIdle(err) && resendable(req) && ctx.Err() == nil {
			t.stats.requests.Add(-1)
			continue
		}
		return res, err
	}
}

// closedWhileIdle tells whether err is a reused connection that gave no byte of response.
func closedWhileIdle(err error) bool {
	var nr *nothingReadError
	return errors.As(err, &nr) && nr.reused
}

// resendable tells whether req may be sent again after a connection failed under it.
func resendable(req *http.Request) bool {
	if hasBody(req) {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get("Idempotency-Key") != ""
}

// get returns a pooled connection, or dials one, waiting at MaxConnsPerHost.
func (t *transport) get(ctx context.Context) (*pconn, error) {
	for {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			break // still locked
		}
		pc := t.idle[n-1]
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		now := time.Now()
		idleFor := now.Sub(pc.idleSince)
		if idleFor >= t.settings.IdleConnTimeout || (idleFor >= peekAfter && !pc.alive()) {
			t.closeConn(pc)
			continue
		}
		pc.reused = true
		return pc, nil
	}
	if max := t.settings.MaxConnsPerHost; max > 0 && t.open >= max {
		w := &waiter{ch: make(chan *pconn, 1)}
		t.waiters = append(t.waiters, w)
		t.mu.Unlock()
		select {
		case pc := <-w.ch:
			if pc != nil {
				pc.reused = true
				return pc, nil
			}
			// A slot was handed over: dial below.
		case <-ctx.Done():
			t.mu.Lock()
			if t.removeWaiter(w) {
				t.mu.Unlock()
				return nil, ctx.Err()
			}
			t.mu.Unlock()
			// Handed something just now: pass it on.
			if pc := <-w.ch; pc != nil {
				t.put(pc)
			} else {
				t.mu.Lock()
				t.releaseSlot()
				t.mu.Unlock()
			}
			return nil, ctx.Err()
		}
	} else {
		t.open++
		t.mu.Unlock()
	}
	pc, err := t.connect(ctx)
	if err != nil {
		t.mu.Lock()
		t.releaseSlot()
		t.mu.Unlock()
		return nil, err
	}
	return pc, nil
}

// connect dials the backend, and does the TLS handshake for https://.
func (t *transport) connect(ctx context.Context) (*pconn, error) {
	c, err := t.dial(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if t.tls != nil {
		tc := tls.Client(c, t.tls)
		hctx, cancel := context.WithTimeout(ctx, t.handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return nil, errTLSHandshakeTimeout
			}
			return nil, err
		}
		c = tc
	}
	return newPconn(t, c), nil
}

// put gives a connection back after a complete exchange: to a waiting request, or to the idle
// pool, or closes it when the pool is full or retired.
func (t *transport) put(pc *pconn) {
	t.mu.Lock()
	if len(t.waiters) > 0 {
		w := t.waiters[0]
		t.waiters = t.waiters[1:]
		t.mu.Unlock()
		w.ch <- pc
		return
	}
	if t.closed || len(t.idle) >= t.maxIdle {
		t.releaseSlot()
		t.mu.Unlock()
		pc.conn.Close()
		return
	}
	pc.idleSince = time.Now()
	t.idle = append(t.idle, pc)
	if t.sweeper == nil {
		t.sweeper = time.AfterFunc(t.settings.IdleConnTimeout, t.sweep)
	}
	t.mu.Unlock()
}

// closeConn closes a connection that is not in the idle pool and frees its slot.
func (t *transport) closeConn(pc *pconn) {
	pc.conn.Close()
	t.mu.Lock()
	t.releaseSlot()
	t.mu.Unlock()
}

// releaseSlot frees the slot of a connection that closed: the first waiter may dial instead.
// t.mu is held.
func (t *transport) releaseSlot() {
	if len(t.waiters) > 0 {
		w := t.waiters[0]
		t.waiters = t.waiters[1:]
		w.ch <- nil
		return
	}
	t.open--
}

func (t *transport) removeWaiter(w *waiter) bool {
	for i, x := range t.waiters {
		if x == w {
			t.waiters = append(t.waiters[:i], t.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// sweep closes the connections idle for IdleConnTimeout, and runs again when the oldest left
// would expire.
func (t *transport) sweep() {
	now := time.Now()
	t.mu.Lock()
	n := 0
	for n < len(t.idle) && now.Sub(t.idle[n].idleSince) >= t.settings.IdleConnTimeout {
		n++
	}
	expired := append([]*pconn(nil), t.idle[:n]...)
	t.idle = append(t.idle[:0], t.idle[n:]...)
	for range expired {
		t.releaseSlot()
	}
	if len(t.idle) > 0 {
		t.sweeper.Reset(t.settings.IdleConnTimeout - now.Sub(t.idle[0].idleSince))
	} else {
		t.sweeper = nil
	}
	t.mu.Unlock()
	for _, pc := range expired {
		pc.conn.Close()
	}
}

// CloseIdleConnections closes the idle connections; busy ones stay.
func (t *transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	for range idle {
		t.releaseSlot()
	}
	t.mu.Unlock()
	for _, pc := range idle {
		pc.conn.Close()
	}
}

// retire closes the idle connections, and the busy ones as they finish.
func (t *transport) retire() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.CloseIdleConnections()
}

// errTLSHandshakeTimeout is an https:// backend that did not finish the handshake in time:
// a connect timeout (classify).
var errTLSHandshakeTimeout error = &tlsHandshakeTimeoutError{}

type tlsHandshakeTimeoutError struct{}

func (*tlsHandshakeTimeoutError) Error() string   { return "backend TLS handshake timeout" }
func (*tlsHandshakeTimeoutError) Timeout() bool   { return true }
func (*tlsHandshakeTimeoutError) Temporary() bool { return false }
