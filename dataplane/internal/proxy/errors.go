package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
)

// StatusClientClosedRequest is nginx's 499: the client went away before the backend answered.
// No response is sent for it; it only appears in access logs.
const StatusClientClosedRequest = 499

// Error is a request the backend did not answer. Status is the answer the client should get:
// 502 (unreachable, refused, reset, bad response), 504 (timed out) or 499 (client gone).
// Err is the underlying error, which may name backend addresses: log it, never show it.
type Error struct {
	Status int
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// classify decides which status a transport error deserves.
func classify(r *http.Request, err error) *Error {
	status := http.StatusBadGateway
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		// Whatever the transport says, the round trip ended because the client left.
		status = StatusClientClosedRequest
	case errors.As(err, &dnsErr):
		// An unknown backend name is a configuration or deployment problem, not slowness,
		// even when the resolver timed out.
		status = http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		status = http.StatusGatewayTimeout
	}
	return &Error{Status: status, Err: err}
}
