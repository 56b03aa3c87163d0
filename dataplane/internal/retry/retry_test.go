package retry

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cfg is an enabled policy with short delays; edit sets other fields.
func cfg(edit func(*proxyv1.Retry)) *proxyv1.Retry {
	c := &proxyv1.Retry{
		Enabled:      true,
		MaxAttempts:  3,
		Backoff:      "exponential",
		InitialDelay: durationpb.New(time.Millisecond),
		MaxDelay:     durationpb.New(5 * time.Millisecond),
		RetryOn:      []string{"connection_refused", "timeout", "502", "503", "504"},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// newRetry wraps a fresh http.Transport (or base) in the middleware of c.
func newRetry(t *testing.T, c *proxyv1.Retry, base http.RoundTripper) http.RoundTripper {
	t.Helper()
	if base == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		base = tr
	}
	rt, err := New(c, base)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rt
}

// backend answers with the statuses in order (the last one repeated) and records each body.
type backend struct {
	*httptest.Server
	statuses []int
	mu       sync.Mutex
	bodies   [][]byte
}

func newBackend(t *testing.T, statuses ...int) *backend {
	t.Helper()
	b := &backend{statuses: statuses}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.bodies = append(b.bodies, body)
		n := len(b.bodies)
		b.mu.Unlock()
		status := b.statuses[min(n, len(b.statuses))-1]
		w.WriteHeader(status)
		fmt.Fprintf(w, "attempt %d", n)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.bodies)
}

// do sends a request through rt with a retry counter and returns the answer's status and
// body, and the counter.
func do(t *testing.T, rt http.RoundTripper, req *http.Request) (int, string, uint32) {
	t.Helper()
	var n uint32
	req = req.WithContext(WithCounter(req.Context(), &n))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, string(body), atomic.LoadUint32(&n)
}

func TestStatusRetries(t *testing.T) {
	testCases := []struct {
		desc        string
		method      string
		statuses    []int
		edit        func(*proxyv1.Retry)
		wantStatus  int
		wantCalls   int
		wantRetries uint32
	}{
		{desc: "502 then 200 is retried once", method: "GET", statuses: []int{502, 200}, wantStatus: 200, wantCalls: 2, wantRetries: 1},
		{desc: "success is not retried", method: "GET", statuses: []int{200}, wantStatus: 200, wantCalls: 1},
		{desc: "404 is not retried", method: "GET", statuses: []int{404, 200}, wantStatus: 404, wantCalls: 1},
		{desc: "max_attempts bounds the attempts", method: "GET", statuses: []int{503},
			edit: func(c *proxyv1.Retry) { c.MaxAttempts = 4 }, wantStatus: 503, wantCalls: 4, wantRetries: 3},
		{desc: "max_attempts 1 never retries", method: "GET", statuses: []int{503, 200},
			edit: func(c *proxyv1.Retry) { c.MaxAttempts = 1 }, wantStatus: 503, wantCalls: 1},
		{desc: "POST is not retried", method: "POST", statuses: []int{502, 200}, wantStatus: 502, wantCalls: 1},
		{desc: "PATCH is not retried", method: "PATCH", statuses: []int{502, 200}, wantStatus: 502, wantCalls: 1},
		{desc: "HEAD is retried", method: "HEAD", statuses: []int{504, 200}, wantStatus: 200, wantCalls: 2, wantRetries: 1},
		{desc: "DELETE is retried", method: "DELETE", statuses: []int{503, 204}, wantStatus: 204, wantCalls: 2, wantRetries: 1},
		{desc: "a status missing from retry_on is not retried", method: "GET", statuses: []int{502, 200},
			edit: func(c *proxyv1.Retry) { c.RetryOn = []string{"503"} }, wantStatus: 502, wantCalls: 1},
		{desc: "500 only when listed", method: "GET", statuses: []int{500, 200},
			edit: func(c *proxyv1.Retry) { c.RetryOn = []string{"500"} }, wantStatus: 200, wantCalls: 2, wantRetries: 1},
		{desc: "empty retry_on takes the default, without 504", method: "GET", statuses: []int{504, 200},
			edit: func(c *proxyv1.Retry) { c.RetryOn = nil }, wantStatus: 504, wantCalls: 1},
		{desc: "linear backoff", method: "GET", statuses: []int{503, 503, 200},
			edit: func(c *proxyv1.Retry) { c.Backoff = "linear" }, wantStatus: 200, wantCalls: 3, wantRetries: 2},
		{desc: "constant backoff", method: "GET", statuses: []int{503, 503, 200},
			edit: func(c *proxyv1.Retry) { c.Backoff = "constant" }, wantStatus: 200, wantCalls: 3, wantRetries: 2},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			b := newBackend(t, tc.statuses...)
			rt := newRetry(t, cfg(tc.edit), nil)
			req := httptest.NewRequest(tc.method, b.URL, nil)
			req.RequestURI = ""
			status, body, retries := do(t, rt, req)
			if status != tc.wantStatus || b.calls() != tc.wantCalls || retries != tc.wantRetries {
				t.Errorf("status %d, %d calls, %d retries; want %d, %d, %d", status, b.calls(), retries, tc.wantStatus, tc.wantCalls, tc.wantRetries)
			}
			// The answer returned is the last attempt's, body intact.
			if want := fmt.Sprintf("attempt %d", tc.wantCalls); tc.method != "HEAD" && status != 204 && body != want {
				t.Errorf("body %q, want %q", body, want)
			}
		})
	}
}

