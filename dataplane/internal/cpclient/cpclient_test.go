package cpclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/edge"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCP speaks the contract: it sends the snapshots it is given, records verdicts and hellos, and
// stores event batches idempotently by (boot, sequence), like the real control plane.
type fakeCP struct {
	proxyv1.UnimplementedSnapshotServiceServer
	proxyv1.UnimplementedEventServiceServer
	snapshots chan *proxyv1.Snapshot
	banLists  chan *proxyv1.BanList
	health    chan *proxyv1.HealthList
	maint     chan *proxyv1.MaintenanceList
	verdicts  chan *proxyv1.StreamSnapshotsRequest
	hellos    chan *proxyv1.Hello

	mu sync.Mutex
	// helloBans, if set, is sent right after every Hello, as the control plane sends its bans.
	helloBans *proxyv1.BanList
	batches   map[string]*proxyv1.EventBatch
	received  int // batches received, re-sent ones included
	streams   int
	// dropAfterStore makes the first event stream fail right after storing this many batches,
	// before acknowledging the last: a crash between commit and ack.
	dropAfterStore int
}

func newFakeCP() *fakeCP {
	return &fakeCP{
		snapshots: make(chan *proxyv1.Snapshot, 4), banLists: make(chan *proxyv1.BanList, 4), health: make(chan *proxyv1.HealthList, 4), maint: make(chan *proxyv1.MaintenanceList, 4), verdicts: make(chan *proxyv1.StreamSnapshotsRequest, 4),
		hellos: make(chan *proxyv1.Hello, 4), batches: make(map[string]*proxyv1.EventBatch),
	}
}

func (f *fakeCP) StreamSnapshots(stream grpc.BidiStreamingServer[proxyv1.StreamSnapshotsRequest, proxyv1.StreamSnapshotsResponse]) error {
	m, err := stream.Recv()
	if err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	f.hellos <- m.GetHello()
	f.mu.Lock()
	hb := f.helloBans
	f.mu.Unlock()
	if hb != nil {
		if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Bans: hb}); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			f.verdicts <- m
		}
	}()
	for {
		select {
		case s, ok := <-f.snapshots:
			if !ok {
				return errors.New("control plane going away")
			}
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Snapshot: s}); err != nil {
				return err
			}
		case l := <-f.banLists:
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Bans: l}); err != nil {
				return err
			}
		case l := <-f.health:
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Health: l}); err != nil {
				return err
			}
		case l := <-f.maint:
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Maintenance: l}); err != nil {
				return err
			}
		case <-errc:
			return nil
		}
	}
}

func (f *fakeCP) StreamEvents(stream grpc.BidiStreamingServer[proxyv1.StreamEventsRequest, proxyv1.StreamEventsResponse]) error {
	f.mu.Lock()
	f.streams++
	first := f.streams == 1
	f.mu.Unlock()
	stored := 0
	for {
		m, err := stream.Recv()
		if err != nil {
			return nil
		}
		b := m.GetBatch()
		f.mu.Lock()
		f.received++
		f.batches[fmt.Sprintf("%s/%d", b.GetBootId(), b.GetSequence())] = b
		f.mu.Unlock()
		stored++
		if first && stored == f.dropAfterStore {
			return errors.New("crashed after commit, before ack")
		}
		if err := stream.Send(&proxyv1.StreamEventsResponse{Ack: &proxyv1.BatchAck{BootId: b.GetBootId(), Sequence: b.GetSequence()}}); err != nil {
			return err
		}
	}
}

// events returns every stored event once, and the total of dropped counts reported.
func (f *fakeCP) stored() (ids map[string]int, dropped uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids = make(map[string]int)
	for _, b := range f.batches {
		for _, e := range b.GetRequests() {
			ids[e.GetRequestId()]++
		}
		dropped += b.GetDroppedEvents()
	}
	return ids, dropped
}

