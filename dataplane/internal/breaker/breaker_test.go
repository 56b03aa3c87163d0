package breaker

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
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

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// events records the breaker's events.
type events struct {
	mu  sync.Mutex
	all []*proxyv1.CircuitEvent
}

func (e *events) add(ev *proxyv1.CircuitEvent) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) list() []*proxyv1.CircuitEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*proxyv1.CircuitEvent(nil), e.all...)
}

// seedConfig is the seed's example: 5 failures in 60s open it for 30s, 2 successes close it.
func seedConfig() *proxyv1.CircuitBreaker {
	return &proxyv1.CircuitBreaker{
		Enabled:          true,
		FailureThreshold: 5,
		SuccessThreshold: 2,
		Timeout:          durationpb.New(30 * time.Second),
		Window:           durationpb.New(60 * time.Second),
	}
}

func newBreaker(t *testing.T, cfg *proxyv1.CircuitBreaker, c *clock, ev *events, next http.RoundTripper) *Breaker {
	t.Helper()
	var onChange func(*proxyv1.CircuitEvent)
	if ev != nil {
		onChange = ev.add
	}
	rt, err := New(cfg, "http://app:8080", onChange, next, WithClock(c.Now))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return rt.(*Breaker)
}

func answer(status int) *http.Response {
	return &http.Response{StatusCode: status, Body: http.NoBody}
}

// refused is the outcome of a step whose backend refuses the connection.
const refused = -1

type step struct {
	advance time.Duration
	send    int   // 0: no request; refused: a transport error; else the backend's status
	reject  bool  // the breaker refuses the request without calling the backend
	want    State // the state after the step
}

func TestTransitions(t *testing.T) {
	fail := func(want State) step { return step{send: 502, want: want} }
	ok := func(want State) step { return step{send: 200, want: want} }
	reject := func(want State) step { return step{send: 200, reject: true, want: want} }
	wait := func(d time.Duration, want State) step { return step{advance: d, want: want} }
	sec := time.Second

	testCases := []struct {
		desc  string
		steps []step
	}{
		{desc: "failure_threshold failures open it", steps: []step{
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open), reject(Open),
		}},
		{desc: "successes in between do not reset the count", steps: []step{
			fail(Closed), ok(Closed), fail(Closed), ok(Closed), fail(Closed), ok(Closed), fail(Closed), fail(Open),
		}},
		{desc: "transport errors, 503 and 504 count", steps: []step{
			{send: refused, want: Closed}, {send: 503, want: Closed}, {send: 504, want: Closed}, fail(Closed), {send: refused, want: Open},
		}},
		{desc: "500 and 4xx do not count", steps: []step{
			{send: 500, want: Closed}, {send: 500, want: Closed}, {send: 500, want: Closed}, {send: 500, want: Closed},
			{send: 500, want: Closed}, {send: 404, want: Closed}, {send: 429, want: Closed}, {send: 501, want: Closed},
		}},
		{desc: "failures older than the window expire", steps: []step{
			fail(Closed), fail(Closed), fail(Closed), fail(Closed),
			wait(61*sec, Closed),
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open),
		}},
		{desc: "the window slides: 5 failures 15s apart span exactly the window", steps: []step{
			fail(Closed), wait(15*sec, Closed), fail(Closed), wait(15*sec, Closed), fail(Closed),
			wait(15*sec, Closed), fail(Closed), wait(15*sec, Closed), fail(Closed), // 60s after the first
			wait(14*sec, Closed), fail(Open), // the last 5 lie within 59s
		}},
		{desc: "open until timeout, then probes close it", steps: []step{
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open),
			wait(29*sec, Open), reject(Open),
			wait(1*sec, Open), ok(HalfOpen), ok(Closed), ok(Closed),
		}},
		{desc: "a failed probe opens it again for another timeout", steps: []step{
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open),
			wait(30*sec, Open), ok(HalfOpen), fail(Open), reject(Open),
			wait(29*sec, Open), reject(Open), wait(1*sec, Open), ok(HalfOpen), ok(Closed),
		}},
		{desc: "a probe refused by the backend opens it again", steps: []step{
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open),
			wait(time.Minute, Open), {send: refused, want: Open},
		}},
		{desc: "a 500 probe is a success", steps: []step{
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open),
			wait(time.Minute, Open), {send: 500, want: HalfOpen}, {send: 404, want: Closed},
		}},
		{desc: "closing starts from an empty window", steps: []step{
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open),
			wait(30*sec, Open), ok(HalfOpen), ok(Closed),
			fail(Closed), fail(Closed), fail(Closed), fail(Closed), fail(Open),
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			c := newClock()
			var calls int
			var status int
			next := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				calls++
				if status == refused {
					return nil, &dialError{syscall.ECONNREFUSED}
				}
				return answer(status), nil
			})
			b := newBreaker(t, seedConfig(), c, nil, next)
			for i, s := range tc.steps {
				c.Advance(s.advance)
				if s.send != 0 {
					status = s.send
					before := calls
					req := httptest.NewRequest("GET", "http://app/", nil)
					resp, err := b.RoundTrip(req)
					called := calls > before
					switch {
					case s.reject && (called || !errors.Is(err, ErrOpen)):
						t.Fatalf("step %d: called the backend: %v, error %v; want a fast 503", i, called, err)
					case !s.reject && !called:
						t.Fatalf("step %d: refused (%v), want the request sent", i, err)
					case !s.reject && s.send > 0 && (err != nil || resp.StatusCode != s.send):
						t.Fatalf("step %d: got %v, %v; want the backend's %d", i, resp, err, s.send)
					}
				}
				if got := b.State(); got != s.want {
					t.Fatalf("step %d: state %s, want %s", i, got, s.want)
				}
			}
		})
	}
}