// refusingAddr returns a loopback address where nothing listens.
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestConnectionRefusedThenSuccess(t *testing.T) {
	addr := refusingAddr(t)
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	var errs []error
	// After the first attempt has been refused, the backend starts on that address.
	hook := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		errs = append(errs, err)
		if len(errs) == 1 {
			ln, lerr := net.Listen("tcp", addr)
			if lerr != nil {
				t.Errorf("listening again on %s: %v", addr, lerr)
				return resp, err
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "up")
			}))
			srv.Listener.Close()
			srv.Listener = ln
			srv.Start()
			t.Cleanup(srv.Close)
		}
		return resp, err
	})
	rt := newRetry(t, cfg(nil), hook)
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	status, body, retries := do(t, rt, req)
	if !errors.Is(errs[0], syscall.ECONNREFUSED) {
		t.Errorf("first attempt: %v, want connection refused", errs[0])
	}
	if status != 200 || body != "up" || retries != 1 {
		t.Errorf("got %d %q after %d retries, want 200 \"up\" after 1", status, body, retries)
	}
}

func TestErrorConditions(t *testing.T) {
	testCases := []struct {
		desc      string
		retryOn   []string
		wantCalls int
	}{
		{desc: "refused is retried when listed", retryOn: []string{"connection_refused"}, wantCalls: 3},
		{desc: "refused is not retried for timeout alone", retryOn: []string{"timeout", "502"}, wantCalls: 1},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			addr := refusingAddr(t)
			base := &http.Transport{}
			t.Cleanup(base.CloseIdleConnections)
			calls := 0
			counted := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				return base.RoundTrip(r)
			})
			rt := newRetry(t, cfg(func(c *proxyv1.Retry) { c.RetryOn = tc.retryOn }), counted)
			req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
			_, err := rt.RoundTrip(req)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("error %v, want connection refused", err)
			}
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
		})
	}
}

