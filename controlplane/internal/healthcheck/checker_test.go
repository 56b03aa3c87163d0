package healthcheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStateThresholds(t *testing.T) {
	for _, tc := range []struct {
		ratio float64
		want  State
	}{{1, Healthy}, {0.9, Healthy}, {0.8999, Degraded}, {0.5, Degraded}, {0.4999, Down}, {0, Down}} {
		if got := stateOf(tc.ratio); got != tc.want {
			t.Errorf("stateOf(%v) = %s, want %s", tc.ratio, got, tc.want)
		}
	}
}

func TestWindowIsTheMinuteEndingWithTheCheck(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var w window
	for _, tc := range []struct {
		sec   int
		ok    bool
		ms    int
		ratio float64
		n     int
	}{
		{0, false, 100, 0, 1},
		{30, true, 20, 0.5, 2},
		{59, true, 30, 2.0 / 3, 3},
		{60, true, 10, 1, 3},  // the check at 0 is exactly a minute old: out
		{200, false, 5, 0, 1}, // a long pause leaves only the new check
	} {
		ratio, avg, n := w.add(result{at: t0.Add(time.Duration(tc.sec) * time.Second), ok: tc.ok, elapsed: time.Duration(tc.ms) * time.Millisecond})
		if !near(ratio, tc.ratio) || n != tc.n {
			t.Fatalf("t=%ds: ratio %.3f over %d, want %.3f over %d", tc.sec, ratio, n, tc.ratio, tc.n)
		}
		if tc.sec == 60 && avg != 20*time.Millisecond {
			t.Fatalf("t=60s: average %s, want 20ms (of 20, 30, 10)", avg)
		}
	}
}

// recordingPublisher keeps every list published.
type recordingPublisher struct {
	mu    sync.Mutex
	lists []*proxyv1.HealthList
}

func (p *recordingPublisher) PublishHealth(l *proxyv1.HealthList) {
	p.mu.Lock()
	p.lists = append(p.lists, l)
	p.mu.Unlock()
}

func (p *recordingPublisher) last() *proxyv1.HealthList {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lists) == 0 {
		return nil
	}
	return p.lists[len(p.lists)-1]
}

func (p *recordingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lists)
}

func TestSetRoutesFollowsTheRouteSet(t *testing.T) {
	ctx := context.Background()
	be := newBackend(t)
	be.methods = make(chan string, 10)
	st, _ := openStore(t)
	pub := &recordingPublisher{}
	t0 := time.Unix(1_800_000_000, 0)
	clk := &clock{t: t0}
	c := New(zaptest.NewLogger(t), st, pub, Options{Now: clk.now})

	a := checkedRoute("a.example.org/", be.URL, 10*time.Second, time.Second)
	off := checkedRoute("off.example.org/", be.URL, 10*time.Second, time.Second)
	off.Policy.HealthCheck.Enabled = false
	none := &proxyv1.Route{Id: "none.example.org/", BackendUrl: be.URL}
	routes := []*proxyv1.Route{a, off, none}
	if err := st.SyncRoutes(ctx, routes, t0); err != nil {
		t.Fatal(err)
	}

	// The first set is always published, even empty, so data planes drop an old list.
	c.SetRoutes(ctx, nil, nil)
	if pub.count() != 1 || len(pub.last().GetBackends()) != 0 {
		t.Fatalf("first list: %v", pub.lists)
	}
	c.SetRoutes(ctx, routes, map[string]string{"a.example.org/": "HEAD"})
	if l := pub.last(); pub.count() != 2 || len(l.GetBackends()) != 1 || l.GetBackends()[0].GetRouteId() != "a.example.org/" {
		t.Fatalf("checked routes: %v", l)
	}
	if err := c.Check(ctx, "off.example.org/"); err == nil {
		t.Fatal("a route with its check off was checked")
	}
	if err := c.Check(ctx, "a.example.org/"); err != nil {
		t.Fatal(err)
	}
	if m := <-be.methods; m != http.MethodHead {
		t.Fatalf("method %s, want HEAD", m)
	}
	s := c.Statuses()[0]
	if s.State != Healthy || s.URL != be.URL+"/health" || s.Method != "HEAD" {
		t.Fatalf("status: %+v", s)
	}

	// The same set again (a reload changing something else) keeps the state and publishes nothing.
	n := pub.count()
	c.SetRoutes(ctx, routes, map[string]string{"a.example.org/": "HEAD"})
	if pub.count() != n || c.Statuses()[0].State != Healthy {
		t.Fatalf("unchanged set: %d lists, %+v", pub.count(), c.Statuses())
	}
	// A changed check starts over as unknown.
	clk.set(t0.Add(time.Minute))
	a.Policy.HealthCheck.Path = "/ready"
	c.SetRoutes(ctx, routes, nil)
	if s := c.Statuses()[0]; s.State != Unknown || s.Method != "GET" || s.URL != be.URL+"/ready" || !s.Since.Equal(t0.Add(time.Minute)) {
		t.Fatalf("changed check: %+v", s)
	}
	if pub.count() != n+1 {
		t.Fatalf("changed check: %d lists, want %d", pub.count(), n+1)
	}

	// A removed route stops being checked and loses its stored state.
	if states, err := st.HealthStates(ctx); err != nil || len(states) != 1 {
		t.Fatalf("stored states: %+v, %v", states, err)
	}
	c.SetRoutes(ctx, []*proxyv1.Route{off}, nil)
	if len(c.Statuses()) != 0 || len(pub.last().GetBackends()) != 0 {
		t.Fatalf("after removal: %+v, %v", c.Statuses(), pub.last())
	}
	if states, err := st.HealthStates(ctx); err != nil || len(states) != 0 {
		t.Fatalf("stored states after removal: %+v, %v", states, err)
	}
}

