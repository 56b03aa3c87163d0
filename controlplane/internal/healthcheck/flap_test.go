package healthcheck

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// backend is a real HTTP server whose health page can be switched between answering 200,
// answering 503, and not answering at all.
type backend struct {
	*httptest.Server
	mode    atomic.Value // "ok", "fail", "hang"
	methods chan string  // method of every request, when not nil
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{}
	b.mode.Store("ok")
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.methods != nil {
			b.methods <- r.Method
		}
		switch b.mode.Load() {
		case "fail":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case "hang":
			<-r.Context().Done() // until the check gives up
		default:
			w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(b.Close)
	return b
}

// clock is a test clock moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// dataPlane is a data plane's snapshot stream over gRPC on loopback, collecting the health lists
// it is sent.
type dataPlane struct {
	health chan *proxyv1.HealthList
}

func connectDataPlane(t *testing.T, f *fleet.Fleet, nodeID string) *dataPlane {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.WaitForHandlers(true))
	proxyv1.RegisterSnapshotServiceServer(srv, f.Service())
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := proxyv1.NewSnapshotServiceClient(conn).StreamSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Hello{Hello: &proxyv1.Hello{NodeId: nodeID, BinaryVersion: "test"}}}); err != nil {
		t.Fatal(err)
	}
	d := &dataPlane{health: make(chan *proxyv1.HealthList, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			if r.GetSnapshot() != nil { // acknowledged, as a data plane does
				if err := stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Ack{Ack: &proxyv1.Ack{Version: r.GetSnapshot().GetVersion()}}}); err != nil {
					return
				}
			}
			if r.GetHealth() != nil {
				d.health <- r.GetHealth()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; conn.Close(); srv.Stop() })
	return d
}

// next returns the next health list the data plane receives.
func (d *dataPlane) next(t *testing.T) *proxyv1.HealthList {
	t.Helper()
	select {
	case l := <-d.health:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("the data plane received no health list")
		return nil
	}
}

// nothing checks that no health list arrives for a moment.
func (d *dataPlane) nothing(t *testing.T, at string) {
	t.Helper()
	select {
	case l := <-d.health:
		t.Fatalf("%s: the data plane received health list %d (%s) without a change of state", at, l.GetVersion(), l.GetBackends()[0].GetState())
	case <-time.After(50 * time.Millisecond):
	}
}

func checkedRoute(id, backendURL string, interval, timeout time.Duration) *proxyv1.Route {
	return &proxyv1.Route{Id: id, Site: "panel", Hosts: []string{"gpanel.example.org"}, PathPrefix: "/", BackendUrl: backendURL,
		Policy: &proxyv1.Policy{HealthCheck: &proxyv1.HealthCheck{Enabled: true, Interval: durationpb.New(interval),
			Timeout: durationpb.New(timeout), Path: "/health", ExpectedStatus: 200}}}
}

// openStore opens a real database in the test's temporary directory; path is its file.
func openStore(t *testing.T) (st *store.Store, path string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "proxy.db")
	st, err := store.Open(context.Background(), path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st, path
}

