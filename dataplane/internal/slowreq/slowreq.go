// Package slowreq is a route's slow-request policy (the seeds' task #29): thresholds that flag
// a request as "warning" or "critical" on its event and in the log, and a timeout that aborts a
// request the backend has not answered in time (504).
//
// Durations are measured from the start of the request to the backend's response headers, as
// the seed measures (the time client.Do takes): a long download or an event stream that began
// answering promptly is not slow, and the timeout never cuts a response that is already
// flowing. The edge tells the Deadline when the response started (Deadline.Responded).
//
// Cost: a route without a timeout costs nothing. With one, a request served by the data
// plane's HTTP/1.1 server costs nothing either: the server ends the request's own context
// (Canceler, StartFor). Other requests (HTTP/2, HTTP/3) get one cancelable context and one
// timer (as context.WithTimeout would), and no goroutine.
package slowreq

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// TimeoutName is the RequestEvent.timeout of a request aborted by the slow-request timeout.
const TimeoutName = "slow_request"

// ErrTimeout is the cause (context.Cause) of a request context ended by the timeout. It has
// StatusCode() 504, for a classifier that looks at context.Cause with a StatusCoder interface.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "slow_request timeout: the backend did not answer in time" }
func (timeoutError) StatusCode() int { return http.StatusGatewayTimeout }
func (timeoutError) Timeout() bool   { return true }

// Level is how slow a request was.
type Level uint8

const (
	LevelNone     Level = iota // under the warning threshold, or no policy
	LevelWarning               // over warning: flag the event, log at warn
	LevelCritical              // over critical: flag the event, log at error, alert if AlertWebhook
)

// String is the RequestEvent.slow value: "", "warning" or "critical".
func (l Level) String() string {
	switch l {
	case LevelWarning:
		return "warning"
	case LevelCritical:
		return "critical"
	}
	return ""
}

// Policy is one route's slow-request policy. A nil *Policy (no policy, or enabled: false)
// classifies nothing as slow and sets no timeout. It is immutable and safe for concurrent use.
type Policy struct {
	warning, critical, timeout time.Duration // 0: not set
	alert                      bool
}

// New checks cfg and returns the route's Policy; nil when cfg is nil or not enabled. Each of
// warning, critical and timeout may be left out; those set must be positive and increasing
// (warning < critical < timeout), since a threshold at or above a later one could never be
// reported.
func New(cfg *proxyv1.SlowRequest) (*Policy, error) {
	if !cfg.GetEnabled() {
		return nil, nil
	}
	p := &Policy{alert: cfg.GetAlertWebhook()}
	var err error
	if p.warning, err = duration("warning", cfg.GetWarning()); err != nil {
		return nil, err
	}
	if p.critical, err = duration("critical", cfg.GetCritical()); err != nil {
		return nil, err
	}
	if p.timeout, err = duration("timeout", cfg.GetTimeout()); err != nil {
		return nil, err
	}
	steps := []struct {
		name string
		d    time.Duration
	}{{"warning", p.warning}, {"critical", p.critical}, {"timeout", p.timeout}}
	var prev string
	var prevD time.Duration
	for _, s := range steps {
		if s.d == 0 {
			continue
		}
		if prev != "" && s.d <= prevD {
			return nil, fmt.Errorf("slow_request: %s (%v) must be longer than %s (%v)", s.name, s.d, prev, prevD)
		}
		prev, prevD = s.name, s.d
	}
	return p, nil
}

func duration(name string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("slow_request: %s: %w", name, err)
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, fmt.Errorf("slow_request: %s must not be negative, got %v", name, v)
	}
	return v, nil
}

// Timeout is the route's timeout; 0 means none.
func (p *Policy) Timeout() time.Duration {
	if p == nil {
		return 0
	}
	return p.timeout
}

// AlertWebhook says whether critical requests should be sent to the alert webhook.
func (p *Policy) AlertWebhook() bool { return p != nil && p.alert }

