// Package breaker is a circuit breaker for one backend: while the backend fails, requests are
// answered at once with 503 instead of waiting on it, and a few probes find out when it is back.
// It is an http.RoundTripper middleware in front of the backend transport and its retries
// (breaker(retry(transport))), so it judges each client request once, after the retries.
//
// # States
//
//	closed ──failure_threshold failures within window──▶ open
//	open ──timeout elapsed, on the next request──▶ half-open
//	half-open ──success_threshold successful probes in a row──▶ closed
//	half-open ──a probe fails──▶ open
//
// Closed: every request goes to the backend. The times of the last failure_threshold failures
// are kept; when they all lie within the sliding window, the circuit opens. Successes do not
// reset the count: it is "N failures in the window", not "N in a row", so a backend failing
// every other request still trips the breaker.
//
// Open: requests fail fast with an *OpenError (503, wrapping ErrOpen) without touching the
// backend. The move to half-open happens on the first request after timeout, not on a timer:
// the breaker owns no goroutine, and State reports open until traffic arrives.
//
// Half-open: one probe at a time goes to the backend; the other requests fail fast as in open.
// A successful probe counts towards success_threshold; a failed one opens the circuit again for
// another timeout.
//
// # What is a failure
//
// A transport error (refused, reset, timed out, the route's deadline passed), or an answer of
// 502, 503 or 504: the backend, or the gateway in front of it, says it is unavailable. A 500
// is not a failure: it usually is one broken page of an application that otherwise works, and
// opening the circuit would take the whole site down for it. A request whose client went away
// (its context cancelled) counts neither way. An outcome is only counted in the state it was
// admitted in: a slow request admitted while closed that ends after the circuit opened does not
// count as a probe.
//
// # Cost
//
// In the closed state a successful request costs one atomic load and allocates nothing; a
// failure takes a mutex for a few instructions. Rejections while open need a clock read and
// an atomic load, and allocate nothing.
//
// # Events
//
// Every change of state calls onChange with a CircuitEvent, in order, on the goroutine of the
// request that caused it while the breaker's mutex is held. onChange must therefore not block
// and must not send requests through the breaker: hand the event to a buffered queue (the
// data plane's event queue) and return.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Defaults for fields the snapshot leaves unset; they are the configuration's defaults.
const (
	DefaultFailureThreshold = 5
	DefaultSuccessThreshold = 2
	DefaultTimeout          = 30 * time.Second
	DefaultWindow           = 60 * time.Second
)

// MaxThreshold bounds failure_threshold and success_threshold; the breaker keeps one time per
// failure it counts.
const MaxThreshold = 10000

// State is the state of a circuit.
type State uint8

const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns the name of s as CircuitEvent carries it: "closed", "open" or "half-open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ErrOpen is what every error of a request the breaker refused wraps.
var ErrOpen = errors.New("circuit breaker open")

// OpenError is the error of a request refused without trying the backend. The breaker returns
// the same few values again and again: do not modify them.
type OpenError struct {
	Backend string
	State   State // Open, or HalfOpen while a probe is in flight
}

func (e *OpenError) Error() string {
	if e.State == HalfOpen {
		return "circuit breaker for " + e.Backend + " is half-open and already probing"
	}
	return "circuit breaker for " + e.Backend + " is open"
}

// Unwrap returns ErrOpen.
func (e *OpenError) Unwrap() error { return ErrOpen }

// StatusCode is the answer the client gets: 503 Service Unavailable.
func (e *OpenError) StatusCode() int { return http.StatusServiceUnavailable }

// Option changes a Breaker built by New.
type Option func(*Breaker)

// WithClock makes the breaker read time from now instead of time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(b *Breaker) { b.now = now }
}

// Breaker is the circuit breaker of one backend, and the middleware that applies it. It is safe
// for concurrent use. Build it with New.
type Breaker struct {
	next     http.RoundTripper
	backend  string
	onChange func(*proxyv1.CircuitEvent)
	now      func() time.Time
	base     time.Time // times are kept as nanoseconds since base

	failureThreshold int
	successThreshold int
	timeout, window  time.Duration

	// word is epoch<<2 | State. The epoch grows at every change of state, so that an outcome
	// can be matched with the state its request was admitted in.
	word atomic.Uint64
	// openUntil is when an open circuit may start probing, in nanoseconds since base.
	openUntil atomic.Int64

	mu        sync.Mutex
	failures  []int64 // ring of the last failure times in the closed state
	head, n   int     // oldest entry, number of entries
	probing   bool    // a half-open probe is in flight
	successes int     // successful probes in the current half-open state

	errOpen, errProbing *OpenError
}

