package adminhttp

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// The traffic API at scale (issue 7, checked by 2): a store filled with benchRows request events
// of benchRoutes routes over benchDays days, through SaveBatch (the real ingest path, roll-ups
// included), then every endpoint measured through the real handler. Run it with
//
//	go test ./internal/adminhttp -run '^$' -bench TrafficAPI -benchtime 200x
//
// The filled database is built once per run, in a temporary directory removed at the end; with
// TRAFFIC_BENCH_DB=/some/file.db it is kept there and reused by the next runs.
const (
	benchRows   = 1_000_000
	benchRoutes = 20
	benchDays   = 30
	benchBatch  = 2000
	// p95Budget is the bound for every endpoint.
	p95Budget = 50 * time.Millisecond
)

var benchEnd = time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)

var benchUAs = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"curl/8.5.0",
}

var benchCountries = []string{"DE", "DE", "FR", "NL", "US", "GB", "PL", ""}

func benchRouteKey(i int) string { return fmt.Sprintf("site%02d/host%02d.example.org/", i, i) }

var filled struct {
	once sync.Once
	dir  string
	path string
	took time.Duration
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if filled.dir != "" {
		_ = os.RemoveAll(filled.dir)
	}
	os.Exit(code)
}

// filledStore returns the path of the filled database, building it on first use.
func filledStore(b *testing.B) string {
	b.Helper()
	filled.once.Do(func() {
		if filled.path = os.Getenv("TRAFFIC_BENCH_DB"); filled.path != "" {
			if _, err := os.Stat(filled.path); err == nil {
				return
			}
		} else {
			if filled.dir, filled.err = os.MkdirTemp("", "traffic-bench-*"); filled.err != nil {
				return
			}
			filled.path = filepath.Join(filled.dir, "proxy.db")
		}
		start := time.Now()
		filled.err = fill(filled.path)
		filled.took = time.Since(start)
		fmt.Fprintf(os.Stderr, "filled %s with %d request events over %d days and %d routes in %s\n",
			filled.path, benchRows, benchDays, benchRoutes, filled.took.Round(100*time.Millisecond))
	})
	if filled.err != nil {
		b.Fatal(filled.err)
	}
	return filled.path
}

// fill stores benchRows realistic events, oldest first, as data planes would have sent them.
func fill(path string) error {
	ctx := context.Background()
	st, err := store.Open(ctx, path, zap.NewNop())
	if err != nil {
		return err
	}
	st.SetClock(func() time.Time { return benchEnd })
	var routes []*proxyv1.Route
	for i := range benchRoutes {
		routes = append(routes, &proxyv1.Route{Id: benchRouteKey(i), Site: fmt.Sprintf("site%02d", i),
			Hosts: []string{fmt.Sprintf("host%02d.example.org", i)}, PathPrefix: "/", BackendUrl: fmt.Sprintf("http://backend%02d:8080", i)})
	}
	if err := st.SyncRoutes(ctx, routes, benchEnd.Add(-benchDays*24*time.Hour)); err != nil {
		return err
	}
	// Batches are built on one core while the writer stores on the other.
	batches := make(chan *proxyv1.EventBatch, 4)
	go func() {
		defer close(batches)
		rnd := rand.New(rand.NewPCG(1, 2))
		first := benchEnd.Add(-benchDays * 24 * time.Hour)
		every := benchDays * 24 * time.Hour / benchRows
		for seq := uint64(1); int(seq-1)*benchBatch < benchRows; seq++ {
			b := &proxyv1.EventBatch{NodeId: "dp-1", BootId: "boot-1", Sequence: seq}
			for j := range benchBatch {
				i := int(seq-1)*benchBatch + j
				b.Requests = append(b.Requests, benchEvent(rnd, i, first.Add(time.Duration(i)*every)))
			}
			batches <- b
		}
	}()
	for b := range batches {
		if _, err := st.SaveBatch(ctx, b); err != nil {
			return err
		}
	}
	return st.Close()
}

