package ingest

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/live"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup runs the event service over a real store on a loopback port.
func setup(t testing.TB) (proxyv1.EventServiceClient, *store.Store, *fleet.Fleet) {
	t.Helper()
	log := zaptest.NewLogger(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "proxy.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	fl := fleet.New(log)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	proxyv1.RegisterEventServiceServer(srv, New(log, st, fl))
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); srv.Stop(); st.Close() })
	return proxyv1.NewEventServiceClient(conn), st, fl
}

func batch(boot string, seq uint64, n int) *proxyv1.EventBatch {
	b := &proxyv1.EventBatch{NodeId: "node-1", BootId: boot, Sequence: seq}
	for i := 0; i < n; i++ {
		b.Requests = append(b.Requests, &proxyv1.RequestEvent{Time: timestamppb.Now(), RequestId: "r", Method: "GET", Path: "/", Status: 200})
	}
	return b
}

func TestAckAfterCommitAndNoDuplicates(t *testing.T) {
	cl, st, fl := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := cl.StreamEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sends := []*proxyv1.EventBatch{batch("boot-a", 1, 3), batch("boot-a", 2, 2), batch("boot-a", 1, 3), batch("boot-b", 1, 4)}
	for _, b := range sends {
		if err := stream.Send(&proxyv1.StreamEventsRequest{Batch: b}); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if a := resp.GetAck(); a.GetBootId() != b.GetBootId() || a.GetSequence() != b.GetSequence() {
			t.Fatalf("ack %v for batch %s/%d", a, b.GetBootId(), b.GetSequence())
		}
		// Acknowledged means committed: the rows are readable now.
		if _, err := st.CountRequestLogs(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.CountRequestLogs(ctx); err != nil || n != 9 {
		t.Fatalf("stored %d events (%v), want 9: the re-sent batch boot-a/1 must be stored once", n, err)
	}
	d := fl.Dataplanes()
	if len(d) != 1 || d[0].GetEventBatches() != 3 || d[0].GetEventsStored() != 9 {
		t.Fatalf("fleet counters: %v", d)
	}
}

func TestInvalidBatches(t *testing.T) {
	cl, _, _ := setup(t)
	tests := []struct {
		desc string
		b    *proxyv1.EventBatch
	}{
		{desc: "no batch", b: nil},
		{desc: "no node", b: &proxyv1.EventBatch{BootId: "b", Sequence: 1}},
		{desc: "no boot", b: &proxyv1.EventBatch{NodeId: "n", Sequence: 1}},
		{desc: "sequence 0", b: &proxyv1.EventBatch{NodeId: "n", BootId: "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			stream, err := cl.StreamEvents(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(&proxyv1.StreamEventsRequest{Batch: tc.b}); err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("Recv: %v, want InvalidArgument", err)
			}
		})
	}
}

func TestValidateBoundsEveryKindOfEvent(t *testing.T) {
	batch := func(fill func(b *proxyv1.EventBatch, n int)) *proxyv1.EventBatch {
		b := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1}
		fill(b, MaxBatchEvents+1)
		return b
	}
	for name, b := range map[string]*proxyv1.EventBatch{
		"requests": batch(func(b *proxyv1.EventBatch, n int) { b.Requests = make([]*proxyv1.RequestEvent, n) }),
		"security": batch(func(b *proxyv1.EventBatch, n int) { b.Security = make([]*proxyv1.SecurityEvent, n) }),
		"mixed": batch(func(b *proxyv1.EventBatch, n int) {
			b.Requests = make([]*proxyv1.RequestEvent, n/2)
			b.Security = make([]*proxyv1.SecurityEvent, n-n/2)
		}),
	} {
		if err := validate(b); err == nil {
			t.Errorf("%s: a batch of %d events was accepted (limit %d)", name, MaxBatchEvents+1, MaxBatchEvents)
		}
	}
	ok := &proxyv1.EventBatch{NodeId: "n", BootId: "b", Sequence: 1, Security: make([]*proxyv1.SecurityEvent, MaxBatchEvents)}
	if err := validate(ok); err != nil {
		t.Errorf("a batch at the limit was refused: %v", err)
	}
}

// observerFunc adapts a function to Observer.
type observerFunc func(b *proxyv1.EventBatch, stored bool, took time.Duration, err error)

func (f observerFunc) ObserveBatch(b *proxyv1.EventBatch, stored bool, took time.Duration, err error) {
	f(b, stored, took, err)
}

func TestObserversSeeEveryBatchOnce(t *testing.T) {
	log := zaptest.NewLogger(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "proxy.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring := live.NewRing(10)
	var seen []bool
	obs := observerFunc(func(b *proxyv1.EventBatch, stored bool, took time.Duration, err error) {
		if err != nil || took <= 0 {
			t.Errorf("batch %d: took %v, err %v", b.GetSequence(), took, err)
		}
		seen = append(seen, stored)
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	proxyv1.RegisterEventServiceServer(srv, New(log, st, fleet.New(log), live.NewFeed(log, ring, nil), obs))
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := proxyv1.NewEventServiceClient(conn).StreamEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*proxyv1.EventBatch{batch("boot-a", 1, 3), batch("boot-a", 1, 3), batch("boot-a", 2, 2)} {
		if err := stream.Send(&proxyv1.StreamEventsRequest{Batch: b}); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	// Observed before the ack; the re-sent batch is seen as not stored and does not enter the ring twice.
	if !slices.Equal(seen, []bool{true, false, true}) || len(ring.Snapshot(0, nil)) != 5 {
		t.Fatalf("observed %v, ring holds %d", seen, len(ring.Snapshot(0, nil)))
	}
}
