// Package retry re-sends a request to the backend when an attempt failed in a way that another
// attempt can fix: the backend refused the connection, timed out, or answered with one of the
// configured status codes (502, 503, 504). It is an http.RoundTripper middleware in front of
// the backend transport; the circuit breaker sits outside it (breaker(retry(transport))), so
// the breaker sees one outcome per client request, after the retries.
//
// # What is retried
//
// A request is retried only when sending it again is both safe and possible:
//
//   - Its method is idempotent as RFC 9110 §9.2.2 defines it: GET, HEAD, OPTIONS, TRACE, PUT
//     and DELETE. This is the set nginx's proxy_next_upstream retries by default. POST, PATCH,
//     CONNECT and unknown methods are never retried, whatever went wrong.
//   - Its body can be sent again: it has none, or req.GetBody is set, or the body is at most
//     MaxBufferedBody bytes, which the middleware reads into memory before the first attempt.
//     A longer body (a Content-Length over the cap, or a chunked body that crosses it) is
//     streamed to the backend as it is, once, without retries.
//
// The conditions of retry_on are:
//
//   - "connection_refused": the backend could not be reached and nothing was sent:
//     ECONNREFUSED, or any other error of the dial (no route to host, name not resolved),
//     except a dial timeout, which is "timeout".
//   - "timeout": an attempt timed out (a net.Error whose Timeout() is true, or
//     context.DeadlineExceeded from a deadline of the attempt: the transport's dial or
//     response-header timeout). Once the request's own context is done (the client left, or
//     the route's overall deadline passed) nothing is retried.
//   - a status code from 500 to 599, such as "502": the backend answered with it. The body of
//     an answer that is retried is drained (a small one) and closed; the answer of the last
//     attempt is returned as it is.
//
// Other errors (a connection reset after the request was written, a malformed response) are
// not retried: the backend may have acted on the request. http.Transport itself already
// re-sends a request that failed on a reused idle connection before anything was written.
//
// # Delays
//
// Before retry n (n = 1 for the first retry) the middleware waits a random time between 0 and
// min(max_delay, d(n)), "full jitter", where d(n) is initial_delay for constant backoff,
// n×initial_delay for linear and 2^(n-1)×initial_delay for exponential. It never waits past
// the request context's deadline (the route's overall deadline): when the next wait would end
// at or after it, the middleware stops and returns the last attempt's result. If the context
// is cancelled during a wait, it returns an error wrapping the context's error.
//
// # Counting retries
//
// The number of retries of a request (attempts minus one) is written to a *uint32 that the
// caller puts in the request's context with WithCounter, for retry_count on the request event.
// The middleware looks the counter up only when it retries, so the path without a retry does
// not allocate and does not search the context; without a counter, retries are not reported.
package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Defaults for fields the snapshot leaves unset; they are the configuration's defaults.
const (
	DefaultMaxAttempts  = 3
	DefaultInitialDelay = 100 * time.Millisecond
	DefaultMaxDelay     = 2 * time.Second
)

// MaxAttempts is the largest max_attempts accepted, the first attempt included.
const MaxAttempts = 10

// MaxBufferedBody is the largest request body the middleware keeps in memory to send it again.
const MaxBufferedBody = 64 << 10

// defaultRetryOn is the retry_on list used when the snapshot's is empty, as in the configuration:
// connection_refused, timeout, 502, 503.
var defaultRetryOn = []string{"connection_refused", "timeout", "502", "503"}

type backoff uint8

const (
	exponential backoff = iota
	linear
	constant
)

// transport is the middleware. It is immutable after New and safe for concurrent use.
type transport struct {
	next         http.RoundTripper
	attempts     int
	backoff      backoff
	initial, max time.Duration
	onRefused    bool
	onTimeout    bool
	statuses     [2]uint64 // bit i set: retry on status 500+i

	randN func(n int64) int64 // for tests; nil: math/rand/v2's Int64N
}