// Classify says how slow a request was whose response started after d (see the package
// comment for what to measure). Thresholds are inclusive: a request of exactly the warning
// threshold is a warning.
func (p *Policy) Classify(d time.Duration) Level {
	switch {
	case p == nil:
		return LevelNone
	case p.critical > 0 && d >= p.critical:
		return LevelCritical
	case p.warning > 0 && d >= p.warning:
		return LevelWarning
	}
	return LevelNone
}

// Deadline is the timeout of one request, from Start or StartFor. Its zero value (no timeout)
// does nothing.
type Deadline struct {
	// stop disarms the timeout: Start's timer, or StartFor's Canceler. Three words in all:
	// the edge keeps a Deadline in its exchange, which one word more would move to a larger
	// size class.
	stop   stopper
	cancel context.CancelCauseFunc // Start's context; nil for a Canceler
}

// stopper is what a Deadline disarms.
type stopper interface{ StopCancel() bool }

// ownTimer is Start's timer as a stopper: a pointer conversion, which does not allocate.
type ownTimer time.Timer

func (t *ownTimer) StopCancel() bool { return (*time.Timer)(t).Stop() }

// Canceler is a response writer whose server can end its request's context after a delay by
// itself, without a context and timer for the request: the data plane's HTTP/1.1 server's
// writers are. (net/http's and quic-go's, serving HTTP/2 and HTTP/3, are not: their requests get
// a context of their own.)
type Canceler interface {
	// CancelAfter arms the end of the request's context after d, with cause as its
	// context.Cause, for as long as the request is in progress; false when it is over.
	CancelAfter(d time.Duration, cause error) bool
	// StopCancel disarms it; true when it was armed and had not fired.
	StopCancel() bool
}

// Start arms the route's timeout for one request: the returned context ends with cause
// ErrTimeout when the backend's response has not started within Timeout. Without a timeout it
// returns parent itself and a zero Deadline, without allocating. The caller must call
// Deadline.Release when the request is done.
func (p *Policy) Start(parent context.Context) (context.Context, Deadline) {
	if p == nil || p.timeout <= 0 {
		return parent, Deadline{}
	}
	ctx, cancel := context.WithCancelCause(parent)
	t := time.AfterFunc(p.timeout, func() { cancel(ErrTimeout) })
	return ctx, Deadline{stop: (*ownTimer)(t), cancel: cancel}
}

// StartFor is Start for the request w answers, parent being that request's context or one
// derived from it. When w is a Canceler, the timeout ends the request's own context (with
// cause ErrTimeout, as Start's would) and StartFor returns parent itself, without allocating;
// else it is Start.
func (p *Policy) StartFor(w http.ResponseWriter, parent context.Context) (context.Context, Deadline) {
	if p == nil || p.timeout <= 0 {
		return parent, Deadline{}
	}
	if c, ok := w.(Canceler); ok && c.CancelAfter(p.timeout, ErrTimeout) {
		return parent, Deadline{stop: c}
	}
	return p.Start(parent)
}

// Responded disarms the timeout once the backend's response headers arrived (or the
// connection was handed to a WebSocket tunnel): from then on the request runs as long as its
// response takes. It returns false when the timeout had already fired.
func (d Deadline) Responded() bool {
	if d.stop == nil {
		return true
	}
	return d.stop.StopCancel()
}

// Release stops the timer and releases the context's resources; Start's context ends (cause
// context.Canceled unless the timeout fired first). Call it once the request is finished.
// StartFor's context, when it is the request's own, ends with the request instead.
func (d Deadline) Release() {
	if d.stop == nil {
		return
	}
	d.stop.StopCancel()
	if d.cancel != nil {
		d.cancel(context.Canceled)
	}
}

// TimedOut reports whether ctx (a context from Start, or one derived from it) ended because
// of the slow-request timeout. The edge asks this before it maps a backend error to a status:
// the proxy sees a canceled context and would otherwise take the request for one the client
// abandoned (499).
func TimedOut(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrTimeout)
}