// hangingBackend makes its first `hang` requests wait until the test ends.
func hangingBackend(t *testing.T, hang int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	release := make(chan struct{})
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(n.Add(1)) <= hang {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		io.WriteString(w, "fast")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv, &n
}

func TestTimeoutOfAnAttemptIsRetried(t *testing.T) {
	srv, n := hangingBackend(t, 1)
	base := &http.Transport{ResponseHeaderTimeout: 100 * time.Millisecond}
	t.Cleanup(base.CloseIdleConnections)
	rt := newRetry(t, cfg(nil), base)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	status, body, retries := do(t, rt, req)
	if status != 200 || body != "fast" || retries != 1 || n.Load() != 2 {
		t.Errorf("got %d %q, %d retries, %d calls; want 200 \"fast\", 1, 2", status, body, retries, n.Load())
	}
}

func TestTimeoutNotRetriedWithoutCondition(t *testing.T) {
	srv, n := hangingBackend(t, 1)
	base := &http.Transport{ResponseHeaderTimeout: 100 * time.Millisecond}
	t.Cleanup(base.CloseIdleConnections)
	rt := newRetry(t, cfg(func(c *proxyv1.Retry) { c.RetryOn = []string{"connection_refused", "502"} }), base)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	_, err := rt.RoundTrip(req)
	if !isTimeout(err) || n.Load() != 1 {
		t.Errorf("error %v after %d calls, want a timeout after 1", err, n.Load())
	}
}

func TestRequestDeadlineIsNotRetried(t *testing.T) {
	srv, n := hangingBackend(t, 10)
	rt := newRetry(t, cfg(nil), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	_, err := rt.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the request's deadline", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d calls, want 1: the request's own deadline is not a reason to retry", n.Load())
	}
}

func TestWaitNeverPassesTheDeadline(t *testing.T) {
	b := newBackend(t, 503, 200)
	rt := newRetry(t, cfg(func(c *proxyv1.Retry) {
		c.Backoff = "constant"
		c.InitialDelay = durationpb.New(5 * time.Second)
		c.MaxDelay = durationpb.New(5 * time.Second)
	}), nil)
	rt.(*transport).randN = func(n int64) int64 { return n - 1 } // jitter picks the longest wait
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.URL, nil)
	start := time.Now()
	status, body, retries := do(t, rt, req)
	if elapsed := time.Since(start); elapsed > 250*time.Millisecond {
		t.Errorf("took %s: it waited although the wait could not end before the deadline", elapsed)
	}
	if status != 503 || body != "attempt 1" || retries != 0 || b.calls() != 1 {
		t.Errorf("got %d %q, %d retries, %d calls; want the first answer, 503, untouched", status, body, retries, b.calls())
	}
}

func TestWaitThatFitsTheDeadline(t *testing.T) {
	b := newBackend(t, 503, 200)
	rt := newRetry(t, cfg(func(c *proxyv1.Retry) {
		c.Backoff = "constant"
		c.InitialDelay = durationpb.New(20 * time.Millisecond)
		c.MaxDelay = durationpb.New(20 * time.Millisecond)
	}), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.URL, nil)
	if status, _, retries := do(t, rt, req); status != 200 || retries != 1 {
		t.Errorf("got %d after %d retries, want 200 after 1", status, retries)
	}
}

func TestCancelDuringWait(t *testing.T) {
	b := newBackend(t, 503, 200)
	rt := newRetry(t, cfg(func(c *proxyv1.Retry) {
		c.Backoff = "constant"
		c.InitialDelay = durationpb.New(10 * time.Second)
		c.MaxDelay = durationpb.New(10 * time.Second)
	}), nil)
	rt.(*transport).randN = func(n int64) int64 { return n - 1 }
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.URL, nil)
	start := time.Now()
	resp, err := rt.RoundTrip(req)
	if resp != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, %v; want no answer and context.Canceled", resp, err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("took %s after the client left", elapsed)
	}
	if b.calls() != 1 {
		t.Errorf("%d calls, want 1", b.calls())
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestBodyIsReplayed(t *testing.T) {
	payload := randomBytes(t, 10_000)
	atCap := randomBytes(t, MaxBufferedBody)
	testCases := []struct {
		desc string
		req  func(url string) *http.Request
	}{
		{desc: "known length, no GetBody", req: func(url string) *http.Request {
			r, _ := http.NewRequest("PUT", url, bytes.NewReader(payload))
			r.GetBody = nil
			return r
		}},
		{desc: "chunked, no GetBody", req: func(url string) *http.Request {
			r, _ := http.NewRequest("PUT", url, io.NopCloser(bytes.NewReader(payload)))
			r.ContentLength = -1
			return r
		}},
		{desc: "GetBody", req: func(url string) *http.Request {
			r, _ := http.NewRequest("PUT", url, bytes.NewReader(payload))
			if r.GetBody == nil {
				t.Fatal("NewRequest set no GetBody")
			}
			return r
		}},
		{desc: "chunked, exactly at the cap", req: func(url string) *http.Request {
			r, _ := http.NewRequest("PUT", url, io.NopCloser(bytes.NewReader(atCap)))
			r.ContentLength = -1
			return r
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			b := newBackend(t, 503, 502, 200)
			rt := newRetry(t, cfg(nil), nil)
			req := tc.req(b.URL)
			want, _ := io.ReadAll(tc.req(b.URL).Body)
			status, _, retries := do(t, rt, req)
			if status != 200 || retries != 2 {
				t.Fatalf("got %d after %d retries, want 200 after 2", status, retries)
			}
			for i, got := range b.bodies {
				if !bytes.Equal(got, want) {
					t.Errorf("attempt %d: backend got %d bytes, not the %d sent", i+1, len(got), len(want))
				}
			}
		})
	}
}

func TestBodyOverTheCapIsNotRetried(t *testing.T) {
	payload := randomBytes(t, MaxBufferedBody+1000)
	testCases := []struct {
		desc   string
		length int64
	}{
		{desc: "Content-Length over the cap", length: int64(len(payload))},
		{desc: "chunked body crossing the cap", length: -1},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			b := newBackend(t, 503, 200)
			rt := newRetry(t, cfg(nil), nil)
			req, _ := http.NewRequest("PUT", b.URL, io.NopCloser(bytes.NewReader(payload)))
			req.ContentLength = tc.length
			status, _, retries := do(t, rt, req)
			if status != 503 || retries != 0 || b.calls() != 1 {
				t.Errorf("got %d, %d retries, %d calls; want 503, 0, 1", status, retries, b.calls())
			}
			if !bytes.Equal(b.bodies[0], payload) {
				t.Errorf("backend got %d bytes, not the %d sent", len(b.bodies[0]), len(payload))
			}
		})
	}
}

