package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// benchAgents are user agents in roughly the mix a small community's sites see.
var benchAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"curl/8.5.0",
	"python-requests/2.32.3",
}

var benchCountries = []string{"DE", "FR", "US", "NL", "GB", "PL", "SE", ""}

// benchRoutes syncs n routes and returns their keys.
func benchRoutes(tb testing.TB, s *Store, n int) []string {
	tb.Helper()
	var routes []*proxyv1.Route
	var keys []string
	for i := range n {
		r := &proxyv1.Route{
			Id:         fmt.Sprintf("site%02d/host%02d.example.org/", i, i),
			Site:       fmt.Sprintf("site%02d", i),
			Hosts:      []string{fmt.Sprintf("host%02d.example.org", i)},
			PathPrefix: "/",
			BackendUrl: fmt.Sprintf("http://backend%02d:8080", i),
		}
		routes = append(routes, r)
		keys = append(keys, r.Id)
	}
	if err := s.SyncRoutes(context.Background(), routes, time.Now()); err != nil {
		tb.Fatal(err)
	}
	return keys
}

// realisticEvent is request event i of a stream that starts at start and advances 1 ms per event:
// distinct request ids, paths and times, the mix of statuses, agents and countries of real traffic.
func realisticEvent(i int, start time.Time, routes []string) *proxyv1.RequestEvent {
	status := int32(200)
	switch {
	case i%50 == 0:
		status = 502
	case i%17 == 0:
		status = 404
	case i%11 == 0:
		status = 304
	}
	d := time.Duration(2+i%40) * time.Millisecond
	var slow string
	if i%97 == 0 {
		d, slow = 2*time.Second+time.Duration(i%300)*time.Millisecond, "warning"
	}
	route := i % len(routes)
	ev := &proxyv1.RequestEvent{
		Time:            timestamppb.New(start.Add(time.Duration(i) * time.Millisecond)),
		RequestId:       fmt.Sprintf("%016x", i*7919),
		RouteId:         routes[route],
		Host:            fmt.Sprintf("host%02d.example.org", route),
		Method:          []string{"GET", "GET", "GET", "POST"}[i%4],
		Path:            fmt.Sprintf("/api/servers/%d/status", i%1000),
		Status:          status,
		Duration:        durationpb.New(d),
		BytesIn:         int64(200 + i%300),
		BytesOut:        int64(1000 + i%20000),
		ClientIp:        fmt.Sprintf("203.0.%d.0", i%256),
		UserAgent:       benchAgents[i%len(benchAgents)],
		Backend:         fmt.Sprintf("http://backend%02d:8080", route),
		Protocol:        "HTTP/2.0",
		SnapshotVersion: 7,
		Country:         benchCountries[i%len(benchCountries)],
		Slow:            slow,
	}
	if status == 502 {
		ev.Error = "dial tcp 10.0.0.9:8080: connect: connection refused"
	}
	return ev
}

// BenchmarkSaveBatchRealistic stores batches of 500 realistic request events over 20 routes, as
// data planes under load send them, with the roll-ups; events/s is the sustained rate of the
// single writer. The table grows as it runs (b.N batches), like a live database.
func BenchmarkSaveBatchRealistic(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "proxy.db"), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	routes := benchRoutes(b, s, 20)
	const size = 500
	start := time.Now().Add(-time.Hour)
	var seq uint64
	next := 0
	for b.Loop() {
		b.StopTimer()
		seq++
		batch := &proxyv1.EventBatch{NodeId: "node-1", BootId: "boot-1", Sequence: seq}
		for range size {
			batch.Requests = append(batch.Requests, realisticEvent(next, start, routes))
			next++
		}
		b.StartTimer()
		stored, err := s.SaveBatch(ctx, batch)
		if err != nil || !stored {
			b.Fatalf("SaveBatch = %v, %v", stored, err)
		}
	}
	b.ReportMetric(float64(seq*size)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq*size)/1000, "µs/event")
}
