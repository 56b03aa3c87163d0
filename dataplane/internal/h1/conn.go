package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Connection states, for Shutdown.
const (
	stateNew int32 = iota + 1 // zero: not tracked yet
	stateActive
	stateIdle
	stateClosed
)

// watchDelay is how long a request without a body runs before the server starts watching its
// connection for the client going away. Watching means a goroutine blocked in a read; net/http
// starts one for every request, which is a good part of its cost per request. Requests that
// answer within the delay never pay it; the few that wait longer on a backend are still
// cancelled soon after their client leaves.
const watchDelay = time.Second

// conn is one client connection: it reads requests one after the other and answers each in
// order (pipelined requests are read only after the previous response is written).
type conn struct {
	srv        *Server
	rwc        net.Conn
	remoteAddr string
	tlsState   *tls.ConnectionState
	cr         connReader
	br         *bufio.Reader
	bw         *bufio.Writer
	hb         headBuf  // request head scratch, reused
	resp       response // the response of the request in progress, reused
	// gen counts the requests whose response is over; a writer is live only while it is the
	// same as when the writer was made.
	gen atomic.Uint64

	state    atomic.Int32
	hijacked atomic.Bool

	// The watch of the request in progress (see watchDelay).
	mu       sync.Mutex
	cancel   context.CancelCauseFunc // of the request in progress; nil between requests
	watching bool
	watchEnd chan struct{} // closed when the watching read returned
	timer    *time.Timer
	// The handler's CancelAfter (context.go), also under mu.
	rc requestCancel
}

// connReader is what the buffered reader reads from: the connection, after the byte a watch
// may have read ahead of it (the first byte of a pipelined request).
type connReader struct {
	rwc     net.Conn
	hasByte bool
	b       [1]byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.hasByte {
		r.hasByte = false
		p[0] = r.b[0]
		return 1, nil
	}
	return r.rwc.Read(p)
}

// ErrClientGone is the cause of a request context cancelled because the client closed its
// connection.
var ErrClientGone = errors.New("client closed the connection")

func (c *conn) serve(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("h1: panic serving %s: %v\n%s", c.remoteAddr, p, buf)
		}
		if c.timer != nil {
			c.timer.Stop()
		}
		c.endCancel()
		if !c.hijacked.Load() {
			_ = c.rwc.Close()
			c.srv.bufs.put(c.br, c.bw)
		}
		c.setState(stateClosed)
	}()

	if tc, ok := c.rwc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tlsState = &st
	}
	hs := c.srv.readHeaderTimeout()
	for served := 0; ; served++ {
		if served > 0 {
			// Wait for the next request under the idle timeout; a request already buffered
			// (pipelined) is read at once.
			if c.br.Buffered() == 0 {
				c.setState(stateIdle)
				if c.srv.shuttingDown() {
					return
				}
				if err := c.rwc.SetReadDeadline(time.Now().Add(c.srv.idleTimeout())); err != nil {
					return
				}
				if _, err := c.br.Peek(1); err != nil {
					return
				}
			}
			c.setState(stateActive)
		}
		if err := c.rwc.SetReadDeadline(time.Now().Add(hs)); err != nil {
			return
		}
		h, err := readHead(c.br, &c.hb, c.srv.maxHeaderBytes())
		if err != nil {
			c.answerHeadError(ctx, "", err)
			return
		}
		// Parsed into a value here; the handler gets serveRequest's one WithContext copy.
		var req http.Request
		herr := parseRequest(h, &req)
		c.hb.release()
		if herr != nil {
			c.answerHeadError(ctx, h.method, herr)
			return
		}
		if err := c.rwc.SetReadDeadline(time.Time{}); err != nil {
			return
		}
		if !c.serveRequest(ctx, &req) {
			return
		}
	}
}