func TestChecksInFlightAreBounded(t *testing.T) {
	ctx := context.Background()
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer be.Close()
	st, _ := openStore(t)
	c := New(zaptest.NewLogger(t), st, &recordingPublisher{}, Options{MaxConcurrent: 2})
	var routes []*proxyv1.Route
	for _, h := range []string{"a", "b", "c", "d", "e"} {
		routes = append(routes, checkedRoute(h+".example.org/", be.URL, 10*time.Second, 5*time.Second))
	}
	if err := st.SyncRoutes(ctx, routes, time.Now()); err != nil {
		t.Fatal(err)
	}
	c.SetRoutes(ctx, routes, nil)
	var wg sync.WaitGroup
	for _, r := range routes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Check(ctx, r.GetId()); err != nil {
				t.Error(err)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for inFlight.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a third check would have arrived by now
	if p := peak.Load(); p != 2 {
		t.Fatalf("%d checks in flight at once, want 2", p)
	}
	close(release)
	wg.Wait()
	for _, s := range c.Statuses() {
		if s.State != Healthy {
			t.Fatalf("%s: %s", s.RouteID, s.State)
		}
	}
}

// configs serves a configuration loaded from files, as the reloader does.
type configs struct{ cfg *config.Config }

func (c configs) Config() *config.Config { return c.cfg }

func TestRunChecksTheSnapshotInForce(t *testing.T) {
	be := newBackend(t)
	be.methods = make(chan string, 100)
	dir := t.TempDir()
	sites := filepath.Join(dir, "sites")
	if err := os.Mkdir(sites, 0o755); err != nil {
		t.Fatal(err)
	}
	site := "host: a.example.org\nbackend: " + be.URL + "\nhealth_check: {interval: 1s, timeout: 500ms, path: /health, method: head}\n"
	if err := os.WriteFile(filepath.Join(sites, "a.yaml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", sites)
	if err != nil {
		t.Fatal(err)
	}
	if m := Methods(cfg); m["a.example.org/"] != "HEAD" || len(m) != 1 {
		t.Fatalf("Methods = %v", m)
	}
	route := checkedRoute("a.example.org/", be.URL, time.Second, 500*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, _ := openStore(t)
	if err := st.SyncRoutes(ctx, []*proxyv1.Route{route}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fl := fleet.New(zaptest.NewLogger(t))
	fl.Publish(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{route}})
	c := New(zaptest.NewLogger(t), st, fl, Options{})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, fl, configs{cfg}) }()

	// The first check comes right away, with the configured method.
	select {
	case m := <-be.methods:
		if m != http.MethodHead {
			t.Fatalf("method %s", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no check")
	}
	waitFor(t, "healthy", func() bool {
		l, _ := fl.Health()
		return len(l.GetBackends()) == 1 && l.GetBackends()[0].GetState() == "healthy"
	})
	// A snapshot without the route stops its checks.
	fl.Publish(&proxyv1.Snapshot{Version: 2})
	waitFor(t, "route removed", func() bool {
		l, _ := fl.Health()
		return len(l.GetBackends()) == 0
	})
	time.Sleep(100 * time.Millisecond) // a check already under way when the route went
	for len(be.methods) > 0 {
		<-be.methods
	}
	time.Sleep(1200 * time.Millisecond) // longer than the interval
	if n := len(be.methods); n != 0 {
		t.Fatalf("%d checks after the route was removed", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
