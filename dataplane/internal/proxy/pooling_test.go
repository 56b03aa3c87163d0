package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestSettingsFromPolicy(t *testing.T) {
	defaults := Settings{ConnectTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleConnTimeout: 120 * time.Second}
	testCases := []struct {
		desc   string
		policy *proxyv1.Policy
		want   Settings
	}{
		{desc: "nil policy: defaults", policy: nil, want: defaults},
		{desc: "empty sections: defaults", policy: &proxyv1.Policy{Timeouts: &proxyv1.Timeouts{},
			Limits: &proxyv1.Limits{}, ConnectionPool: &proxyv1.ConnectionPool{}}, want: defaults},
		{desc: "everything set", policy: &proxyv1.Policy{
			Timeouts: &proxyv1.Timeouts{Connect: durationpb.New(10 * time.Second), Read: durationpb.New(time.Minute),
				Write: durationpb.New(2 * time.Minute), Idle: durationpb.New(300 * time.Second)},
			Limits: &proxyv1.Limits{MaxResponseBody: 10 << 20},
			ConnectionPool: &proxyv1.ConnectionPool{MaxIdleConns: 100, MaxIdleConnsPerHost: 10,
				MaxConnsPerHost: 50, IdleTimeout: durationpb.New(90 * time.Second)},
		}, want: Settings{ConnectTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute,
			IdleConnTimeout: 90 * time.Second, MaxIdleConns: 100, MaxIdleConnsPerHost: 10, MaxConnsPerHost: 50,
			MaxResponseBody: 10 << 20}},
		{desc: "pool without idle_timeout keeps timeouts.idle", policy: &proxyv1.Policy{
			Timeouts:       &proxyv1.Timeouts{Idle: durationpb.New(time.Minute)},
			ConnectionPool: &proxyv1.ConnectionPool{MaxConnsPerHost: 5},
		}, want: Settings{ConnectTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
			IdleConnTimeout: time.Minute, MaxConnsPerHost: 5}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := SettingsFromPolicy(tc.policy); got.key("h") != tc.want.key("h") || got.MaxResponseBody != tc.want.MaxResponseBody {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestPoolsAcrossSnapshots: a snapshot with the same settings gets the warm transport; one with
// changed settings gets a new transport, and routes with equal settings share one.
func TestPoolsAcrossSnapshots(t *testing.T) {
	srv, cc := countingBackend(t)
	pools := newPools(t, Options{RetireAfter: time.Hour})
	s := SettingsFromPolicy(nil)
	old, err := pools.NewBackendWith(srv.URL+"/a", s)
	if err != nil {
		t.Fatal(err)
	}
	get(t, old)

	// Snapshot 2, identical settings (and a different per-Backend limit and Wrap).
	s2 := s
	s2.MaxResponseBody = 1 << 20
	s2.Wrap = func(rt http.RoundTripper) http.RoundTripper { return rt }
	same, err := pools.NewBackendWith(srv.URL+"/b", s2)
	if err != nil {
		t.Fatal(err)
	}
	old.Release()
	get(t, same)
	if same.pool != old.pool || pools.Len() != 1 || cc.opened.Load() != 1 {
		t.Errorf("same settings: shared %v, transports %d, connections %d; want true, 1, 1",
			same.pool == old.pool, pools.Len(), cc.opened.Load())
	}

	// Snapshot 3: the read timeout changed, so a new transport and a new connection.
	s3 := s
	s3.ReadTimeout = time.Minute
	changed, err := pools.NewBackendWith(srv.URL, s3)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pools.NewBackendWith(srv.URL+"/c", s3)
	if err != nil {
		t.Fatal(err)
	}
	get(t, changed)
	if changed.pool == same.pool || other.pool != changed.pool || pools.Len() != 2 || cc.opened.Load() != 2 {
		t.Errorf("changed settings: new %v, routes share %v, transports %d, connections %d; want true, true, 2, 2",
			changed.pool != same.pool, other.pool == changed.pool, pools.Len(), cc.opened.Load())
	}
	if st := changed.pool.transport.settings; st.ReadTimeout != time.Minute || st.IdleConnTimeout != 120*time.Second {
		t.Errorf("transport has read timeout %v, idle timeout %v", st.ReadTimeout, st.IdleConnTimeout)
	}
}

func TestTransportSettings(t *testing.T) {
	b, err := newPools(t, Options{}).NewBackendWith("http://app", Settings{MaxIdleConns: 100,
		MaxIdleConnsPerHost: 10, MaxConnsPerHost: 50, IdleConnTimeout: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tr := b.pool.transport
	if st := tr.settings; st.MaxIdleConns != 100 || st.MaxIdleConnsPerHost != 10 || st.MaxConnsPerHost != 50 || st.IdleConnTimeout != 90*time.Second || tr.maxIdle != 10 {
		t.Errorf("transport: %d %d %d %v, keeps %d idle", st.MaxIdleConns, st.MaxIdleConnsPerHost, st.MaxConnsPerHost, st.IdleConnTimeout, tr.maxIdle)
	}
	if _, err := newPools(t, Options{}).NewBackendWith("http://app", Settings{MaxConnsPerHost: -1}); err == nil {
		t.Error("negative pool size accepted")
	}
}

func TestStats(t *testing.T) {
	srv, _ := countingBackend(t)
	pools := newPools(t, Options{})
	b, err := pools.NewBackendWith(srv.URL, Settings{MaxConnsPerHost: 8})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		get(t, b)
	}
	time.Sleep(10 * time.Millisecond)
	now := time.Now()
	st := pools.Stats(now)
	if len(st) != 1 {
		t.Fatalf("%d entries, want 1", len(st))
	}
	s := st[0]
	if s.GetBackend() != srv.URL || s.GetRequests() != 3 || s.GetReused() != 2 ||
		s.GetActive() != 0 || s.GetIdle() != 1 || s.GetMaxConns() != 8 || !s.GetTime().AsTime().Equal(now) {
		t.Errorf("stats %v; want 3 requests, 2 reused, 0 active, 1 idle, max 8", s)
	}
	if age := s.GetAverageConnectionAge().AsDuration(); age < 10*time.Millisecond || age > time.Minute {
		t.Errorf("average age %v", age)
	}
	// The interval counters start again; the connection stays.
	if s := pools.Stats(time.Now())[0]; s.GetRequests() != 0 || s.GetReused() != 0 || s.GetIdle() != 1 {
		t.Errorf("second report %v; want 0 requests, 1 idle", s)
	}
	get(t, b)
	if s := pools.Stats(time.Now())[0]; s.GetRequests() != 1 || s.GetReused() != 1 {
		t.Errorf("third report %v; want 1 request reused", s)
	}
	// A closed connection leaves the set.
	b.pool.transport.CloseIdleConnections()
	if s := pools.Stats(time.Now())[0]; s.GetIdle() != 0 || s.GetAverageConnectionAge().AsDuration() != 0 {
		t.Errorf("after close %v; want no connections", s)
	}
}

func TestStatsActive(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer backend.Close()
	pools := newPools(t, Options{})
	b, err := pools.NewBackendWith(backend.URL, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for range 2 {
		go func() { done <- b.Forward(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)) }()
		<-arrived
	}
	if s := pools.Stats(time.Now())[0]; s.GetActive() != 2 || s.GetIdle() != 0 || s.GetRequests() != 2 || s.GetReused() != 0 {
		t.Errorf("stats %v; want 2 active, 2 requests, none reused", s)
	}
	close(release)
	<-done
	<-done
	if s := pools.Stats(time.Now())[0]; s.GetActive() != 0 || s.GetIdle() != 2 || s.GetRequests() != 0 {
		t.Errorf("stats %v; want 2 idle, no new requests", s)
	}
}

type statusErr struct{ code int }

func (e statusErr) Error() string   { return "circuit open" }
func (e statusErr) StatusCode() int { return e.code }

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWrap(t *testing.T) {
	srv, _ := countingBackend(t)
	testCases := []struct {
		desc       string
		wrap       func(http.RoundTripper) http.RoundTripper
		wantStatus int // 0: the backend's answer
		wantKind   string
	}{
		{desc: "pass-through", wrap: func(rt http.RoundTripper) http.RoundTripper {
			return rtFunc(func(r *http.Request) (*http.Response, error) { return rt.RoundTrip(r) })
		}},
		{desc: "open breaker: its own status", wantStatus: 503, wrap: func(http.RoundTripper) http.RoundTripper {
			return rtFunc(func(*http.Request) (*http.Response, error) { return nil, statusErr{503} })
		}},
		{desc: "wrapped timeout still classified", wantStatus: 504, wantKind: KindRead, wrap: func(http.RoundTripper) http.RoundTripper {
			return rtFunc(func(*http.Request) (*http.Response, error) {
				return nil, errors.Join(errors.New("retries exhausted"), errReadTimeout)
			})
		}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			b, err := newPools(t, Options{}).NewBackendWith(srv.URL, Settings{Wrap: tc.wrap})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			err = b.Forward(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			if tc.wantStatus == 0 {
				if body, _ := io.ReadAll(rec.Body); err != nil || string(body) != "ok" {
					t.Fatalf("Forward = %v, body %q", err, body)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Status != tc.wantStatus || pe.Kind != tc.wantKind {
				t.Fatalf("Forward = %#v, want %d %q", err, tc.wantStatus, tc.wantKind)
			}
		})
	}
}