func benchEvent(rnd *rand.Rand, i int, at time.Time) *proxyv1.RequestEvent {
	// Traffic is skewed: route r gets about twice the requests of route r+5.
	route := min(int(rnd.ExpFloat64()*7), benchRoutes-1)
	status := int32(200)
	switch x := rnd.IntN(100); {
	case x < 2:
		status = 502
	case x < 7:
		status = 404
	case x < 12:
		status = 304
	}
	d := time.Duration(rnd.ExpFloat64()*30*float64(time.Millisecond)) + time.Millisecond
	var slow string
	if rnd.IntN(100) == 0 {
		d, slow = 2*time.Second+time.Duration(rnd.IntN(3000))*time.Millisecond, "warning"
	}
	ev := &proxyv1.RequestEvent{Time: timestamppb.New(at), RequestId: fmt.Sprintf("%016x", rnd.Uint64()),
		RouteId: benchRouteKey(route), Host: fmt.Sprintf("host%02d.example.org", route),
		Method: []string{"GET", "GET", "GET", "POST"}[i%4], Path: fmt.Sprintf("/api/v1/%s/%d", []string{"servers", "users", "files"}[i%3], rnd.IntN(5000)),
		Status: status, Duration: durationpb.New(d), BytesIn: int64(rnd.IntN(2000)), BytesOut: int64(rnd.IntN(50_000)),
		ClientIp: fmt.Sprintf("203.0.%d.0", rnd.IntN(256)), UserAgent: benchUAs[rnd.IntN(len(benchUAs))],
		Backend: fmt.Sprintf("http://backend%02d:8080", route), Protocol: "HTTP/2.0", SnapshotVersion: 1,
		Country: benchCountries[rnd.IntN(len(benchCountries))], Slow: slow}
	if status == 502 {
		ev.Error = "dial tcp 10.0.0.9:8080: connect: connection refused"
	}
	return ev
}

// BenchmarkTrafficAPI measures every traffic endpoint over the filled store and reports its p95;
// an endpoint whose p95 is over p95Budget fails the benchmark.
func BenchmarkTrafficAPI(b *testing.B) {
	path := filledStore(b)
	st, err := store.Open(context.Background(), path, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fl := fleet.New(zap.NewNop())
	var routes []*proxyv1.Route
	for i := range benchRoutes {
		routes = append(routes, &proxyv1.Route{Id: benchRouteKey(i), Hosts: []string{fmt.Sprintf("host%02d.example.org", i)}, BackendUrl: "http://b:80"})
	}
	fl.Publish(&proxyv1.Snapshot{Version: 1, Routes: routes})
	mux := http.NewServeMux()
	handleTraffic(mux, st, fl, benchEnd.Add(-time.Hour), func() time.Time { return benchEnd })
	h := newGuard(mux)

	route := "&route=" + url.QueryEscape(benchRouteKey(0))
	var paths []string
	paths = append(paths, "/api/stats", "/api/routes")
	for _, p := range []string{"24h", "7d", "30d"} {
		for _, e := range []string{"/api/slow-requests", "/api/analytics/top-routes", "/api/analytics/heatmap",
			"/api/analytics/bandwidth", "/api/analytics/status-codes", "/api/analytics/response-times",
			"/api/analytics/user-agents", "/api/analytics/geoip"} {
			paths = append(paths, e+"?period="+p, e+"?period="+p+route)
		}
	}
	for _, p := range paths {
		b.Run(p, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, p, nil)
				r.Host = "localhost"
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, r)
				took = append(took, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p, w.Code, w.Body)
				}
			}
			slices.Sort(took)
			p95 := took[(len(took)*95+99)/100-1]
			b.ReportMetric(float64(p95)/float64(time.Millisecond), "p95-ms")
			if p95 > p95Budget {
				b.Errorf("%s: p95 %s is over %s", p, p95, p95Budget)
			}
		})
	}
}
