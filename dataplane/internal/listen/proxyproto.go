package listen

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxyproto"
)

// PROXY protocol on the TCP listeners. While the Edge in force has ProxyProtocol on, every
// connection accepted must come from a trusted proxy (Edge.TrustedProxies) and start with a
// PROXY protocol header (v1 or v2), read within Limits.ReadHeaderTimeout; the header's source
// address becomes the connection's RemoteAddr, so the edge sees the client as the peer. A
// header without addresses (v2 LOCAL, as load balancers send for health checks; v1 UNKNOWN)
// keeps the real peer. A connection from an untrusted peer is closed before anything is read;
// a malformed header, or none within the timeout, closes the connection too. The Edge is read
// at accept time: a snapshot that turns the switch applies to new connections.
//
// HTTP/3 (QUIC over UDP) has no PROXY protocol: its peer is whoever sent the datagrams.

// ProxyProtocolStats counts the connections the PROXY protocol check handled, since Listen.
type ProxyProtocolStats struct {
	Accepted  uint64 // a valid header from a trusted peer
	Untrusted uint64 // refused: the peer is not a trusted proxy
	Malformed uint64 // closed: the header was not a PROXY protocol header
	TimedOut  uint64 // closed: no complete header within the read-header timeout (or the peer left)
}

type proxyCounters struct {
	accepted, untrusted, malformed, timedOut atomic.Uint64
}

func (c *proxyCounters) stats() ProxyProtocolStats {
	return ProxyProtocolStats{Accepted: c.accepted.Load(), Untrusted: c.untrusted.Load(),
		Malformed: c.malformed.Load(), TimedOut: c.timedOut.Load()}
}

// proxyListener is the net.Listener the servers accept from. Its accept loop hands out
// connections at once while the PROXY protocol is off; while it is on, each connection reads
// its header in a goroutine of its own, so that a slow or silent peer holds up nobody, and is
// handed out once the header is read.
type proxyListener struct {
	net.Listener
	edges   EdgeSource
	timeout time.Duration
	log     *zap.Logger
	count   *proxyCounters

	start   sync.Once
	ready   chan accepted
	done    chan struct{}
	closing sync.Once

	mu      sync.Mutex
	reading map[net.Conn]struct{} // connections whose header is being read
}

type accepted struct {
	conn net.Conn
	err  error
}

func newProxyListener(l net.Listener, edges EdgeSource, timeout time.Duration, log *zap.Logger, count *proxyCounters) *proxyListener {
	return &proxyListener{Listener: l, edges: edges, timeout: timeout, log: log, count: count,
		ready: make(chan accepted), done: make(chan struct{}), reading: map[net.Conn]struct{}{}}
}

// Accept returns the next connection ready to be served, or the error of the underlying
// Accept (the server backs off on temporary ones, as it would without this listener).
func (l *proxyListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case a := <-l.ready:
		return a.conn, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and closes the connections still reading their header.
func (l *proxyListener) Close() error {
	err := net.ErrClosed
	l.closing.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.mu.Lock()
		for c := range l.reading {
			_ = c.Close()
		}
		l.mu.Unlock()
	})
	return err
}

func (l *proxyListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !l.hand(accepted{err: err}) || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		e := l.edges.Load()
		if e == nil || !e.ProxyProtocol {
			l.hand(accepted{conn: c})
			continue
		}
		// Checked here, before any goroutine: a flood of untrusted peers costs an accept each.
		if peer := c.RemoteAddr(); !e.TrustedProxies.Trusted(addrPort(peer).Addr()) {
			l.count.untrusted.Add(1)
			l.log.Info("PROXY protocol: connection refused, the peer is not in trusted_proxies", zap.Stringer("peer", peer))
			_ = c.Close()
			continue
		}
		if !l.track(c, true) {
			_ = c.Close()
			return
		}
		go l.readHeader(c)
	}
}

// hand gives a to Accept; false (and the connection closed) when the listener is closed.
func (l *proxyListener) hand(a accepted) bool {
	select {
	case l.ready <- a:
		return true
	case <-l.done:
		if a.conn != nil {
			_ = a.conn.Close()
		}
		return false
	}
}

func (l *proxyListener) track(c net.Conn, add bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !add {
		delete(l.reading, c)
		return true
	}
	select {
	case <-l.done:
		return false
	default:
	}
	l.reading[c] = struct{}{}
	return true
}

// readHeader reads the header of c, from a trusted peer, then hands c out or closes it.
func (l *proxyListener) readHeader(c net.Conn) {
	defer l.track(c, false)
	peer := c.RemoteAddr()
	if err := c.SetReadDeadline(time.Now().Add(l.timeout)); err != nil {
		_ = c.Close()
		return
	}
	h, rest, err := proxyproto.Read(c)
	if err == nil {
		err = c.SetReadDeadline(time.Time{})
	}
	if err != nil {
		if errors.Is(err, proxyproto.ErrMalformed) {
			l.count.malformed.Add(1)
		} else {
			l.count.timedOut.Add(1)
		}
		l.log.Debug("PROXY protocol: connection closed", zap.Stringer("peer", peer), zap.Error(err))
		_ = c.Close()
		return
	}
	l.count.accepted.Add(1)
	pc := &proxiedConn{Conn: c, rest: rest, remote: peer}
	if h.Source.IsValid() {
		pc.remote = net.TCPAddrFromAddrPort(h.Source)
	}
	l.hand(accepted{conn: pc})
}

// addrPort is the address of a TCP peer (IPv4-mapped addresses unmapped).
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// proxiedConn is a connection that came with a PROXY protocol header: its RemoteAddr is the
// header's source, and its first reads return what was read past the header.
type proxiedConn struct {
	net.Conn
	rest   []byte
	remote net.Addr
}

func (c *proxiedConn) RemoteAddr() net.Addr { return c.remote }

func (c *proxiedConn) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