// closeCounter counts Close calls of a request body.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestBodyIsClosed(t *testing.T) {
	for _, size := range []int{100, MaxBufferedBody + 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b := newBackend(t, 503, 200)
			rt := newRetry(t, cfg(nil), nil)
			body := &closeCounter{Reader: strings.NewReader(strings.Repeat("a", size))}
			req, _ := http.NewRequest("PUT", b.URL, body)
			req.ContentLength = -1
			do(t, rt, req)
			if body.closed.Load() == 0 {
				t.Error("the request body was never closed")
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestBodyReadError(t *testing.T) {
	calls := 0
	next := roundTripFunc(func(*http.Request) (*http.Response, error) { calls++; return nil, errors.New("unreachable") })
	rt := newRetry(t, cfg(nil), next)
	req, _ := http.NewRequest("PUT", "http://backend.invalid/", io.NopCloser(failingReader{}))
	req.ContentLength = -1
	if _, err := rt.RoundTrip(req); !errors.Is(err, io.ErrUnexpectedEOF) || calls != 0 {
		t.Errorf("got %v after %d calls, want the body's error and no attempt", err, calls)
	}
}

func TestNoCounterNoPanic(t *testing.T) {
	b := newBackend(t, 502, 200)
	rt := newRetry(t, cfg(nil), nil)
	req, _ := http.NewRequest("GET", b.URL, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestNew(t *testing.T) {
	next := http.DefaultTransport
	testCases := []struct {
		desc    string
		cfg     *proxyv1.Retry
		wantErr string // "" for a valid policy
		same    bool   // next comes back unchanged
	}{
		{desc: "nil", cfg: nil, same: true},
		{desc: "disabled", cfg: &proxyv1.Retry{MaxAttempts: 99}, same: true},
		{desc: "defaults", cfg: &proxyv1.Retry{Enabled: true}},
		{desc: "seed example", cfg: cfg(func(c *proxyv1.Retry) {
			c.InitialDelay, c.MaxDelay = durationpb.New(100*time.Millisecond), durationpb.New(2*time.Second)
		})},
		{desc: "zero delays", cfg: cfg(func(c *proxyv1.Retry) { c.InitialDelay, c.MaxDelay = durationpb.New(0), durationpb.New(0) })},
		{desc: "max_attempts 11", cfg: cfg(func(c *proxyv1.Retry) { c.MaxAttempts = 11 }), wantErr: "max_attempts 11"},
		{desc: "max_attempts -1", cfg: cfg(func(c *proxyv1.Retry) { c.MaxAttempts = -1 }), wantErr: "max_attempts -1"},
		{desc: "max_attempts 10", cfg: cfg(func(c *proxyv1.Retry) { c.MaxAttempts = 10 })},
		{desc: "unknown backoff", cfg: cfg(func(c *proxyv1.Retry) { c.Backoff = "expo" }), wantErr: `backoff "expo"`},
		{desc: "negative delay", cfg: cfg(func(c *proxyv1.Retry) { c.InitialDelay = durationpb.New(-time.Second) }), wantErr: "initial_delay (-1s) is negative"},
		{desc: "invalid duration", cfg: cfg(func(c *proxyv1.Retry) { c.MaxDelay = &durationpb.Duration{Seconds: 1, Nanos: -1} }), wantErr: "max_delay"},
		{desc: "initial over max", cfg: cfg(func(c *proxyv1.Retry) { c.InitialDelay = durationpb.New(time.Second) }), wantErr: "longer than max_delay"},
		{desc: "default initial over max", cfg: cfg(func(c *proxyv1.Retry) { c.InitialDelay, c.MaxDelay = nil, durationpb.New(time.Millisecond) }), wantErr: "longer than max_delay"},
		{desc: "unknown condition", cfg: cfg(func(c *proxyv1.Retry) { c.RetryOn = []string{"refused"} }), wantErr: `retry_on "refused"`},
		{desc: "4xx status", cfg: cfg(func(c *proxyv1.Retry) { c.RetryOn = []string{"404"} }), wantErr: `retry_on "404"`},
		{desc: "599", cfg: cfg(func(c *proxyv1.Retry) { c.RetryOn = []string{"599"} })},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			rt, err := New(tc.cfg, next)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("error %v", err)
			case tc.same != (rt == next):
				t.Fatalf("returned next unchanged: %v, want %v", rt == next, tc.same)
			}
		})
	}
	if _, err := New(&proxyv1.Retry{Enabled: true}, nil); err == nil {
		t.Error("New accepted a nil transport")
	}
}

func TestBackoffSteps(t *testing.T) {
	ms := time.Millisecond
	testCases := []struct {
		backoff string
		want    []time.Duration // steps of retries 1, 2, ...
	}{
		{"exponential", []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2000 * ms, 2000 * ms}},
		{"linear", []time.Duration{100 * ms, 200 * ms, 300 * ms, 400 * ms}},
		{"constant", []time.Duration{100 * ms, 100 * ms, 100 * ms}},
	}
	for _, tc := range testCases {
		t.Run(tc.backoff, func(t *testing.T) {
			rt, err := New(cfg(func(c *proxyv1.Retry) {
				c.Backoff = tc.backoff
				c.InitialDelay, c.MaxDelay = durationpb.New(100*ms), durationpb.New(2*time.Second)
			}), http.DefaultTransport)
			if err != nil {
				t.Fatal(err)
			}
			tr := rt.(*transport)
			for i, want := range tc.want {
				if got := tr.step(i + 1); got != want {
					t.Errorf("step %d = %s, want %s", i+1, got, want)
				}
			}
			if got := tr.step(1000); got > 2*time.Second {
				t.Errorf("step 1000 = %s, over max_delay", got)
			}
			for n := 1; n < 8; n++ {
				for range 50 {
					if d := tr.delay(n); d < 0 || d > tr.step(n) {
						t.Fatalf("delay %d = %s, outside [0, %s]", n, d, tr.step(n))
					}
				}
			}
		})
	}
}

// fixedResponse answers every request with the same small 200, allocating nothing.
type fixedResponse struct{ resp *http.Response }

func (f fixedResponse) RoundTrip(*http.Request) (*http.Response, error) { return f.resp, nil }

func TestNoAllocationsWithoutRetry(t *testing.T) {
	rt := newRetry(t, cfg(nil), fixedResponse{&http.Response{StatusCode: 200, Body: http.NoBody}})
	req, _ := http.NewRequest("GET", "http://backend/", nil)
	if n := testing.AllocsPerRun(1000, func() { rt.RoundTrip(req) }); n != 0 {
		t.Errorf("%.1f allocations per request without a retry, want 0", n)
	}
}

func BenchmarkNoRetry(b *testing.B) {
	rt, _ := New(cfg(nil), fixedResponse{&http.Response{StatusCode: 200, Body: http.NoBody}})
	req, _ := http.NewRequest("GET", "http://backend/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt.RoundTrip(req)
		}
	})
}
