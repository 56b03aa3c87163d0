// Package h1 is the data plane's HTTP/1.1 server: a connection loop of its own in place of
// net/http's for HTTP/1.x, because net/http's costs about half of what a proxied request costs
// this proxy in CPU (a goroutine blocked in a read for every request to notice a client leaving,
// a copy of every response header map, sorted header writes, a second buffered writer), and
// because a proxy must refuse ambiguous framing that net/http accepts.
//
// What it refuses before any handler runs, closing the connection after the answer (given by
// Server.Reject, the edge's error page, when set):
//   - 400: a malformed request line or header line, a header name that is not a token, a value
//     with control characters, obsolete line folding (RFC 9112 §5.2), no Host in HTTP/1.1,
//     several Host headers or an invalid one, an invalid or several differing Content-Length
//     headers, Content-Length together with Transfer-Encoding (RFC 9112 §6.1: the stuff of
//     request smuggling; net/http instead drops the Content-Length and keeps the connection),
//     Transfer-Encoding in HTTP/1.0, an asterisk-form target other than OPTIONS;
//   - 431: a request line and headers over MaxHeaderBytes;
//   - 501: a Transfer-Encoding other than a single "chunked";
//   - 505: an HTTP version other than 1.0 and 1.1;
//   - 417: an Expect other than "100-continue".
//
// Requests are handed to an http.Handler as *http.Request with an http.ResponseWriter that also
// implements http.Flusher, http.Hijacker, what http.ResponseController uses, and CancelAfter (a
// request timeout on the request's own context, with no context and timer of the handler's: the
// edge's slow-request timeout, see slowreq.Canceler). Differences from net/http a handler may
// notice: no Content-Type sniffing (a proxy relays what the backend said, or nothing), header
// fields written in map order, and a request context cancelled when the client leaves only once
// the request has run for watchDelay (and only for requests without a body: with one, reading the
// body reports the client leaving). TLS is the listener's business; HTTP/2 is not spoken here.
package h1

import (
	"bufio"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server serves HTTP/1.x on the listeners given to Serve.
type Server struct {
	// Handler answers every request. Required.
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request head (slowloris); default 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection without a request for this long; default 120 s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and header lines; default 64 KiB. Beyond it: 431.
	MaxHeaderBytes int
	// ErrorLog receives handler panics and accept errors; nil: the log package's logger.
	ErrorLog *log.Logger
	// Reject answers a request head the server refuses (the status and reason of the package
	// documentation), on a request that has the method if it was readable, path "/", no Host and
	// no headers; the response closes the connection. nil: a plain-text answer. Give it the edge's
	// error page, so that the client gets a request id and the refusal is an event like any other.
	Reject func(w http.ResponseWriter, r *http.Request, status int, reason string)

	date dateCache
	bufs bufferPool

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]int32 // state of every connection not yet closed or hijacked
	baseCtx   context.Context
	cancel    context.CancelFunc
	closing   atomic.Bool
}

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return 10 * time.Second
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return 120 * time.Second
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return 64 << 10
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (s *Server) shuttingDown() bool { return s.closing.Load() }

// Serve accepts connections on l and serves each in its own goroutine until Shutdown or Close,
// when it returns http.ErrServerClosed; it returns other accept errors that are not temporary.
// Serve closes l when it returns.
func (s *Server) Serve(l net.Listener) error {
	if s.Handler == nil {
		return errors.New("h1: Server.Handler is nil")
	}
	if !s.track(&l, true) {
		return http.ErrServerClosed
	}
	defer s.track(&l, false)
	defer l.Close()

	var backoff time.Duration
	for {
		rwc, err := l.Accept()
		if err != nil {
			if s.shuttingDown() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors and the like: wait, as net/http does, instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf("h1: accept: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(rwc)
		c.setState(stateNew)
		go c.serve(s.baseCtx)
	}
}

// ServeConn serves one connection accepted elsewhere (a TLS connection that negotiated
// HTTP/1.1, say) in the calling goroutine, until it closes or is hijacked.
func (s *Server) ServeConn(rwc net.Conn) {
	if !s.track(nil, true) {
		_ = rwc.Close()
		return
	}
	c := s.newConn(rwc)
	c.setState(stateNew)
	c.serve(s.baseCtx)
}

func (s *Server) newConn(rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, remoteAddr: rwc.RemoteAddr().String()}
	c.cr.rwc = rwc
	c.br, c.bw = s.bufs.get(&c.cr, rwc)
	return c
}

// track adds or removes a listener (nil: none, just the check); it reports false when the
// server is already closing.
func (s *Server) track(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listeners == nil {
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]int32)
		s.baseCtx, s.cancel = context.WithCancel(context.Background())
	}
	if add {
		if s.shuttingDown() {
			return false
		}
		if l != nil {
			s.listeners[l] = struct{}{}
		}
	} else {
		delete(s.listeners, l)
	}
	return true
}

func (s *Server) trackState(c *conn, state int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == stateClosed || c.hijacked.Load() {
		delete(s.conns, c)
		return
	}
	s.conns[c] = state
}

// Shutdown stops accepting, closes idle connections, and waits for the others to finish their
// request in progress (their response says "Connection: close") or for ctx to end, when it
// returns ctx's error. Hijacked connections are not waited for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.closeListeners()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.closeListeners()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.rwc.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for l := range s.listeners {
		_ = (*l).Close()
	}
}

// closeIdle closes the connections waiting for a request and reports whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, st := range s.conns {
		if st == stateIdle {
			_ = c.rwc.Close()
			delete(s.conns, c)
		}
	}
	return len(s.conns) == 0
}

// bufferPool keeps the 4 KiB read and write buffers of closed connections.
type bufferPool struct {
	r, w sync.Pool
}

const bufSize = 4 << 10

func (p *bufferPool) get(r *connReader, w net.Conn) (*bufio.Reader, *bufio.Writer) {
	br, _ := p.r.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(r, bufSize)
	} else {
		br.Reset(r)
	}
	bw, _ := p.w.Get().(*bufio.Writer)
	if bw == nil {
		bw = bufio.NewWriterSize(w, bufSize)
	} else {
		bw.Reset(w)
	}
	return br, bw
}

func (p *bufferPool) put(br *bufio.Reader, bw *bufio.Writer) {
	br.Reset(nil)
	bw.Reset(nil)
	p.r.Put(br)
	p.w.Put(bw)
}