// New returns next behind a circuit breaker for backend (its URL, for events and errors), or
// next unchanged when cfg is nil or disabled. onChange, which may be nil, receives every change
// of state and must not block (see the package documentation). New fails when a threshold is
// negative or above MaxThreshold, or a duration is negative or invalid; zero values take the
// defaults above.
//
// The returned RoundTripper is a *Breaker when the breaker is on; keep it across snapshots
// whose backend and policy are unchanged, so that an open circuit stays open.
func New(cfg *proxyv1.CircuitBreaker, backend string, onChange func(*proxyv1.CircuitEvent), next http.RoundTripper, opts ...Option) (http.RoundTripper, error) {
	if !cfg.GetEnabled() {
		return next, nil
	}
	if next == nil {
		return nil, errors.New("breaker: no transport to wrap")
	}
	b := &Breaker{
		next:     next,
		backend:  backend,
		onChange: onChange,
		now:      time.Now,
	}
	var err error
	if b.failureThreshold, err = threshold("failure_threshold", cfg.GetFailureThreshold(), DefaultFailureThreshold); err != nil {
		return nil, err
	}
	if b.successThreshold, err = threshold("success_threshold", cfg.GetSuccessThreshold(), DefaultSuccessThreshold); err != nil {
		return nil, err
	}
	if b.timeout, err = duration("timeout", cfg.GetTimeout(), DefaultTimeout); err != nil {
		return nil, err
	}
	if b.window, err = duration("window", cfg.GetWindow(), DefaultWindow); err != nil {
		return nil, err
	}
	for _, o := range opts {
		o(b)
	}
	b.base = b.now()
	b.failures = make([]int64, b.failureThreshold)
	b.errOpen = &OpenError{Backend: backend, State: Open}
	b.errProbing = &OpenError{Backend: backend, State: HalfOpen}
	return b, nil
}

func threshold(name string, v int64, def int) (int, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 0 || v > MaxThreshold:
		return 0, fmt.Errorf("breaker: %s %d is out of range (1-%d)", name, v, MaxThreshold)
	}
	return int(v), nil
}

func duration(name string, d *durationpb.Duration, def time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("breaker: %s: %w", name, err)
	}
	switch v := d.AsDuration(); {
	case v < 0:
		return 0, fmt.Errorf("breaker: %s (%s) is negative", name, v)
	case v == 0:
		return def, nil
	default:
		return v, nil
	}
}

// State returns the circuit's state as of the last change (see the package documentation: an
// open circuit turns half-open only when a request arrives after timeout).
func (b *Breaker) State() State { return State(b.word.Load() & 3) }

// Backend returns the backend the breaker guards.
func (b *Breaker) Backend() string { return b.backend }

// since returns the time as nanoseconds since b.base.
func (b *Breaker) since() int64 { return int64(b.now().Sub(b.base)) }

// RoundTrip sends req to the backend unless the circuit is open, and counts the outcome.
func (b *Breaker) RoundTrip(req *http.Request) (*http.Response, error) {
	return b.roundTrip(b.next, req)
}

// Wrap returns a RoundTripper that applies b's circuit in front of next instead of the
// transport b was built with. Routes that share a backend but not a retry policy share one
// circuit this way, and a new snapshot can put a new chain behind a circuit it keeps.
func (b *Breaker) Wrap(next http.RoundTripper) http.RoundTripper {
	return wrapped{b, next}
}

type wrapped struct {
	b    *Breaker
	next http.RoundTripper
}

func (w wrapped) RoundTrip(req *http.Request) (*http.Response, error) {
	return w.b.roundTrip(w.next, req)
}

