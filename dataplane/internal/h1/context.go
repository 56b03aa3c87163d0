package h1

import (
	"context"
	"net/http"
	"time"
)

// requestCancel is what lets a handler end its request's context after a delay (writer's
// CancelAfter): the slow-request timeout, which would otherwise cost every request a context of
// its own (with a children map and a Done channel) and a timer. The connection keeps one timer
// for all its requests; its fields are guarded by conn.mu.
//
// Reuse across the requests of a connection is safe because an arm belongs to one request and
// cannot outlive it: a request's cancel function is set when it begins and cleared, with the arm,
// when its handler returns (before the next request is read), and the timer's function cancels
// only an arm that is still there, of the request in progress (gen), and due (at). A run of the
// timer left over from an earlier arm (time.Timer.Stop cannot recall a function that already
// started) therefore finds nothing, or an arm not yet due, and leaves it.
type requestCancel struct {
	timer  *time.Timer             // made on the connection's first arm
	cancel context.CancelCauseFunc // of the request in progress; nil between requests
	gen    uint64                  // the generation of its writers
	armed  bool
	at     time.Time // when the arm is due
	cause  error
}

// beginCancel readies the request cancel for the request whose writers have generation gen;
// c.mu is held.
func (c *conn) beginCancel(cancel context.CancelCauseFunc, gen uint64) {
	rc := &c.rc
	rc.cancel, rc.gen, rc.armed, rc.cause = cancel, gen, false, nil
}

// endCancel disarms the request's cancel once its handler returned: nothing armed during a
// request acts after it.
func (c *conn) endCancel() {
	c.mu.Lock()
	rc := &c.rc
	rc.cancel, rc.armed, rc.cause = nil, false, nil
	if rc.timer != nil {
		rc.timer.Stop()
	}
	c.mu.Unlock()
}

// armCancel is writer.CancelAfter for a writer of generation gen.
func (c *conn) armCancel(gen uint64, d time.Duration, cause error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := &c.rc
	if rc.cancel == nil || rc.gen != gen {
		return false // a stale writer: its request is over
	}
	rc.armed, rc.at, rc.cause = true, time.Now().Add(d), cause
	if rc.timer == nil {
		rc.timer = time.AfterFunc(d, c.cancelDue)
	} else {
		rc.timer.Reset(d)
	}
	return true
}

// stopCancel is writer.StopCancel for a writer of generation gen.
func (c *conn) stopCancel(gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := &c.rc
	if !rc.armed || rc.gen != gen {
		return false
	}
	rc.armed, rc.cause = false, nil
	rc.timer.Stop()
	return true
}

// cancelDue runs on the timer: it cancels the request in progress with the cause of its arm,
// if that arm is due.
func (c *conn) cancelDue() {
	c.mu.Lock()
	rc := &c.rc
	if !rc.armed || rc.gen != c.gen.Load() {
		c.mu.Unlock()
		return
	}
	if now := time.Now(); now.Before(rc.at) {
		// A late run of an earlier arm's timer: the current arm stays, due at its own time.
		rc.timer.Reset(rc.at.Sub(now))
		c.mu.Unlock()
		return
	}
	cancel, cause := rc.cancel, rc.cause
	rc.armed, rc.cause = false, nil
	c.mu.Unlock()
	cancel(cause)
}

// CancelAfter arms the end of the request's context after d, with cause (context.Cause) and
// context.Canceled (Err), in place of an earlier arm of the same request; StopCancel disarms
// it. The arm ends with the request: it never acts on another one. It reports false when the
// writer's request is over. The edge's slow-request timeout uses it (slowreq.Canceler) instead
// of a context and a timer of its own.
func (h *writer) CancelAfter(d time.Duration, cause error) bool {
	return h.c.armCancel(h.gen, d, cause)
}

// StopCancel disarms CancelAfter; it reports whether an arm was stopped before it fired.
func (h *writer) StopCancel() bool { return h.c.stopCancel(h.gen) }

// SetRequestContext gives r, the request this writer answers, the context ctx in place of its
// own, without copying r as Request.WithContext would: a handler passing values down with its
// request (context.WithValue) saves the copy. ctx must be derived from r's context, so that the
// request's end (its client leaving, CancelAfter, the handler returning) still reaches it. It
// reports false, changing nothing, when r is not this writer's request or the request is over;
// the handler then copies as usual.
//
// Changing the request in place is safe because nothing else holds it yet: the server reads r
// only on the handler's goroutine (the response's head), apart from its body, which records a
// chunked body's trailers in r.Trailer while it is read; so call it before the body is read or
// r is handed to another goroutine, as a handler would make its copy.
func (h *writer) SetRequestContext(r *http.Request, ctx context.Context) bool {
	w := h.live()
	if w == nil || w.req != r || ctx == nil {
		return false
	}
	*r = *r.WithContext(ctx) // the inlined copy stays on the stack
	return true
}
