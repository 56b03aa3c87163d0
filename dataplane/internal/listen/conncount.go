package listen

import (
	"context"
	"io"
	"net"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// Connection counting: every TCP connection accepted (plain HTTP and HTTPS, whatever happens to
// it next: PROXY protocol refusal, TLS handshake, HTTP/1.1 or HTTP/2, a hijacked WebSocket)
// counts from Accept until its first Close; every QUIC connection of HTTP/3 from its first
// request stream until it ends.

// countConns counts the connections l accepts in n while they are open.
func countConns(l net.Listener, n *atomic.Int64) net.Listener {
	return &countingListener{Listener: l, n: n}
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.n.Add(1)
	return &countedConn{Conn: c, n: l.n}, nil
}

// countedConn takes itself off the count on its first Close.
type countedConn struct {
	net.Conn
	n      *atomic.Int64
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.n.Add(-1)
	}
	return c.Conn.Close()
}

// ReadFrom keeps the TCP connection's own ReadFrom (splice, sendfile) within reach of io.Copy.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// countQUIC is the HTTP/3 server's ConnContext: it counts conn until its context ends, which
// quic-go does when the connection closes.
func countQUIC(n *atomic.Int64) func(context.Context, *quic.Conn) context.Context {
	return func(ctx context.Context, conn *quic.Conn) context.Context {
		n.Add(1)
		context.AfterFunc(conn.Context(), func() { n.Add(-1) })
		return ctx
	}
}

// ActiveConnections returns the client connections open now, on every listener.
func (s *Servers) ActiveConnections() int64 { return s.conns.Load() }
