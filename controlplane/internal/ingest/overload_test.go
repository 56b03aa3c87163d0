package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/adminhttp"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// loadBatch is batch seq of n request events of one route, reporting dropped events the data plane
// could not queue.
func loadBatch(seq uint64, n int, dropped uint64, at time.Time) *proxyv1.EventBatch {
	b := &proxyv1.EventBatch{NodeId: "node-1", BootId: "boot-load", Sequence: seq, DroppedEvents: dropped}
	for i := range n {
		b.Requests = append(b.Requests, &proxyv1.RequestEvent{Time: timestamppb.New(at.Add(time.Duration(i) * time.Microsecond)),
			RequestId: fmt.Sprintf("r-%d-%d", seq, i), RouteId: "site/app.example.org/", Host: "app.example.org",
			Method: "GET", Path: fmt.Sprintf("/item/%d", i), Status: 200, Duration: durationpb.New(3 * time.Millisecond),
			UserAgent: "curl/8.5.0", BytesOut: 512})
	}
	return b
}

// streamBatches sends batches on one stream with up to window unacknowledged, as a data plane
// does, and waits for every ack.
func streamBatches(ctx context.Context, cl proxyv1.EventServiceClient, batches []*proxyv1.EventBatch, window int) error {
	stream, err := cl.StreamEvents(ctx)
	if err != nil {
		return err
	}
	acked := 0
	for sent := 0; acked < len(batches); {
		if sent < len(batches) && sent-acked < window {
			if err := stream.Send(&proxyv1.StreamEventsRequest{Batch: batches[sent]}); err != nil {
				return err
			}
			sent++
			continue
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if got, want := resp.GetAck().GetSequence(), batches[acked].GetSequence(); got != want {
			return fmt.Errorf("ack for %d, want %d", got, want)
		}
		acked++
	}
	return stream.CloseSend()
}

// A data plane that produces more than the control plane stores drops at its own bounded queue
// and says so in dropped_events. Everything it sends is stored, and the drops are counted and
// reported by /api/stats.
func TestOverloadIsCountedNotLost(t *testing.T) {
	cl, st, fl := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := time.Now()
	var batches []*proxyv1.EventBatch
	var dropped uint64
	for i := range 40 {
		d := uint64(i % 3 * 100)
		dropped += d
		batches = append(batches, loadBatch(uint64(i+1), 500, d, now.Add(-time.Duration(i)*time.Second)))
	}
	if err := streamBatches(ctx, cl, batches, 8); err != nil {
		t.Fatal(err)
	}
	if n, err := st.CountRequestLogs(ctx); err != nil || n != 20_000 {
		t.Fatalf("stored %d request events (%v), want 20000", n, err)
	}
	sum, err := st.SumTraffic(ctx, store.TrafficQuery{From: now.Add(-2 * time.Hour), To: now.Add(time.Hour)})
	if err != nil || sum[0] == nil || sum[0].Requests != 20_000 {
		t.Fatalf("roll-ups count %v (%v), want 20000", sum[0], err)
	}

	h := adminhttp.Handler(adminhttp.Config{Fleet: fl, Traffic: st, StartedAt: now})
	r := httptest.NewRequest(http.MethodGet, "/api/stats", nil)
	r.Host = "localhost"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var stats struct {
		Requests24h      int64  `json:"requests_24h"`
		EventsDropped24h uint64 `json:"events_dropped_24h"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &stats); err != nil || w.Code != 200 {
		t.Fatalf("/api/stats: %d %s", w.Code, w.Body)
	}
	if stats.EventsDropped24h != dropped || stats.Requests24h != 20_000 {
		t.Errorf("/api/stats = %s; want %d dropped and 20000 requests", w.Body, dropped)
	}
	if d := fl.Dataplanes(); len(d) != 1 || d[0].GetEventsDropped() != dropped {
		t.Errorf("fleet: %v, want %d dropped", d, dropped)
	}
}

// BenchmarkStreamEvents is the event path end to end on the control plane: batches of 500 over a
// real gRPC stream (8 in flight, as the data plane's window), validated, stored with their
// roll-ups and acknowledged. events/s is the sustained rate.
func BenchmarkStreamEvents(b *testing.B) {
	cl, _, _ := setup(b)
	ctx := context.Background()
	now := time.Now()
	batches := make([]*proxyv1.EventBatch, b.N)
	for i := range batches {
		batches[i] = loadBatch(uint64(i+1), 500, 0, now.Add(-time.Duration(i)*time.Millisecond))
	}
	b.ResetTimer()
	if err := streamBatches(ctx, cl, batches, 8); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "events/s")
}
