package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/h1"
)

// tlsMux serves the HTTPS listener: it completes each TLS handshake itself, then hands
// connections that negotiated HTTP/2 to net/http's server and the others (HTTP/1.1, or no ALPN)
// to the h1 server, so that HTTP/1.1 is served the same way with and without TLS.
type tlsMux struct {
	ln               net.Listener // TCP
	conf             *tls.Config
	handshakeTimeout time.Duration
	h1               *h1.Server
	h2               *http.Server
	h2ln             *connQueue
	errorLog         *log.Logger

	mu      sync.Mutex
	closing bool
}

// Serve runs until Shutdown or Close: it returns http.ErrServerClosed then, or the first error
// of the accept loop or of the HTTP/2 server.
func (m *tlsMux) Serve() error {
	h2done := make(chan error, 1)
	go func() { h2done <- m.h2.Serve(m.h2ln) }()
	err := m.acceptLoop()
	if m.isClosing() {
		err = http.ErrServerClosed
	}
	_ = m.h2ln.Close()
	if h2err := <-h2done; h2err != nil && !errors.Is(h2err, http.ErrServerClosed) && !m.isClosing() {
		return h2err
	}
	return err
}

func (m *tlsMux) acceptLoop() error {
	var backoff time.Duration
	for {
		raw, err := m.ln.Accept()
		if err != nil {
			if m.isClosing() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		go m.handle(raw)
	}
}

// handle completes the handshake under the read-header timeout (a client that opens
// connections and never finishes a handshake must not hold them) and dispatches by ALPN.
func (m *tlsMux) handle(raw net.Conn) {
	conn := tls.Server(raw, m.conf)
	ctx, cancel := context.WithTimeout(context.Background(), m.handshakeTimeout)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		if m.errorLog != nil && !errors.Is(err, context.DeadlineExceeded) {
			m.errorLog.Printf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), err)
		}
		_ = conn.Close()
		return
	}
	if conn.ConnectionState().NegotiatedProtocol == "h2" {
		m.h2ln.push(conn)
		return
	}
	m.h1.ServeConn(conn)
}

func (m *tlsMux) isClosing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closing
}

// Shutdown stops accepting and lets both servers finish their requests, or gives up when ctx
// ends.
func (m *tlsMux) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	_ = m.ln.Close()
	return errors.Join(m.h1.Shutdown(ctx), m.h2.Shutdown(ctx))
}

// Close closes the listener and every connection at once.
func (m *tlsMux) Close() error {
	m.mu.Lock()
	m.closing = true
	m.mu.Unlock()
	_ = m.ln.Close()
	return errors.Join(m.h1.Close(), m.h2.Close())
}

// connQueue is the net.Listener that net/http's HTTP/2 server accepts from: connections that
// tlsMux already accepted and shook hands with.
type connQueue struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

// push hands c to the server, or closes it when the queue is closed.
func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
