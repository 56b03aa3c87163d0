package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// pconn is one backend connection of a transport, with its buffers.
type pconn struct {
	t         *transport
	conn      net.Conn // *trackedConn, or a *tls.Conn over one
	rd        deadlineReader
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool // carried a request before this one
	// interrupt makes blocked reads and writes return; made once, run by context.AfterFunc.
	// It closes the connection rather than moving its deadlines into the past: the exchange
	// sets fresh deadlines as it goes (the read timeout, each write's), and one set just after
	// the interrupt would undo it, leaving the exchange blocked until that timeout.
	interrupt func()
	// intr registers interrupt with the exchange's context, lazily when tracked is set.
	intr exchangeInterrupt
	// tracked is the connection under TLS, or conn itself: its writes honour intr's grace.
	// nil (a connection the tests made): the interrupt is registered at once.
	tracked *trackedConn
	// spare is the response of the connection's previous exchange, handed back by the one
	// caller that owns a response whole (Backend.Forward, see recycleAtClose) for the next
	// response to be read into. The exchange that takes it sets it to nil: a response is
	// recycled at most once, and only ever by the connection that read it.
	spare *response
}

func newPconn(t *transport, c net.Conn) *pconn {
	pc := &pconn{t: t, conn: c}
	pc.rd.conn = c
	pc.rd.timeout = t.settings.ReadTimeout
	pc.rd.intr = &pc.intr
	pc.br = bufio.NewReaderSize(&pc.rd, 4<<10)
	pc.bw = bufio.NewWriterSize(c, 4<<10)
	pc.interrupt = func() { pc.conn.Close() } // never reused: stop() reports it ran
	pc.intr.fire = pc.interrupt
	under := c
	if tc, ok := c.(*tls.Conn); ok {
		under = tc.NetConn()
	}
	if tc, ok := under.(*trackedConn); ok {
		pc.tracked = tc
		tc.intr = &pc.intr
	}
	return pc
}