// dialError stands for the error of a refused dial.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial tcp 10.0.0.7:8080: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func TestOpenErrorIsA503(t *testing.T) {
	c := newClock()
	cfg := seedConfig()
	cfg.FailureThreshold = 1
	b := newBreaker(t, cfg, c, nil, roundTripFunc(func(*http.Request) (*http.Response, error) { return answer(503), nil }))
	b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
	body := &closeCounter{Reader: strings.NewReader("payload")}
	req := httptest.NewRequest("PUT", "http://app/", body)
	resp, err := b.RoundTrip(req)
	if resp != nil {
		t.Fatalf("got an answer while open: %v", resp)
	}
	var sc interface{ StatusCode() int }
	if !errors.As(err, &sc) || sc.StatusCode() != http.StatusServiceUnavailable {
		t.Errorf("error %v has no StatusCode 503", err)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Backend != "http://app:8080" || oe.State != Open || !errors.Is(err, ErrOpen) {
		t.Errorf("error %#v, want an *OpenError for the backend wrapping ErrOpen", err)
	}
	if body.closed.Load() != 1 {
		t.Errorf("request body closed %d times, want 1", body.closed.Load())
	}
}

type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestEvents(t *testing.T) {
	c := newClock()
	ev := &events{}
	status := 502
	b := newBreaker(t, seedConfig(), c, ev, roundTripFunc(func(*http.Request) (*http.Response, error) { return answer(status), nil }))
	send := func() { b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil)) }
	for range 5 {
		send()
		c.Advance(time.Second)
	}
	opened := c.Now().Add(-time.Second)
	c.Advance(30 * time.Second)
	send() // half-open, a failed probe: open again
	c.Advance(30 * time.Second)
	status = 200
	send()
	send() // closed
	want := []struct {
		from, to string
		failures uint32
		reason   string
	}{
		{"closed", "open", 5, "5 failures within 1m0s, the last: status 502"},
		{"open", "half-open", 0, "open for 30s, probing"},
		{"half-open", "open", 1, "probe failed: status 502"},
		{"open", "half-open", 0, "open for 30s, probing"},
		{"half-open", "closed", 0, "2 successful probes"},
	}
	got := ev.list()
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.GetFrom() != w.from || g.GetTo() != w.to || g.GetFailures() != w.failures || g.GetReason() != w.reason || g.GetBackend() != "http://app:8080" {
			t.Errorf("event %d: %v, want %+v", i, g, w)
		}
	}
	if got[0].GetTime().AsTime() != opened {
		t.Errorf("opened at %s, want %s", got[0].GetTime().AsTime(), opened)
	}
}

func TestClientGoneIsNotAFailure(t *testing.T) {
	c := newClock()
	cfg := seedConfig()
	cfg.FailureThreshold = 1
	b := newBreaker(t, cfg, c, nil, roundTripFunc(func(r *http.Request) (*http.Response, error) { return nil, r.Context().Err() }))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "http://app/", nil).WithContext(ctx)
	if _, err := b.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if b.State() != Closed {
		t.Errorf("state %s after a client left, want closed", b.State())
	}
	// The route's own deadline passing is the backend's slowness: a failure.
	ctx, cancel = context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil).WithContext(ctx))
	if b.State() != Open {
		t.Errorf("state %s after the deadline passed, want open", b.State())
	}
}

// gate is a backend whose answers wait until released, for requests in flight.
type gate struct {
	entered chan struct{}
	release chan int // the status to answer
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), release: make(chan int)} }

func (g *gate) RoundTrip(*http.Request) (*http.Response, error) {
	g.entered <- struct{}{}
	return answer(<-g.release), nil
}

