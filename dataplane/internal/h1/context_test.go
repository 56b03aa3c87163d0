package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

var errTestCause = errors.New("test cause")

type ctxKey struct{}

// canceler is the writer's CancelAfter, as slowreq.Canceler sees it.
type canceler interface {
	CancelAfter(d time.Duration, cause error) bool
	StopCancel() bool
}

// state tells what became of the request's context.
func state(ctx context.Context) string {
	if ctx.Err() == nil {
		return "running"
	}
	return fmt.Sprintf("%v/%v", ctx.Err(), context.Cause(ctx))
}

// TestCancelAfter: the writer's CancelAfter ends the request's context with its cause, StopCancel
// disarms it, and an arm never acts on another request of the connection, even when the
// timer's function runs late (time.Timer.Stop cannot recall a run already started: cancelDue is
// called directly here to be that run). SetRequestContext gives the server's request a context
// derived from its own, which the request's end still reaches.
func TestCancelAfter(t *testing.T) {
	kept := make(chan *writer, 1) // the writer of /leave, for the next request
	_, addr := serve(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := rw.(*writer)
		var c canceler = w // the interface is what the edge uses
		ctx := r.Context()
		var out []string
		say := func(f string, args ...any) { out = append(out, fmt.Sprintf(f, args...)) }
		switch r.URL.Path {
		case "/fire": // armed, fires: the cause, and nothing left to stop
			io.Copy(io.Discard, r.Body)
			say("armed=%v", c.CancelAfter(time.Millisecond, errTestCause))
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			say("%s", state(ctx))
			say("stop=%v", c.StopCancel())
		case "/rearm": // the second arm replaces the first
			c.CancelAfter(time.Hour, errors.New("first"))
			c.CancelAfter(time.Millisecond, errTestCause)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			say("%s", state(ctx))
		case "/stop": // stopped before firing: a late run of the timer finds nothing
			c.CancelAfter(time.Hour, errTestCause)
			say("stop=%v", c.StopCancel())
			w.c.cancelDue()
			say("%s", state(ctx))
			say("stop=%v", c.StopCancel())
		case "/early": // a run of the timer before the arm is due leaves it armed
			c.CancelAfter(time.Hour, errTestCause)
			w.c.cancelDue()
			say("%s", state(ctx))
			say("stop=%v", c.StopCancel())
		case "/set": // a value in place: the same request, its cancel still reaching it
			vctx := context.WithValue(ctx, ctxKey{}, "v")
			say("set=%v", w.SetRequestContext(r, vctx))
			say("value=%v same=%v", r.Context().Value(ctxKey{}), r.Context() == vctx)
			say("copy=%v", w.SetRequestContext(r.WithContext(vctx), vctx)) // not the server's request
			c.CancelAfter(time.Millisecond, errTestCause)
			<-r.Context().Done()
			say("%s", state(r.Context()))
		case "/set-body": // the body, and the trailers it records in r, after a context set in place
			say("set=%v", w.SetRequestContext(r, context.WithValue(ctx, ctxKey{}, "v")))
			b, err := io.ReadAll(r.Body)
			say("body=%s err=%v trailer=%s value=%v", b, err, r.Trailer.Get("X-Sum"), r.Context().Value(ctxKey{}))
		case "/after-set": // the next request has its own context
			say("value=%v %s", r.Context().Value(ctxKey{}), state(r.Context()))
		case "/leave": // armed, and the handler returns without stopping it
			c.CancelAfter(time.Hour, errTestCause)
			kept <- w
			say("left")
		case "/next": // the request after /leave
			old := <-kept
			w.c.cancelDue() // /leave's timer, running late
			say("%s", state(ctx))
			say("stale arm=%v", old.CancelAfter(time.Nanosecond, errTestCause))
			w.c.cancelDue()
			say("%s", state(ctx))
			c.CancelAfter(time.Hour, errors.New("own"))
			w.c.cancelDue() // /leave's timer once more, now that this request is armed
			say("%s", state(ctx))
			say("stale stop=%v", old.StopCancel())
			say("stop=%v", c.StopCancel())
		}
		io.WriteString(w, strings.Join(out, " "))
	}))
	fired := fmt.Sprintf("%v/%v", context.Canceled, errTestCause)
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n" }
	tests := []struct {
		name string
		raw  string
		want []string
	}{
		{"fires", get("/fire"), []string{"armed=true " + fired + " stop=false"}},
		{"fires with a request body", "POST /fire HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", []string{"armed=true " + fired + " stop=false"}},
		{"rearmed", get("/rearm"), []string{fired}},
		{"stopped before firing", get("/stop"), []string{"stop=true running stop=false"}},
		{"timer run before due", get("/early"), []string{"running stop=true"}},
		{"never on the next request", get("/leave") + get("/next"),
			[]string{"left", "running stale arm=false running running stale stop=false stop=true"}},
		{"a context set in place", get("/set") + get("/after-set"),
			[]string{"set=true value=v same=true copy=false " + fired, "value=<nil> running"}},
		{"a context set in place, then the body read", "POST /set-body HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n",
			[]string{"set=true body=abc err=<nil> trailer=9 value=v"}},
		{"the connection goes on after a firing", get("/fire") + get("/stop"),
			[]string{"armed=true " + fired + " stop=false", "stop=true running stop=false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resps, bodies, _ := exchange(t, addr, tc.raw+"GET /end HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			if len(resps) != len(tc.want)+1 {
				t.Fatalf("%d responses %q, want %d", len(resps), bodies, len(tc.want)+1)
			}
			for i, want := range tc.want {
				if bodies[i] != want {
					t.Errorf("response %d: %q, want %q", i, bodies[i], want)
				}
			}
		})
	}
}

// TestCancelAfterStaleWriter: an arm the handler left is gone once it returned, and a writer kept
// past its request cannot arm or stop anything between requests.
func TestCancelAfterStaleWriter(t *testing.T) {
	kept := make(chan *writer, 1)
	_, addr := serve(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := rw.(*writer)
		w.CancelAfter(time.Hour, errTestCause)
		kept <- w
	}))
	if resps, _, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); len(resps) != 1 {
		t.Fatalf("%d responses", len(resps))
	}
	w := <-kept
	if w.CancelAfter(time.Nanosecond, errTestCause) || w.StopCancel() {
		t.Error("a stale writer armed or stopped a cancel")
	}
	r := &http.Request{}
	if w.SetRequestContext(r, context.Background()) || r.Context() != context.Background() {
		t.Error("a stale writer set a request's context")
	}
	w.c.cancelDue() // the timer, running late
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.rc.armed || w.c.rc.cancel != nil || w.c.rc.cause != nil {
		t.Errorf("between requests: %+v", w.c.rc)
	}
}