// deadlineReader reads the connection under the read timeout: the response header must come
// within it as a whole (head, set by the exchange), and then each read of the body must
// progress within it (perRead). Time the proxy spends writing to a slow client does not count;
// only time blocked here does. A read that outlasts the interrupt's grace registers it
// (exchangeInterrupt.deadline) and goes on.
type deadlineReader struct {
	conn    net.Conn
	timeout time.Duration // <= 0: none
	perRead bool
	head    time.Time // the header's deadline when !perRead; zero: none
	set     time.Time // the read deadline the connection has
	intr    *exchangeInterrupt
	n       int64 // bytes read since the exchange began
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	for {
		own := d.head
		if d.perRead {
			own = time.Time{}
			if d.timeout > 0 {
				own = time.Now().Add(d.timeout)
			}
		}
		dl, grace := d.intr.deadline(own)
		if err := d.setDeadline(dl); err != nil {
			return 0, err
		}
		n, err := d.conn.Read(p)
		d.n += int64(n)
		if err != nil && grace && isTimeout(err) {
			d.intr.arm()
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// setDeadline sets the connection's read deadline when it changes.
func (d *deadlineReader) setDeadline(t time.Time) error {
	if t.Equal(d.set) {
		return nil
	}
	if err := d.conn.SetReadDeadline(t); err != nil {
		return err
	}
	d.set = t
	return nil
}

// alive tells whether an idle connection may still carry a request: the backend has not
// closed it and has sent nothing unasked. It peeks without blocking (one system call).
func (pc *pconn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false // bytes nobody asked for: the connection is out of step
	}
	// A deadline of the last exchange that has passed would fail the peek.
	if err := pc.rd.setDeadline(time.Time{}); err != nil {
		return false
	}
	tc, ok := pc.conn.(*trackedConn)
	if !ok {
		return true // TLS: the records would have to be read; a failed reuse is retried instead
	}
	sc, ok := tc.Conn.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing to read, still open. 0 bytes: closed. Data or another error: unusable.
		alive = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && alive
}

// roundTrip sends req on the connection and reads the response header. The response body
// gives the connection back to the pool when read to its end, and closes it otherwise.
// With upgrade set, req asks the backend to switch to that protocol; a 101 answer's Body is the
// connection itself (an io.ReadWriteCloser), out of the pool from then on.
func (pc *pconn) roundTrip(req *http.Request, upgrade string) (*http.Response, error) {
	ctx := req.Context()
	// The client leaving, or the caller's deadline, interrupts whatever the exchange waits on.
	// Lazily (interruptGrace) for a request without a body: the body's writer is a goroutine
	// of its own, which could not register it.
	withBody := hasBody(req)
	var grace time.Duration
	if !withBody && upgrade == "" && pc.tracked != nil {
		grace = pc.t.interruptGrace
	}
	pc.intr.begin(ctx, grace)

	pc.rd.n, pc.rd.perRead, pc.rd.head = 0, false, time.Time{}
	writeRequest(pc.bw, req, upgrade)
	var bodyDone chan error
	if withBody {
		bodyDone = make(chan error, 1)
		go pc.writeBody(req, bodyDone)
	} else {
		if req.Body != nil {
			req.Body.Close()
		}
		if err := pc.bw.Flush(); err != nil {
			return pc.fail(ctx, err)
		}
	}

	if pc.rd.timeout > 0 {
		pc.rd.head = time.Now().Add(pc.rd.timeout)
	}
	r, err := readResponseInto(pc.br, req, pc.spare)
	pc.spare = nil // r is this exchange's caller's now, or dropped with the connection
	if err != nil {
		if bodyDone != nil {
			// A body that could not be read (the client left, or it crossed the route's
			// limit) is the reason the backend did not answer.
			select {
			case werr := <-bodyDone:
				if werr != nil {
					err = werr
				}
			default:
			}
		}
		var ne net.Error
		if pc.rd.n == 0 && !(errors.As(err, &ne) && ne.Timeout()) {
			err = &nothingReadError{err: err, reused: pc.reused}
		}
		return pc.fail(ctx, err)
	}
	pc.rd.perRead = true
	res := &r.Response

	if res.StatusCode == http.StatusSwitchingProtocols {
		pc.intr.end()
		if upgrade == "" {
			pc.t.closeConn(pc)
			return nil, errors.New("backend switched protocols unasked")
		}
		// The tunnel has its own idle limits; the read timeout no longer applies.
		pc.rd.timeout = 0
		if err := pc.rd.setDeadline(time.Time{}); err != nil {
			return pc.fail(ctx, err)
		}
		if pc.tracked != nil {
			if err := pc.tracked.clearGraceDeadline(); err != nil {
				return pc.fail(ctx, err)
			}
		}
		res.Body = &upgradedConn{pc: pc}
		return res, nil
	}
	// The body is part of the response's allocation, not the connection's: the caller may
	// still Close it after the connection went back to the pool and carries another exchange
	// (done makes that a no-op).
	body := &r.body
	body.pc, body.bodyDone, body.keepAlive, body.owner = pc, bodyDone, !res.Close, r
	if body.f.framing == framingNone {
		body.finish(true)
	}
	return res, nil
}

// fail ends an exchange that failed: the connection is closed, and the error is the
// context's when it ended (the client left, the caller's deadline passed).
func (pc *pconn) fail(ctx context.Context, err error) (*http.Response, error) {
	pc.intr.end()
	pc.t.closeConn(pc)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, err
}

// hasBody tells whether req has a body to send (HTTP/2 and HTTP/3 requests of unknown length
// have ContentLength -1 and a Body that is not http.NoBody).
func hasBody(req *http.Request) bool {
	return req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0
}

// writeBody sends the request body after the header writeRequest buffered, chunked when its
// length is unknown, and reports the outcome. A body that could not be read, or not written,
// makes the backend connection close, so the exchange waiting for the response gives up at
// once with that reason.
func (pc *pconn) writeBody(req *http.Request, done chan<- error) {
	src := &bodyReader{r: req.Body}
	var err error
	if req.ContentLength > 0 {
		var n int64
		n, err = io.Copy(pc.bw, io.LimitReader(src, req.ContentLength))
		if err == nil && n < req.ContentLength {
			src.err = io.ErrUnexpectedEOF // the client sent less than it announced
		}
	} else {
		cw := chunkedWriter{w: pc.bw}
		if _, err = io.Copy(&cw, src); err == nil {
			_, err = pc.bw.WriteString("0\r\n\r\n")
		}
	}
	req.Body.Close()
	if src.err != nil {
		err = src.err
	} else if err == nil {
		err = pc.bw.Flush()
	}
	done <- err
	if err != nil {
		pc.conn.Close() // the exchange waiting for the response gives up, with err
	}
}

// bodyReader remembers the error of reading the client's body, to tell it from a failed write
// to the backend.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// chunkedWriter writes each Write as one HTTP/1.1 chunk.
type chunkedWriter struct{ w *bufio.Writer }

func (c *chunkedWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var hex [16]byte
	i := len(hex)
	for n := len(p); n > 0; n >>= 4 {
		i--
		hex[i] = "0123456789abcdef"[n&0xf]
	}
	c.w.Write(hex[i:])
	c.w.WriteString("\r\n")
	c.w.Write(p)
	if _, err := c.w.WriteString("\r\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}

// nothingReadError is an exchange that got no byte of response. On a reused connection that
// usually means the backend had closed it while idle: the request may be sent again on a new
// connection when that is safe (transport.RoundTrip).
type nothingReadError struct {
	err    error
	reused bool
}

func (e *nothingReadError) Error() string {
	return "backend closed the connection without answering: " + e.err.Error()
}
func (e *nothingReadError) Unwrap() error { return e.err }

// responseBody is a backend response's body. Read to its end, it gives the connection back to
// the pool (when both sides allow keep-alive and the request body was sent whole); closed
// before, it closes the connection, since what is left of the response is unknown.
type responseBody struct {
	f         framedBody
	pc        *pconn
	bodyDone  chan error // nil: the request had no body
	keepAlive bool
	done      bool
	owner     *response // the response this is the body of
	// recycle: the caller is done with the response once it closes the body (recycleAtClose),
	// so the connection goes back to the pool at Close, with the response as its spare.
	recycle bool
	held    bool // recycle, and the body ended cleanly: Close puts the connection back
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.f.Read(p)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		b.finish(false)
	}
	return n, err
}

func (b *responseBody) Close() error {
	switch {
	case !b.done:
		b.finish(false)
	case b.held:
		b.held = false
		b.pc.spare = b.owner
		b.pc.t.put(b.pc)
	}
	return nil
}

// recycleAtClose lets the connection that read res read its next response into the same
// value (its header map included) once res's body is closed, when res is a response of ours
// whose body has not ended yet. Only Backend.Forward calls it, for the response it gets back:
// it owns that response whole, and uses neither it nor its body after Close.
//
// Why nothing else can see the response change: a response is recycled only when handed back
// here, so the responses of every other caller (RoundTrip used directly, Upgrade, the attempts
// the retry middleware discards) are never read into again, however long they are kept. The
// Wrap middlewares return the response to Forward and keep no reference to it (the
// Settings.Wrap contract: the retry middleware forgets a failed attempt's response, the
// breaker only reads the status). The connection goes back to the pool at Close rather than
// at the body's end, so the next exchange cannot start while relay still reads the trailer.
// The header values (and the trailer) are not reused: relay hands them to the client's
// header, which outlives the exchange.
func recycleAtClose(res *http.Response) {
	if b, ok := res.Body.(*responseBody); ok && !b.done && b.owner != nil && &b.owner.Response == res {
		b.recycle = true
	}
}

func (b *responseBody) finish(eof bool) {
	b.done = true
	interrupted := b.pc.intr.end()
	reuse := eof && b.keepAlive && !interrupted
	if reuse && b.bodyDone != nil {
		select {
		case err := <-b.bodyDone:
			reuse = err == nil
		default:
			reuse = false // the backend answered before taking the whole body
		}
	}
	switch {
	case reuse && b.recycle:
		b.held = true // Close gives the connection back
	case reuse:
		b.pc.t.put(b.pc)
	default:
		b.pc.t.closeConn(b.pc)
	}
}

// upgradedConn is a connection after 101 Switching Protocols: reads start with what the
// backend sent after its response header.
type upgradedConn struct {
	pc    *pconn
	close sync.Once
}

func (u *upgradedConn) Read(p []byte) (int, error)  { return u.pc.br.Read(p) }
func (u *upgradedConn) Write(p []byte) (int, error) { return u.pc.conn.Write(p) }
func (u *upgradedConn) Close() error {
	u.close.Do(func() { u.pc.t.closeConn(u.pc) })
	return nil
}