func TestHalfOpenLetsOneProbeThrough(t *testing.T) {
	c := newClock()
	cfg := seedConfig()
	cfg.FailureThreshold, cfg.SuccessThreshold = 1, 1
	g := newGate()
	b := newBreaker(t, cfg, c, nil, g)
	go b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
	<-g.entered
	g.release <- 502
	for b.State() != Open {
		time.Sleep(time.Millisecond)
	}
	c.Advance(30 * time.Second)

	probeDone := make(chan error, 1)
	go func() {
		_, err := b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
		probeDone <- err
	}()
	<-g.entered // the probe is in flight
	var wg sync.WaitGroup
	var refusedN atomic.Int32
	for range 20 {
		wg.Go(func() {
			_, err := b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
			var oe *OpenError
			if errors.As(err, &oe) && oe.State == HalfOpen {
				refusedN.Add(1)
			}
		})
	}
	wg.Wait()
	if refusedN.Load() != 20 {
		t.Errorf("%d of 20 requests refused during the probe, want all", refusedN.Load())
	}
	g.release <- 200
	if err := <-probeDone; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != Closed {
		t.Errorf("state %s after the probe succeeded, want closed", b.State())
	}
}

func TestStaleOutcomeIsNotAProbe(t *testing.T) {
	c := newClock()
	cfg := seedConfig()
	cfg.FailureThreshold, cfg.SuccessThreshold = 1, 1
	g := newGate()
	b := newBreaker(t, cfg, c, nil, g)
	send := func(done chan<- struct{}) {
		b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
		close(done)
	}
	slow, failing, probe := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go send(slow) // admitted while closed; answers late
	<-g.entered
	go send(failing)
	<-g.entered
	g.release <- 503 // one of the two fails; which one does not matter
	for b.State() != Open {
		time.Sleep(time.Millisecond)
	}
	c.Advance(30 * time.Second)
	go send(probe)
	<-g.entered
	if b.State() != HalfOpen {
		t.Fatalf("state %s, want half-open", b.State())
	}
	g.release <- 200 // the request admitted while closed answers
	select {
	case <-slow:
	case <-failing:
	}
	if b.State() != HalfOpen {
		t.Fatalf("state %s: an answer to a request admitted while closed counted as a probe", b.State())
	}
	g.release <- 200
	<-probe
	if b.State() != Closed {
		t.Errorf("state %s after the probe succeeded, want closed", b.State())
	}
}

func TestProbePanicFreesTheSlot(t *testing.T) {
	c := newClock()
	cfg := seedConfig()
	cfg.FailureThreshold = 1
	panicking := true
	b := newBreaker(t, cfg, c, nil, roundTripFunc(func(*http.Request) (*http.Response, error) {
		if panicking {
			panic("backend transport bug")
		}
		return answer(502), nil
	}))
	panicking = false
	b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
	c.Advance(time.Minute)
	panicking = true
	func() {
		defer func() { recover() }()
		b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
	}()
	panicking = false
	if _, err := b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil)); errors.Is(err, ErrOpen) {
		t.Errorf("refused after a probe panicked: %v", err)
	}
}