func (b *Breaker) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	w := b.word.Load()
	if State(w&3) != Closed {
		return b.probe(next, req)
	}
	resp, err := next.RoundTrip(req)
	if failed, counts := outcome(req, resp, err); failed && counts {
		b.failed(w, resp, err)
	}
	return resp, err
}

// outcome judges an attempt: whether it failed, and whether it counts at all.
func outcome(req *http.Request, resp *http.Response, err error) (failed, counts bool) {
	if err != nil {
		return true, !errors.Is(req.Context().Err(), context.Canceled)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true, true
	}
	return false, true
}

// failed counts a failure of a request admitted while the circuit was closed (word w).
func (b *Breaker) failed(w uint64, resp *http.Response, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.word.Load() != w {
		return // the circuit has changed state since the request was admitted
	}
	t := b.since()
	if b.n < len(b.failures) {
		b.failures[(b.head+b.n)%len(b.failures)] = t
		b.n++
	} else {
		b.failures[b.head] = t
		b.head = (b.head + 1) % len(b.failures)
	}
	if b.n == len(b.failures) && t-b.failures[b.head] < int64(b.window) {
		b.open(t, uint32(b.n), fmt.Sprintf("%d failures within %s, the last: %s", b.n, b.window, describe(resp, err)))
	}
}

// probe handles a request that found the circuit open or half-open: it is refused, or sent as
// the one probe.
func (b *Breaker) probe(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	// An open circuit refuses without the mutex until it is time to probe.
	if State(b.word.Load()&3) == Open && b.since() < b.openUntil.Load() {
		return nil, b.refuse(req, b.errOpen)
	}
	b.mu.Lock()
	w := b.word.Load()
	switch State(w & 3) {
	case Closed:
		// Closed in the meantime: an ordinary request, counted as such.
		b.mu.Unlock()
		resp, err := next.RoundTrip(req)
		if failed, counts := outcome(req, resp, err); failed && counts {
			b.failed(w, resp, err)
		}
		return resp, err
	case Open:
		if b.since() < b.openUntil.Load() {
			b.mu.Unlock()
			return nil, b.refuse(req, b.errOpen)
		}
		b.change(HalfOpen, 0, fmt.Sprintf("open for %s, probing", b.timeout))
		b.successes = 0
		w = b.word.Load()
	}
	if b.probing {
		b.mu.Unlock()
		return nil, b.refuse(req, b.errProbing)
	}
	b.probing = true
	b.mu.Unlock()

	done := false
	defer func() {
		if !done { // next panicked: free the probe slot so the circuit does not stay stuck
			b.mu.Lock()
			if b.word.Load() == w {
				b.probing = false
			}
			b.mu.Unlock()
		}
	}()
	resp, err := next.RoundTrip(req)
	done = true
	failed, counts := outcome(req, resp, err)

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.word.Load() != w {
		return resp, err
	}
	b.probing = false
	switch {
	case !counts:
	case failed:
		b.open(b.since(), 1, "probe failed: "+describe(resp, err))
	default:
		b.successes++
		if b.successes >= b.successThreshold {
			b.n, b.head = 0, 0
			b.change(Closed, 0, fmt.Sprintf("%d successful probes", b.successes))
		}
	}
	return resp, err
}

// refuse fails a request fast; like any RoundTripper it closes the request's body.
func (b *Breaker) refuse(req *http.Request, e *OpenError) error {
	if req.Body != nil {
		req.Body.Close()
	}
	return e
}

// open opens the circuit at t (nanoseconds since base). b.mu is held.
func (b *Breaker) open(t int64, failures uint32, reason string) {
	b.openUntil.Store(t + int64(b.timeout))
	b.change(Open, failures, reason)
}

// change moves the circuit to state to and reports it. b.mu is held.
func (b *Breaker) change(to State, failures uint32, reason string) {
	w := b.word.Load()
	from := State(w & 3)
	b.word.Store((w>>2+1)<<2 | uint64(to))
	if b.onChange == nil {
		return
	}
	b.onChange(&proxyv1.CircuitEvent{
		Time:     timestamppb.New(b.now()),
		Backend:  b.backend,
		From:     from.String(),
		To:       to.String(),
		Failures: failures,
		Reason:   reason,
	})
}

// describe names a failure for an event's reason.
func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("status %d", resp.StatusCode)
}