// New returns next wrapped in the retry middleware that cfg describes, or next unchanged when
// cfg is nil or disabled. It fails when cfg is invalid: max_attempts outside 1..MaxAttempts
// (0 means DefaultMaxAttempts), an unknown backoff or retry_on entry, a negative or invalid
// delay, or initial_delay longer than max_delay. Unset delays take the defaults above.
func New(cfg *proxyv1.Retry, next http.RoundTripper) (http.RoundTripper, error) {
	if !cfg.GetEnabled() {
		return next, nil
	}
	if next == nil {
		return nil, errors.New("retry: no transport to wrap")
	}
	t := &transport{next: next, attempts: DefaultMaxAttempts}
	switch n := cfg.GetMaxAttempts(); {
	case n == 0:
	case n < 1 || n > MaxAttempts:
		return nil, fmt.Errorf("retry: max_attempts %d is out of range (1-%d, the first attempt included)", n, MaxAttempts)
	default:
		t.attempts = int(n)
	}
	switch b := cfg.GetBackoff(); b {
	case "", "exponential":
		t.backoff = exponential
	case "linear":
		t.backoff = linear
	case "constant":
		t.backoff = constant
	default:
		return nil, fmt.Errorf("retry: backoff %q is not exponential, linear or constant", b)
	}
	var err error
	if t.initial, err = delay("initial_delay", cfg.GetInitialDelay(), DefaultInitialDelay); err != nil {
		return nil, err
	}
	if t.max, err = delay("max_delay", cfg.GetMaxDelay(), DefaultMaxDelay); err != nil {
		return nil, err
	}
	if t.initial > t.max {
		return nil, fmt.Errorf("retry: initial_delay (%s) is longer than max_delay (%s)", t.initial, t.max)
	}
	on := cfg.GetRetryOn()
	if len(on) == 0 {
		on = defaultRetryOn
	}
	for _, c := range on {
		switch c {
		case "connection_refused":
			t.onRefused = true
		case "timeout":
			t.onTimeout = true
		default:
			code, err := strconv.Atoi(c)
			if err != nil || code < 500 || code > 599 {
				return nil, fmt.Errorf("retry: retry_on %q is not connection_refused, timeout or a status code 500-599", c)
			}
			t.statuses[(code-500)/64] |= 1 << ((code - 500) % 64)
		}
	}
	return t, nil
}

// delay reads a duration of the config; nil means def.
func delay(name string, d *durationpb.Duration, def time.Duration) (time.Duration, error) {
	if d == nil {
		return def, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("retry: %s: %w", name, err)
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, fmt.Errorf("retry: %s (%s) is negative", name, v)
	}
	return v, nil
}

type counterKey struct{}

// WithCounter returns a context that carries n. A request sent with it has its number of
// retries stored in *n (atomically; read it after RoundTrip has returned). *n is left alone
// when the request is not retried, so the caller should start it at 0. It costs one context
// allocation per request: a caller may skip it on routes without a retry policy.
func WithCounter(ctx context.Context, n *uint32) context.Context {
	return context.WithValue(ctx, counterKey{}, n)
}

func counter(ctx context.Context) *uint32 {
	n, _ := ctx.Value(counterKey{}).(*uint32)
	return n
}

// Idempotent reports whether the middleware may retry a request of this method.
func Idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func (t *transport) retryStatus(code int) bool {
	i := code - 500
	return i >= 0 && i < 100 && t.statuses[i/64]&(1<<(i%64)) != 0
}

// RoundTrip sends req, and sends it again while an attempt failed in a retryable way, attempts
// are left, and the next wait fits before the request's deadline.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !Idempotent(req.Method) {
		return t.next.RoundTrip(req)
	}
	first, rb, err := replayable(req)
	if err != nil {
		return nil, err
	}
	if rb.mode == streamed {
		return t.next.RoundTrip(first)
	}
	ctx := req.Context()
	var count *uint32
	resp, err := t.next.RoundTrip(first)
	for retries := 1; retries < t.attempts; retries++ {
		if !t.retryable(ctx, resp, err) {
			break
		}
		wait := t.delay(retries)
		if dl, ok := ctx.Deadline(); ok && !time.Now().Add(wait).Before(dl) {
			break // the next attempt could not start before the route's deadline
		}
		again, berr := rb.request(req)
		if berr != nil {
			break // the body cannot be had again: the last answer stands
		}
		if resp != nil {
			discard(resp)
		}
		if serr := sleep(ctx, wait); serr != nil {
			if err != nil {
				return nil, fmt.Errorf("retry: %w while waiting to retry after: %w", serr, err)
			}
			return nil, fmt.Errorf("retry: %w while waiting to retry after status %d", serr, resp.StatusCode)
		}
		if retries == 1 {
			count = counter(ctx)
		}
		if count != nil {
			atomic.StoreUint32(count, uint32(retries))
		}
		resp, err = t.next.RoundTrip(again)
	}
	return resp, err
}

// retryable reports whether the outcome of an attempt is one that retry_on names.
func (t *transport) retryable(ctx context.Context, resp *http.Response, err error) bool {
	if ctx.Err() != nil {
		return false // the client left or the route's deadline passed: no attempt can help
	}
	if err == nil {
		return t.retryStatus(resp.StatusCode)
	}
	switch {
	case isRefused(err):
		return t.onRefused
	case isTimeout(err):
		return t.onTimeout
	}
	return false
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