// serveRequest runs the handler for one request and completes its response. It reports whether
// the connection can read another request. req is the parsed request, which does not escape:
// the handler gets a copy with the request's context.
func (c *conn) serveRequest(ctx context.Context, req *http.Request) (keep bool) {
	req.RemoteAddr = c.remoteAddr
	req.TLS = c.tlsState
	continue100 := false
	if e := req.Header["Expect"]; len(e) > 0 {
		if req.ProtoMinor == 0 {
			delete(req.Header, "Expect") // HTTP/1.0 has no Expect
		} else if len(e) == 1 && strings.EqualFold(e[0], "100-continue") {
			continue100 = req.ContentLength != 0
			delete(req.Header, "Expect")
		} else {
			req.Close, req.Body = true, http.NoBody
			c.reject(req.WithContext(ctx), http.StatusExpectationFailed, "unsupported Expect header")
			return false
		}
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A variable of its own: assigned to req, the copy that escapes would make req escape too.
	r := req.WithContext(rctx)
	var b *body
	if r.ContentLength != 0 {
		b = newBody(c, r, continue100)
		r.Body = b
	} else {
		r.Body = http.NoBody
	}
	w := &c.resp
	w.reset(c, r, b)
	defer w.release()

	hw := c.writer()
	c.mu.Lock()
	c.beginCancel(cancel, hw.gen)
	// A request without a body is watched for its client leaving once it runs long.
	if b == nil {
		c.cancel = cancel
		if c.timer == nil {
			c.timer = time.AfterFunc(watchDelay, c.watch)
		} else {
			c.timer.Reset(watchDelay)
		}
	}
	c.mu.Unlock()

	aborted := true
	defer func() {
		if aborted {
			c.endCancel()
			_ = c.stopWatch()
		}
	}()
	c.srv.Handler.ServeHTTP(hw, r)
	aborted = false // a panic skips this and closes the connection in serve
	c.endCancel()
	if err := c.stopWatch(); err != nil {
		return false
	}
	if w.hijacked {
		return false
	}
	keep = w.finish()
	if b != nil && !b.drain() {
		// A body still streaming when the head went out (without "Connection: close") and then too
		// long to read away: the client learns by the close.
		keep = false
	}
	if err := c.bw.Flush(); err != nil {
		return false
	}
	return keep && !c.srv.shuttingDown()
}

// watch runs on the watch timer: it reads from the idle connection of a request that is still
// being handled, and cancels the request when the client closes.
func (c *conn) watch() {
	c.mu.Lock()
	if c.cancel == nil || c.watching {
		c.mu.Unlock()
		return
	}
	cancel := c.cancel
	c.watching = true
	c.watchEnd = make(chan struct{})
	end := c.watchEnd
	c.mu.Unlock()

	defer close(end)
	n, err := c.rwc.Read(c.cr.b[:])
	if n == 1 {
		c.cr.hasByte = true // a pipelined request began: no more watching
		return
	}
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return // stopWatch ended the read
	}
	cancel(fmt.Errorf("%w: %w", ErrClientGone, err))
}

// stopWatch ends the watch of the request in progress, waiting for a watching read to return.
func (c *conn) stopWatch() error {
	c.mu.Lock()
	c.cancel = nil
	if c.timer != nil {
		c.timer.Stop()
	}
	watching, end := c.watching, c.watchEnd
	c.watching = false
	c.mu.Unlock()
	if !watching {
		return nil
	}
	// A deadline in the past makes the pending read return at once.
	if err := c.rwc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		return fmt.Errorf("stop watching: %w", err)
	}
	<-end
	if err := c.rwc.SetReadDeadline(time.Time{}); err != nil {
		return fmt.Errorf("stop watching: %w", err)
	}
	return nil
}

// writeContinue answers "Expect: 100-continue" when the handler first reads the body.
func (c *conn) writeContinue() error {
	if _, err := c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
		return err
	}
	return c.bw.Flush()
}

// answerHeadError answers a request head that could not be read or was refused, then the
// connection is closed. A client that went away or timed out gets nothing.
func (c *conn) answerHeadError(ctx context.Context, method string, err error) {
	var herr *headError
	if !errors.As(err, &herr) {
		var ne net.Error
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) {
			return
		}
		herr = badRequest("unreadable request head")
	}
	if !validMethod(method) {
		method = http.MethodGet
	}
	c.reject((&http.Request{
		Method: internMethod(method), URL: &url.URL{Path: "/"}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Close: true, RemoteAddr: c.remoteAddr, TLS: c.tlsState, RequestURI: "/",
	}).WithContext(ctx), herr.status, herr.reason)
}

// reject answers a refused request through Server.Reject (the edge's error page), or in plain
// text without one; the connection is closed after it.
func (c *conn) reject(req *http.Request, status int, reason string) {
	if c.srv.Reject == nil {
		c.answerError(status, reason)
		return
	}
	_ = c.rwc.SetDeadline(time.Now().Add(5 * time.Second))
	// The connection's response is free: a refused head comes before serveRequest's, or
	// instead of it. The connection closes after this one.
	w := &c.resp
	w.reset(c, req, nil)
	w.closeAfter = true
	defer w.release()
	c.srv.Reject(c.writer(), req, status, reason)
	if !w.hijacked {
		w.finish()
		_ = c.bw.Flush()
	}
}

// answerError writes a plain-text error response that closes the connection.
func (c *conn) answerError(status int, reason string) {
	body := fmt.Sprintf("%d %s: %s\n", status, http.StatusText(status), reason)
	_ = c.rwc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	writeStatusLine(c.bw, status)
	_, _ = fmt.Fprintf(c.bw, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	_ = c.bw.Flush()
}

func (c *conn) setState(s int32) {
	if c.state.Swap(s) != s {
		c.srv.trackState(c, s)
	}
}