type harness struct {
	cp     *fakeCP
	client *Client
	queue  *events.Queue
	holder *edge.Holder
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// start runs a fake control plane and a client against it on loopback.
func start(t *testing.T, cp *fakeCP, queue *events.Queue, opts Options) *harness {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	proxyv1.RegisterSnapshotServiceServer(srv, cp)
	proxyv1.RegisterEventServiceServer(srv, cp)
	go srv.Serve(lis)
	conn, err := Dial(lis.Addr().String(), "test-token-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	pools := proxy.NewPools(proxy.Options{})
	h := &harness{cp: cp, queue: queue, holder: &edge.Holder{}}
	opts.NodeID = "node-1"
	h.client = New(zaptest.NewLogger(t), conn, &edge.Applier{Holder: h.holder, Pools: pools}, queue, opts)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done.Add(2)
	go func() { defer h.done.Done(); h.client.RunSnapshots(ctx) }()
	go func() { defer h.done.Done(); h.client.RunEvents(ctx) }()
	t.Cleanup(func() {
		cancel()
		h.done.Wait()
		conn.Close()
		srv.Stop()
		pools.Close()
	})
	return h
}

func snap(v uint64, backend string) *proxyv1.Snapshot {
	return &proxyv1.Snapshot{Version: v, Routes: []*proxyv1.Route{{Id: "a.test/", Hosts: []string{"a.test"}, PathPrefix: "/", BackendUrl: backend}}}
}

func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func TestSnapshotsAckNackAndReconnect(t *testing.T) {
	cp := newFakeCP()
	h := start(t, cp, events.NewQueue(1000), Options{})
	if hello := wait(t, cp.hellos, "hello"); hello.GetCurrentVersion() != 0 || hello.GetNodeId() != "node-1" {
		t.Fatalf("first hello: %v", hello)
	}

	cp.snapshots <- snap(1, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 1"); v.GetAck().GetVersion() != 1 {
		t.Fatalf("verdict on 1: %v, want Ack", v)
	}
	cp.snapshots <- snap(2, "ftp://files.example")
	v := wait(t, cp.verdicts, "verdict on 2")
	if v.GetNack().GetVersion() != 2 || v.GetNack().GetReason() == "" {
		t.Fatalf("verdict on 2: %v, want Nack with a reason", v)
	}
	if got := h.client.Version(); got != 1 || h.holder.Load().Version() != 1 {
		t.Fatalf("after the Nack: serving %d (runtime %d), want 1", got, h.holder.Load().Version())
	}
	cp.snapshots <- snap(3, "http://127.0.0.1:9")
	if v := wait(t, cp.verdicts, "verdict on 3"); v.GetAck().GetVersion() != 3 || h.client.Version() != 3 {
		t.Fatalf("verdict on 3: %v (serving %d), want Ack", v, h.client.Version())
	}

	// The control plane goes away; the client comes back and says what it holds.
	close(cp.snapshots)
	if hello := wait(t, cp.hellos, "hello after reconnect"); hello.GetCurrentVersion() != 3 {
		t.Fatalf("hello after reconnect holds %d, want 3", hello.GetCurrentVersion())
	}
	if h.holder.Load().Version() != 3 {
		t.Fatal("the runtime changed while the control plane was away")
	}
}

func TestEventsResentAfterCrashStoredOnce(t *testing.T) {
	cp := newFakeCP()
	cp.dropAfterStore = 2
	q := events.NewQueue(10_000)
	const n = 1234
	for i := 0; i < n; i++ {
		q.Push(&proxyv1.RequestEvent{RequestId: fmt.Sprintf("r%04d", i)})
	}
	h := start(t, cp, q, Options{BatchSize: 100, FlushEvery: 50 * time.Millisecond, Window: 4})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ev, b := h.client.Pending(); ev == 0 && b == 0 {
			break
		}
		if time.Now().After(deadline) {
			ev, b := h.client.Pending()
			t.Fatalf("still pending: %d events, %d batches", ev, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ids, _ := cp.stored()
	if len(ids) != n {
		t.Fatalf("stored %d distinct events, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Fatalf("event %s stored in %d batches, want 1", id, c)
		}
	}
	cp.mu.Lock()
	received, streams := cp.received, cp.streams
	cp.mu.Unlock()
	if streams < 2 || received <= len(cp.batches) {
		t.Fatalf("%d streams, %d batches received for %d distinct: the unacknowledged batch was not re-sent", streams, received, len(cp.batches))
	}
}

func TestFlushSendsPartialBatchAndReportsDrops(t *testing.T) {
	cp := newFakeCP()
	q := events.NewQueue(10)
	for i := 0; i < 15; i++ { // 5 too many: the 5 oldest are dropped
		q.Push(&proxyv1.RequestEvent{RequestId: fmt.Sprintf("r%02d", i)})
	}
	h := start(t, cp, q, Options{FlushEvery: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.client.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	ids, dropped := cp.stored()
	if len(ids) != 10 || dropped != 5 {
		t.Fatalf("stored %d events with %d reported dropped, want 10 and 5", len(ids), dropped)
	}
	if _, ok := ids["r14"]; !ok {
		t.Fatal("the newest event was not delivered: the queue must drop the oldest")
	}
}

func TestFlushGivesUpWhenControlPlaneUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens here
	conn, err := Dial(addr, "test-token-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := events.NewQueue(1000)
	q.Push(&proxyv1.RequestEvent{RequestId: "lost"})
	c := New(zaptest.NewLogger(t), conn, &edge.Applier{Holder: &edge.Holder{}, Pools: proxy.NewPools(proxy.Options{})}, q, Options{NodeID: "n"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.RunEvents(ctx); close(done) }()
	fctx, fcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer fcancel()
	err = c.Flush(fctx)
	cancel()
	<-done
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want a deadline error that says what was not delivered", err)
	}
}

func TestCircuitEventsAndPoolStatsShipped(t *testing.T) {
	cp := newFakeCP()
	q := events.NewQueue(1000)
	q.PushCircuit(&proxyv1.CircuitEvent{Backend: "http://b:80", From: "closed", To: "open"})
	stats := func(now time.Time) []*proxyv1.PoolStats {
		return []*proxyv1.PoolStats{{Backend: "http://b:80", Active: 1}}
	}
	start(t, cp, q, Options{PoolStats: stats, StatsEvery: 50 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp.mu.Lock()
		var circuits, pools int
		for _, b := range cp.batches {
			circuits += len(b.GetCircuits())
			pools += len(b.GetPools())
		}
		cp.mu.Unlock()
		if circuits == 1 && pools >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shipped %d circuit events and %d pool reports; want 1 and at least 2", circuits, pools)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
