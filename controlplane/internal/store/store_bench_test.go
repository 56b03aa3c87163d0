package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"go.uber.org/zap"
)

// BenchmarkSaveBatch500 commits batches of 500 request events spread over a few known routes, one
// new sequence per iteration, as a data plane under load sends them.
func BenchmarkSaveBatch500(b *testing.B) {
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
	var routes []*proxyv1.Route
	for i := range 5 {
		routes = append(routes, &proxyv1.Route{
			Id:         fmt.Sprintf("site%d/host%d.example.org/", i, i),
			Hosts:      []string{fmt.Sprintf("host%d.example.org", i)},
			BackendUrl: fmt.Sprintf("http://backend%d:80", i),
		})
	}
	if err := s.SyncRoutes(ctx, routes, time.Now()); err != nil {
		b.Fatal(err)
	}
	batch := testBatch("node-1", "boot-1", 0, 500, "")
	for i, ev := range batch.Requests {
		ev.RouteId = routes[i%len(routes)].Id
	}

	var seq uint64
	for b.Loop() {
		seq++
		batch.Sequence = seq
		stored, err := s.SaveBatch(ctx, batch)
		if err != nil || !stored {
			b.Fatalf("SaveBatch = %v, %v", stored, err)
		}
	}
	b.ReportMetric(float64(seq*500)/b.Elapsed().Seconds(), "events/s")
}