// TestFlappingBackend drives a backend through healthy → degraded → down → degraded → healthy
// with checks every 10 s of a moved clock, and checks that each transition happens at the check
// where the sliding minute crosses a threshold, that the data plane receives a health list at
// exactly those moments, and that every check and the final state are stored.
func TestFlappingBackend(t *testing.T) {
	ctx := context.Background()
	be := newBackend(t)
	st, dbFile := openStore(t)
	fl := fleet.New(zaptest.NewLogger(t))
	const id = "gpanel.example.org/"
	route := checkedRoute(id, be.URL, 10*time.Second, 300*time.Millisecond)
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if err := st.SyncRoutes(ctx, []*proxyv1.Route{route}, t0); err != nil {
		t.Fatal(err)
	}
	fl.Publish(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{route}})
	clk := &clock{t: t0}
	c := New(zaptest.NewLogger(t), st, fl, Options{Now: clk.now})
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	changes := c.Subscribe(sctx)

	dp := connectDataPlane(t, fl, "dp-1")
	c.SetRoutes(ctx, []*proxyv1.Route{route}, nil)
	if l := dp.next(t); len(l.GetBackends()) != 1 || l.GetBackends()[0].GetState() != "unknown" {
		t.Fatalf("before the first check the data plane got %v, want the route unknown", l)
	}

	// One check every 10 s. With 6 checks in a minute: one failure is 5/6 (degraded), four are
	// 2/6 (down); 3/6 is 50% (degraded); six successes in a row are healthy again.
	steps := []struct {
		sec   int
		mode  string
		state State   // after the check
		ratio float64 // over the minute ending with it
	}{
		{0, "ok", Healthy, 1},
		{10, "ok", Healthy, 1},
		{20, "ok", Healthy, 1},
		{30, "ok", Healthy, 1},
		{40, "ok", Healthy, 1},
		{50, "ok", Healthy, 1},
		{60, "fail", Degraded, 5.0 / 6},
		{70, "fail", Degraded, 4.0 / 6},
		{80, "fail", Degraded, 3.0 / 6},
		{90, "hang", Down, 2.0 / 6},
		{100, "ok", Down, 2.0 / 6},
		{110, "ok", Down, 2.0 / 6},
		{120, "ok", Degraded, 3.0 / 6},
		{130, "ok", Degraded, 4.0 / 6},
		{140, "ok", Degraded, 5.0 / 6},
		{150, "ok", Healthy, 1},
	}
	prev, prevSince := Unknown, t0
	var wantChanges []Change
	for _, s := range steps {
		at := t0.Add(time.Duration(s.sec) * time.Second)
		clk.set(at)
		be.mode.Store(s.mode)
		if err := c.Check(ctx, id); err != nil {
			t.Fatalf("t=%ds: %v", s.sec, err)
		}
		got := c.Statuses()[0]
		if got.State != s.state || !near(got.SuccessRatio, s.ratio) || got.Checks != min(s.sec/10+1, 6) {
			t.Fatalf("t=%ds: %s at %.3f over %d checks, want %s at %.3f", s.sec, got.State, got.SuccessRatio, got.Checks, s.state, s.ratio)
		}
		if s.state == prev {
			if !got.Since.Equal(prevSince) {
				t.Fatalf("t=%ds: since moved to %s without a change", s.sec, got.Since)
			}
			dp.nothing(t, at.Format(time.TimeOnly))
			continue
		}
		// A change: the data plane is told at once, with the state, ratio, since and error.
		l := dp.next(t)
		b := l.GetBackends()[0]
		if b.GetState() != string(s.state) || !near(b.GetSuccessRatio(), s.ratio) || !b.GetSince().AsTime().Equal(at) || b.GetBackendUrl() != be.URL {
			t.Fatalf("t=%ds: the data plane got %v, want %s at %.3f since %s", s.sec, b, s.state, s.ratio, at)
		}
		if s.mode == "hang" && b.GetLastError() != "no response within the timeout of 300ms" {
			t.Fatalf("t=%ds: last_error %q", s.sec, b.GetLastError())
		}
		wantChanges = append(wantChanges, Change{RouteID: id, Site: "panel", BackendURL: be.URL, From: prev, To: s.state, At: at, SuccessRatio: got.SuccessRatio, LastError: got.LastError})
		prev, prevSince = s.state, at
	}

	// Subscribers saw the same transitions, in order.
	for i, want := range wantChanges {
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("change %d = %+v, want %+v", i, got, want)
			}
		case <-time.After(time.Second):
			t.Fatalf("change %d not delivered", i)
		}
	}
	if got := []State{wantChanges[0].To, wantChanges[1].To, wantChanges[2].To, wantChanges[3].To, wantChanges[4].To}; len(wantChanges) != 5 ||
		got[0] != Healthy || got[1] != Degraded || got[2] != Down || got[3] != Degraded || got[4] != Healthy {
		t.Fatalf("transitions %+v", wantChanges)
	}
	s := c.Statuses()[0]
	if len(s.Transitions) != 5 || s.Transitions[0].To != Healthy || !s.Transitions[0].At.Equal(t0.Add(150*time.Second)) || s.AvgResponseTime <= 0 {
		t.Fatalf("status: %+v", s)
	}

	// Stored: every check, and the final state.
	states, err := st.HealthStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].State != "healthy" || !states[0].Since.Equal(t0.Add(150*time.Second)) ||
		!states[0].LastCheck.Equal(t0.Add(150*time.Second)) || states[0].SuccessRatio != 1 {
		t.Fatalf("stored state: %+v", states)
	}
	if n := countChecks(t, dbFile); n != len(steps) {
		t.Fatalf("%d checks stored, want %d", n, len(steps))
	}

	// A data plane that (re)connects gets the latest list at once.
	late := connectDataPlane(t, fl, "dp-2")
	if l := late.next(t); l.GetBackends()[0].GetState() != "healthy" {
		t.Fatalf("on connect: %v", l)
	}
}

// countChecks counts the rows of health_checks, read from the database file.
func countChecks(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM health_checks").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
