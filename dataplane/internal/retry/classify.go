package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// isRefused reports whether err means that the backend could not be reached at all, so that
// nothing of the request was sent: ECONNREFUSED, or another error of the dial that is not a
// timeout.
func isRefused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	op, ok := errors.AsType[*net.OpError](err)
	return ok && op.Op == "dial" && !op.Timeout()
}

// isTimeout reports whether err is an attempt that timed out.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// delay returns the wait before retry n (1 for the first retry): a random duration between 0
// and the backoff's step for n, capped by max_delay (full jitter).
func (t *transport) delay(n int) time.Duration {
	d := t.step(n)
	if d <= 0 {
		return 0
	}
	randN := t.randN
	if randN == nil {
		randN = rand.Int64N
	}
	return time.Duration(randN(int64(d) + 1))
}

// step is the backoff's upper bound for retry n, at most max_delay.
func (t *transport) step(n int) time.Duration {
	d := t.initial
	switch t.backoff {
	case linear:
		if d > 0 && time.Duration(n) > t.max/d {
			return t.max
		}
		d *= time.Duration(n)
	case exponential:
		if d > 0 && (n-1 >= 62 || d > t.max>>(n-1)) {
			return t.max
		}
		d <<= n - 1
	}
	return min(d, t.max)
}
