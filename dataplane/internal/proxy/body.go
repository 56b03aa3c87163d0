package proxy

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// clockBase makes monotonic timestamps that fit an atomic int64.
var clockBase = time.Now()

func monotonic() int64 { return int64(time.Since(clockBase)) }

// responseBody is a backend's response body as ReverseProxy copies it to the client. It cuts
// the body after limit bytes, and aborts a read that waits longer than the read timeout. Time
// the proxy spends writing to a slow client does not count: only time blocked in Read does.
//
// The read timeout costs one timer per response, armed at the first Read, and two atomic
// stores per Read; the timer checks when it fires whether a Read has been blocked for the
// whole timeout and re-arms itself otherwise.
type responseBody struct {
	rc      io.ReadCloser
	limit   int64 // 0: none
	n       int64
	timeout time.Duration // <= 0: none
	timer   *time.Timer
	// readingSince is when the Read in progress started (monotonic), 0 when none is.
	readingSince atomic.Int64
	fired        atomic.Bool
	done         atomic.Bool // set by stop: the timer must not re-arm or close anything
	err          *Error      // the reason the body was cut, read by forward after the copy
}

func (b *responseBody) init(rc io.ReadCloser, limit int64, timeout time.Duration) {
	b.rc, b.limit, b.timeout = rc, limit, timeout
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.timeout > 0 {
		b.readingSince.Store(monotonic())
		if b.timer == nil {
			// Assigned before the timer can fire (Reset publishes it), since check uses it.
			b.timer = time.AfterFunc(time.Duration(1<<62), b.check)
			b.timer.Reset(b.timeout)
		}
	}
	n, err := b.rc.Read(p)
	if b.timeout > 0 {
		b.readingSince.Store(0)
		if b.fired.Load() {
			b.err = &Error{Status: http.StatusGatewayTimeout, Kind: KindRead, Cut: true, Err: errReadTimeout}
			return 0, b.err
		}
	}
	if b.limit > 0 && n > 0 {
		if b.n+int64(n) > b.limit {
			n = int(b.limit - b.n)
			b.n = b.limit
			b.err = &Error{Status: http.StatusBadGateway, Kind: KindResponseTooLarge, Cut: true, Err: errResponseTooLarge}
			return n, b.err
		}
		b.n += int64(n)
	}
	return n, err
}

// check runs on the timer: it closes the body if a Read has been blocked for the timeout.
// Closing the transport's body from here makes the blocked Read return.
func (b *responseBody) check() {
	if b.done.Load() {
		return
	}
	since := b.readingSince.Load()
	if since == 0 {
		b.timer.Reset(b.timeout)
		return
	}
	if waited := time.Duration(monotonic() - since); waited < b.timeout {
		b.timer.Reset(b.timeout - waited)
		return
	}
	b.fired.Store(true)
	b.rc.Close()
}

func (b *responseBody) Close() error {
	b.stop()
	return b.rc.Close()
}

// stop ends the read timeout. It may run more than once.
func (b *responseBody) stop() {
	b.done.Store(true)
	if b.timer != nil {
		b.timer.Stop()
	}
}
