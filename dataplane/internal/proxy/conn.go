package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// poolStats is the accounting of one transport. The hot path only touches atomics: inFlight
// (per Serve), requests (per round trip) and fresh (once per connection). The connection set
// changes on dial and close only.
type poolStats struct {
	inFlight atomic.Int64 // Serve calls in progress on the transport
	requests atomic.Int64 // round trips that got a connection, since the last report
	fresh    atomic.Int64 // connections that carried their first request, since the last report

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

// trackedConn is a backend connection as the transport sees it: it knows when it was dialed,
// leaves the pool's set when closed, and bounds every write by the write timeout.
type trackedConn struct {
	net.Conn
	stats        *poolStats
	dialed       time.Time
	writeTimeout time.Duration // <= 0: none
	used         atomic.Bool
	closed       atomic.Bool
	// intr is the interrupt of the exchange its pconn carries: a write waits at most until
	// its grace ends (exchangeInterrupt.deadline). nil until the pconn is made.
	intr *exchangeInterrupt
	// graceSet: the write deadline is the end of a grace, to be cleared when no other follows.
	graceSet bool
}

// dialer returns the transport's DialContext: a net.Dialer with the connect timeout whose
// connections are tracked.
func (st *poolStats) dialer(connect, write time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, stats: st, dialed: time.Now(), writeTimeout: write}
		st.mu.Lock()
		if st.conns == nil {
			st.conns = map[*trackedConn]struct{}{}
		}
		st.conns[tc] = struct{}{}
		st.mu.Unlock()
		return tc, nil
	}
}

// Write sends p with a deadline of the write timeout from now, so a backend that stops
// accepting the request fails it. The transport writes from one goroutine per connection.
// A write that outlasts the exchange interrupt's grace registers the interrupt and goes on.
func (c *trackedConn) Write(p []byte) (int, error) {
	if !c.used.Load() {
		c.used.Store(true)
		c.stats.fresh.Add(1)
	}
	var own time.Time
	if c.writeTimeout > 0 {
		own = time.Now().Add(c.writeTimeout)
	}
	written := 0
	for {
		dl, grace := own, false
		if c.intr != nil {
			dl, grace = c.intr.deadline(own)
		}
		if c.writeTimeout > 0 || grace || c.graceSet {
			if err := c.Conn.SetWriteDeadline(dl); err != nil {
				return written, err
			}
			if c.graceSet != grace {
				c.graceSet = grace
			}
		}
		n, err := c.Conn.Write(p[written:])
		written += n
		if err != nil && grace && isTimeout(err) {
			c.intr.arm()
			continue
		}
		if err != nil && c.writeTimeout > 0 && isTimeout(err) {
			err = &writeTimeoutError{err: err}
		}
		return written, err
	}
}

// clearGraceDeadline clears a write deadline left by an interrupt's grace, before a tunnel
// (whose writes may come from several goroutines) uses the connection.
func (c *trackedConn) clearGraceDeadline() error {
	if !c.graceSet {
		return nil
	}
	c.graceSet = false
	return c.Conn.SetWriteDeadline(time.Time{})
}

func (c *trackedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.stats.mu.Lock()
		delete(c.stats.conns, c)
		c.stats.mu.Unlock()
	}
	return c.Conn.Close()
}

// isTimeout tells whether err is a net.Error that timed out (out of line: the variable that
// errors.As fills escapes, and Write must not allocate).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeTimeoutError is a write to the backend that did not progress within the write timeout.
type writeTimeoutError struct{ err error }

func (e *writeTimeoutError) Error() string   { return "backend write timeout: " + e.err.Error() }
func (e *writeTimeoutError) Unwrap() error   { return e.err }
func (e *writeTimeoutError) Timeout() bool   { return true }
func (e *writeTimeoutError) Temporary() bool { return false }

// snapshot returns the open connections and their average age, and resets the interval
// counters.
func (st *poolStats) snapshot(now time.Time) (open int64, avgAge time.Duration, requests, reused int64) {
	st.mu.Lock()
	var total time.Duration
	for c := range st.conns {
		total += now.Sub(c.dialed)
	}
	open = int64(len(st.conns))
	st.mu.Unlock()
	if open > 0 {
		avgAge = total / time.Duration(open)
	}
	requests = max(st.requests.Swap(0), 0)
	reused = max(requests-st.fresh.Swap(0), 0)
	return open, avgAge, requests, reused
}