func TestConcurrentRequests(t *testing.T) {
	c := newClock()
	ev := &events{}
	cfg := seedConfig()
	cfg.FailureThreshold, cfg.SuccessThreshold = 3, 2
	b := newBreaker(t, cfg, c, ev, roundTripFunc(func(*http.Request) (*http.Response, error) {
		if rand.IntN(3) == 0 {
			return answer(503), nil
		}
		return answer(200), nil
	}))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 2000 {
				resp, err := b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
				if err != nil && !errors.Is(err, ErrOpen) || err == nil && resp == nil {
					t.Errorf("got %v, %v", resp, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 2000 {
			c.Advance(time.Second)
			b.State()
		}
	})
	wg.Wait()
	// The events form one chain of valid transitions.
	got := ev.list()
	if len(got) == 0 {
		t.Fatal("no change of state under a third of failures")
	}
	valid := map[[2]string]bool{{"closed", "open"}: true, {"open", "half-open"}: true, {"half-open", "open"}: true, {"half-open", "closed"}: true}
	prev := "closed"
	for i, e := range got {
		if e.GetFrom() != prev || !valid[[2]string{e.GetFrom(), e.GetTo()}] {
			t.Fatalf("event %d: %s → %s after %s", i, e.GetFrom(), e.GetTo(), prev)
		}
		prev = e.GetTo()
	}
	if b.State().String() != prev {
		t.Errorf("state %s, last event to %s", b.State(), prev)
	}
}

func TestNew(t *testing.T) {
	next := http.DefaultTransport
	testCases := []struct {
		desc    string
		cfg     *proxyv1.CircuitBreaker
		wantErr string
		same    bool
	}{
		{desc: "nil", cfg: nil, same: true},
		{desc: "disabled", cfg: &proxyv1.CircuitBreaker{FailureThreshold: -3}, same: true},
		{desc: "defaults", cfg: &proxyv1.CircuitBreaker{Enabled: true}},
		{desc: "seed example", cfg: seedConfig()},
		{desc: "negative failure_threshold", cfg: &proxyv1.CircuitBreaker{Enabled: true, FailureThreshold: -1}, wantErr: "failure_threshold -1"},
		{desc: "huge success_threshold", cfg: &proxyv1.CircuitBreaker{Enabled: true, SuccessThreshold: MaxThreshold + 1}, wantErr: "success_threshold"},
		{desc: "negative timeout", cfg: &proxyv1.CircuitBreaker{Enabled: true, Timeout: durationpb.New(-time.Second)}, wantErr: "timeout (-1s) is negative"},
		{desc: "invalid window", cfg: &proxyv1.CircuitBreaker{Enabled: true, Window: &durationpb.Duration{Seconds: -1, Nanos: 1}}, wantErr: "window"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			rt, err := New(tc.cfg, "http://app:8080", nil, next)
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
	rt, _ := New(&proxyv1.CircuitBreaker{Enabled: true}, "b", nil, next)
	b := rt.(*Breaker)
	if b.failureThreshold != DefaultFailureThreshold || b.successThreshold != DefaultSuccessThreshold || b.timeout != DefaultTimeout || b.window != DefaultWindow {
		t.Errorf("defaults %d %d %s %s", b.failureThreshold, b.successThreshold, b.timeout, b.window)
	}
	if _, err := New(&proxyv1.CircuitBreaker{Enabled: true}, "b", nil, nil); err == nil {
		t.Error("New accepted a nil transport")
	}
}

// A real backend that goes down and comes back: the breaker opens, fails fast, and closes.
func TestRealBackend(t *testing.T) {
	var down atomic.Bool
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if down.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := newClock()
	b := newBreaker(t, seedConfig(), c, nil, tr)
	get := func() (int, error) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		resp, err := b.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	down.Store(true)
	for range 5 {
		get()
	}
	before := hits.Load()
	if _, err := get(); !errors.Is(err, ErrOpen) || hits.Load() != before {
		t.Fatalf("error %v, backend hit %d times more; want a fast 503", err, hits.Load()-before)
	}
	down.Store(false)
	c.Advance(30 * time.Second)
	for range 2 {
		if status, err := get(); status != 200 {
			t.Fatalf("probe: %d, %v", status, err)
		}
	}
	if b.State() != Closed {
		t.Errorf("state %s, want closed", b.State())
	}
}

func TestWrapSharesTheCircuit(t *testing.T) {
	c := newClock()
	cfg := seedConfig()
	cfg.FailureThreshold = 2
	var first, second atomic.Int32
	b := newBreaker(t, cfg, c, nil, roundTripFunc(func(*http.Request) (*http.Response, error) {
		first.Add(1)
		return answer(502), nil
	}))
	other := b.Wrap(roundTripFunc(func(*http.Request) (*http.Response, error) {
		second.Add(1)
		return answer(503), nil
	}))
	b.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
	other.RoundTrip(httptest.NewRequest("GET", "http://app/", nil))
	if b.State() != Open {
		t.Fatalf("state %s after a failure through each, want open", b.State())
	}
	if _, err := other.RoundTrip(httptest.NewRequest("GET", "http://app/", nil)); !errors.Is(err, ErrOpen) || second.Load() != 1 {
		t.Errorf("error %v, %d calls; want the shared circuit to refuse", err, second.Load())
	}
	if first.Load() != 1 {
		t.Errorf("%d calls through the first transport, want 1", first.Load())
	}
}

func TestNoAllocationsWhenClosed(t *testing.T) {
	b := newBreaker(t, seedConfig(), newClock(), nil, roundTripFunc(func(*http.Request) (*http.Response, error) { return okResp, nil }))
	req := httptest.NewRequest("GET", "http://app/", nil)
	if n := testing.AllocsPerRun(1000, func() { b.RoundTrip(req) }); n != 0 {
		t.Errorf("%.1f allocations per request while closed, want 0", n)
	}
}

var okResp = answer(200)

type fixed struct{ resp *http.Response }

func (f fixed) RoundTrip(*http.Request) (*http.Response, error) { return f.resp, nil }

func BenchmarkClosed(b *testing.B) {
	rt, _ := New(seedConfig(), "http://app:8080", nil, fixed{okResp})
	req := httptest.NewRequest("GET", "http://app/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt.RoundTrip(req)
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	cfg := seedConfig()
	cfg.FailureThreshold = 1
	rt, _ := New(cfg, "http://app:8080", nil, fixed{answer(503)})
	req := httptest.NewRequest("GET", "http://app/", nil)
	rt.RoundTrip(req)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt.RoundTrip(req)
		}
	})
}
