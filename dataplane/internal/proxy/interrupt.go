package proxy

import (
	"context"
	"time"
)

// interruptGrace is how long an exchange without a request body runs before its interrupt is
// registered with the request's context. Registering (context.AfterFunc) costs about 0.5 KB per
// request: the registration, and the children map and Done channel it makes the context
// allocate. Most exchanges with a backend on the same network end sooner, and never register.
//
// Until then, reads and writes on the connection wait at most until the grace ends (a deadline
// before their own); one still blocked then registers the interrupt, which runs at once when
// the context has ended, and goes on under its own deadline. So a context that ends during the
// grace interrupts the exchange when the grace ends, at most this much later than it would
// have; one that ends afterwards, at once, as before. What ends a request context early is the
// client leaving (which the HTTP/1.1 server notices after a second at the earliest) or a
// slow-request timeout, both far longer.
const interruptGrace = 10 * time.Millisecond

// exchangeInterrupt ties an exchange to its request's context: when the context ends, fire
// (closing the connection) makes whatever the exchange waits on return. It belongs to the
// connection, and is reset by begin for each exchange.
//
// Only the exchange's own goroutine changes it once begin has returned (arm, end), and only
// while the grace runs, i.e. for a request without a body: the goroutine that writes a request
// body then never runs, and a tunnel after a 101 starts after end.
type exchangeInterrupt struct {
	fire     func()
	ctx      context.Context
	stop     func() bool // set once registered
	graceEnd time.Time   // non-zero while the registration waits for the grace to end
}

// begin starts an exchange under ctx. With a grace, the interrupt is registered when an I/O
// outlasts it (see deadline); else now, unless the context cannot end. (Asking ctx.Done makes
// a cancelable context allocate its channel: the lazy path does not ask.)
func (x *exchangeInterrupt) begin(ctx context.Context, grace time.Duration) {
	x.ctx, x.stop, x.graceEnd = ctx, nil, time.Time{}
	switch {
	case grace > 0:
		x.graceEnd = time.Now().Add(grace)
	case ctx.Done() != nil:
		x.stop = context.AfterFunc(ctx, x.fire)
	}
}

// deadline returns the deadline for an I/O of the exchange whose own is own (zero: none): the
// end of the grace when that comes first, and whether it does. After a timeout at the grace's
// end, the I/O calls arm and tries again under its own deadline.
func (x *exchangeInterrupt) deadline(own time.Time) (time.Time, bool) {
	if g := x.graceEnd; !g.IsZero() && (own.IsZero() || g.Before(own)) {
		return g, true
	}
	return own, false
}

// arm registers the interrupt, if the grace still ran. It fires at once when the context has
// already ended.
func (x *exchangeInterrupt) arm() {
	if x.graceEnd.IsZero() {
		return
	}
	x.graceEnd = time.Time{}
	x.stop = context.AfterFunc(x.ctx, x.fire)
}

// end ends the exchange's tie to its context, and reports whether the interrupt ran (or is
// running): then the connection is closed, or about to be.
func (x *exchangeInterrupt) end() (interrupted bool) {
	if !x.graceEnd.IsZero() {
		x.graceEnd = time.Time{}
	}
	return x.stop != nil && !x.stop()
}
