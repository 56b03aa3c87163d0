package slowreq_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/slowreq"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// serverWriter is a response writer whose server ends the request's context itself, as h1's
// does: a slowreq.Canceler.
type serverWriter struct {
	*httptest.ResponseRecorder
	cancel context.CancelCauseFunc // the request's context
	refuse bool                    // the request is over: CancelAfter declines

	mu    sync.Mutex
	timer *time.Timer
	arms  int
}

func (w *serverWriter) CancelAfter(d time.Duration, cause error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refuse {
		return false
	}
	w.arms++
	w.timer = time.AfterFunc(d, func() { w.cancel(cause) })
	return true
}

func (w *serverWriter) StopCancel() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.timer != nil && w.timer.Stop()
}

var _ slowreq.Canceler = (*serverWriter)(nil)

func TestStartFor(t *testing.T) {
	hour := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Timeout: d(time.Hour)})
	milli := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Timeout: d(time.Millisecond)})
	noTimeout := mustNew(t, &proxyv1.SlowRequest{Enabled: true, Warning: d(time.Second)})
	tests := []struct {
		name       string
		p          *slowreq.Policy
		canceler   bool // the writer is a Canceler
		refuse     bool
		wait       bool // for the context to end
		responded  bool // call Responded before anything else
		wantOwn    bool // a context of slowreq's own, not the request's
		wantArms   int
		wantTimed  bool
		wantRespOK bool // what Responded returns after the wait
	}{
		{name: "server times it, fires", p: milli, canceler: true, wait: true, wantArms: 1, wantTimed: true},
		{name: "server times it, responded first", p: hour, canceler: true, responded: true, wantArms: 1},
		{name: "server declines: own context", p: milli, canceler: true, refuse: true, wait: true, wantOwn: true, wantTimed: true},
		{name: "HTTP/2 or HTTP/3 writer: own context", p: milli, wait: true, wantOwn: true, wantTimed: true},
		{name: "HTTP/2 or HTTP/3 writer, responded first", p: hour, responded: true, wantOwn: true, wantRespOK: true},
		{name: "no timeout", p: noTimeout, canceler: true, wantRespOK: true},
		{name: "no policy", p: nil, canceler: true, wantRespOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			sw := &serverWriter{ResponseRecorder: httptest.NewRecorder(), cancel: cancel, refuse: tc.refuse}
			var w http.ResponseWriter = sw.ResponseRecorder
			if tc.canceler {
				w = sw
			}
			ctx, dl := tc.p.StartFor(w, parent)
			if own := ctx != parent; own != tc.wantOwn {
				t.Errorf("own context %v, want %v", own, tc.wantOwn)
			}
			if sw.arms != tc.wantArms {
				t.Errorf("%d arms, want %d", sw.arms, tc.wantArms)
			}
			if tc.responded {
				if !dl.Responded() {
					t.Error("Responded false before the timeout")
				}
			}
			if tc.wait {
				select {
				case <-ctx.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("the timeout did not fire")
				}
			}
			if got := slowreq.TimedOut(ctx); got != tc.wantTimed {
				t.Errorf("TimedOut %v, want %v", got, tc.wantTimed)
			}
			if tc.wantTimed && !errors.Is(context.Cause(ctx), slowreq.ErrTimeout) {
				t.Errorf("cause %v", context.Cause(ctx))
			}
			if !tc.responded {
				if got := dl.Responded(); got != tc.wantRespOK {
					t.Errorf("Responded %v, want %v", got, tc.wantRespOK)
				}
			}
			dl.Release()
			// Release ends an own context; the request's own one ends with the request.
			if tc.wantOwn && ctx.Err() == nil {
				t.Error("own context alive after Release")
			}
			if !tc.wantTimed && parent.Err() != nil {
				t.Errorf("the request's context ended: %v", context.Cause(parent))
			}
		})
	}
}

// TestStartForAllocations: with a Canceler the timeout costs the request nothing.
func TestStartForAllocations(t *testing.T) {
	p := mustNew(t, seed)
	parent, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sw := &serverWriter{ResponseRecorder: httptest.NewRecorder(), cancel: cancel, timer: time.NewTimer(time.Hour)}
	sw.timer.Stop()
	var w http.ResponseWriter = &reusingWriter{sw}
	if n := testing.AllocsPerRun(100, func() {
		_, dl := p.StartFor(w, parent)
		dl.Responded()
		dl.Release()
	}); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

// reusingWriter is a Canceler that reuses its timer, as h1's does.
type reusingWriter struct{ *serverWriter }

func (w *reusingWriter) CancelAfter(d time.Duration, cause error) bool {
	w.timer.Reset(d)
	return true
}

func (w *reusingWriter) StopCancel() bool { return w.timer.Stop() }
