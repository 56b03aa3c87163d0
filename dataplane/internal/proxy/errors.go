package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the backend answered.
// No response is sent for it; it only appears in access logs.
const StatusClientClosedRequest = 499

// Kinds of backend failure that Error.Kind names. The timeout kinds are the values of
// RequestEvent.timeout.
const (
	KindConnect          = "connect"            // dialing (or the TLS handshake) timed out: 502
	KindRead             = "read"               // no response headers, or no body bytes, for the read timeout: 504
	KindWrite            = "write"              // the backend accepted no request bytes for the write timeout: 504
	KindResponseTooLarge = "response_too_large" // the response body is over max_response_body: 502
)

// StatusCoder is an error that chooses the status the client gets, e.g. an open circuit
// breaker's 503. A round-tripper middleware (Settings.Wrap) returns one; classify finds it
// with errors.As.
type StatusCoder interface {
	StatusCode() int
}

// Error is a request the backend did not answer, or whose answer broke off. Status is the answer
// the client should get: 502 (unreachable, refused, reset, bad response, too large), 503 (a
// middleware's StatusCoder), 504 (timed out) or 499 (client gone). Err is the underlying error,
// which may name backend addresses: log it, never show it.
type Error struct {
	Status int
	// Kind is one of the Kind constants, or "" for other failures (refused, reset, DNS, ...).
	Kind string
	// Cut is set when the response header (and maybe part of the body) already went to the
	// client: no error page is possible, and the client connection must be aborted so that the
	// client sees a truncated response (Serve does that by panicking with http.ErrAbortHandler).
	Cut bool
	Err error
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Timeout returns the timeout that ended the request, for RequestEvent.timeout: "connect",
// "read", "write" or "".
func (e *Error) Timeout() string {
	switch e.Kind {
	case KindConnect, KindRead, KindWrite:
		return e.Kind
	}
	return ""
}

// Counters are the failures of each kind since the Pools were made, for metrics.
type Counters struct {
	ConnectTimeouts   int64
	ReadTimeouts      int64
	WriteTimeouts     int64
	ResponsesTooLarge int64
}

type counters struct {
	connect, read, write, tooLarge atomic.Int64
}

func (c *counters) count(kind string) {
	switch kind {
	case KindConnect:
		c.connect.Add(1)
	case KindRead:
		c.read.Add(1)
	case KindWrite:
		c.write.Add(1)
	case KindResponseTooLarge:
		c.tooLarge.Add(1)
	}
}

// Counters returns the timeouts and oversized responses counted so far, over all backends.
func (p *Pools) Counters() Counters {
	return Counters{
		ConnectTimeouts:   p.counters.connect.Load(),
		ReadTimeouts:      p.counters.read.Load(),
		WriteTimeouts:     p.counters.write.Load(),
		ResponsesTooLarge: p.counters.tooLarge.Load(),
	}
}

// errResponseTooLarge is a response body over max_response_body.
var errResponseTooLarge = errors.New("backend response body is larger than max_response_body")

// errReadTimeout is a response body that sent no byte for the read timeout.
var errReadTimeout = &readTimeoutError{}

type readTimeoutError struct{}

func (*readTimeoutError) Error() string {
	return "backend read timeout: no response bytes for the read timeout"
}
func (*readTimeoutError) Timeout() bool   { return true }
func (*readTimeoutError) Temporary() bool { return false }

// classify decides which status and kind a transport (or middleware) error deserves.
func classify(r *http.Request, err error) *Error {
	status, kind := http.StatusBadGateway, ""
	var dnsErr *net.DNSError
	var netErr net.Error
	var opErr *net.OpError
	var coder StatusCoder
	var writeErr *writeTimeoutError
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		// Whatever the transport says, the round trip ended because the client left.
		status = StatusClientClosedRequest
	case errors.As(err, &coder) && coder.StatusCode() >= 400:
		status = coder.StatusCode()
	case errors.Is(err, errResponseTooLarge):
		kind = KindResponseTooLarge
	case errors.As(err, &dnsErr):
		// An unknown backend name is a configuration or deployment problem, not slowness,
		// even when the resolver timed out.
	case errors.As(err, &writeErr):
		status, kind = http.StatusGatewayTimeout, KindWrite
	case errors.As(err, &opErr) && opErr.Op == "dial":
		// Refused, unreachable or timed out: the backend is not there. A 502, as nginx answers.
		if opErr.Timeout() {
			kind = KindConnect
		}
	case errors.As(err, &netErr) && netErr.Timeout() && strings.Contains(err.Error(), "TLS handshake timeout"):
		kind = KindConnect
	case errors.Is(r.Context().Err(), context.DeadlineExceeded):
		// The caller's own deadline (a slow-request policy) ran out: its kind, not ours.
		status = http.StatusGatewayTimeout
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		// The response header timeout, or a body that stopped: the backend is slow.
		status, kind = http.StatusGatewayTimeout, KindRead
	}
	return &Error{Status: status, Kind: kind, Err: err}
}
