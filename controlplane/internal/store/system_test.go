package store

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestSystemMetrics(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	now := time.Now().UTC().Truncate(time.Second)
	sample := func(node string, seq uint64, d time.Duration, goroutines int64) *proxyv1.EventBatch {
		return &proxyv1.EventBatch{NodeId: node, BootId: "b", Sequence: seq, System: &proxyv1.SystemMetrics{
			Time: timestamppb.New(now.Add(d)), Uptime: durationpb.New(90 * time.Second), ActiveConnections: 3,
			Goroutines: goroutines, HeapBytes: 1 << 20, RssBytes: 2 << 20, RequestsTotal: 1000, EventsDroppedTotal: 5,
			EventQueueLength: 7, EventQueueCapacity: 10000, WebsocketsActive: 2, SnapshotVersion: 9, BansActive: 1}}
	}
	for _, b := range []*proxyv1.EventBatch{
		sample("n1", 1, -40*24*time.Hour, 5), sample("n1", 2, -20*time.Second, 10), sample("n1", 3, -10*time.Second, 11),
		sample("n2", 1, -5*time.Second, 20), {NodeId: "n3", BootId: "b", Sequence: 1}, // n3: no sample
	} {
		if _, err := s.SaveBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.LatestSystemMetrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := latest["n1"], latest["n2"]
	if len(latest) != 2 || n1.Goroutines != 11 || !n1.Time.Equal(now.Add(-10*time.Second)) || n1.UptimeSeconds != 90 ||
		n1.EventsDroppedTotal != 5 || n1.EventQueueCapacity != 10000 || n1.SnapshotVersion != 9 || n1.SnapshotAppliedAt != nil ||
		n2.Goroutines != 20 {
		t.Fatalf("latest = %+v", latest)
	}

	// The history is pruned with the metrics retention: the 40-day-old sample goes.
	var target PruneTarget
	for _, pt := range PruneTargets() {
		if pt.Table == "dataplane_metrics" {
			target = pt
		}
	}
	if target.Retention != RetentionMetrics || target.PerRoute {
		t.Fatalf("dataplane_metrics target = %+v", target)
	}
	n, err := s.Prune(ctx, Prune{Target: target, Cutoff: now.Add(-30 * 24 * time.Hour)}, 100, nil)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
}

func TestSystemMetricsTooLarge(t *testing.T) {
	s, _ := openTestStore(t)
	b := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1, System: &proxyv1.SystemMetrics{RequestsTotal: 1 << 63}}
	if _, err := s.SaveBatch(context.Background(), b); err == nil {
		t.Fatal("a counter past int64 was stored")
	}
}
