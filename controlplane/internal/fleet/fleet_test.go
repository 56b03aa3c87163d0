package fleet

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs the fleet's snapshot service on a loopback port for the test's lifetime.
func serve(t *testing.T, f *Fleet) proxyv1.SnapshotServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.WaitForHandlers(true)) // no handler logs after its test ended
	proxyv1.RegisterSnapshotServiceServer(srv, f.Service())
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); srv.Stop() })
	return proxyv1.NewSnapshotServiceClient(conn)
}

type dp struct {
	t      *testing.T
	stream grpc.BidiStreamingClient[proxyv1.StreamSnapshotsRequest, proxyv1.StreamSnapshotsResponse]
	cancel context.CancelFunc
	got    chan *proxyv1.Snapshot
	bans   chan *proxyv1.BanList
	health chan *proxyv1.HealthList
	maint  chan *proxyv1.MaintenanceList
}

// connect opens a stream as node id holding version and collects what the server sends.
func connect(t *testing.T, cl proxyv1.SnapshotServiceClient, id string, holds uint64) *dp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := cl.StreamSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &dp{t: t, stream: stream, cancel: cancel, got: make(chan *proxyv1.Snapshot, 10), bans: make(chan *proxyv1.BanList, 10), health: make(chan *proxyv1.HealthList, 10),
		maint: make(chan *proxyv1.MaintenanceList, 10)}
	if err := stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Hello{Hello: &proxyv1.Hello{NodeId: id, BinaryVersion: "test", CurrentVersion: holds}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			if r.GetBans() != nil {
				d.bans <- r.GetBans()
				continue
			}
			if r.GetHealth() != nil {
				d.health <- r.GetHealth()
				continue
			}
			if r.GetMaintenance() != nil {
				d.maint <- r.GetMaintenance()
				continue
			}
			d.got <- r.GetSnapshot()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func (d *dp) expect(version uint64) {
	d.t.Helper()
	select {
	case s := <-d.got:
		if s.GetVersion() != version {
			d.t.Fatalf("received version %d, want %d", s.GetVersion(), version)
		}
	case <-time.After(5 * time.Second):
		d.t.Fatalf("no snapshot received, want version %d", version)
	}
}

func (d *dp) expectNothing() {
	d.t.Helper()
	select {
	case s := <-d.got:
		d.t.Fatalf("received version %d, want nothing", s.GetVersion())
	case l := <-d.bans:
		d.t.Fatalf("received ban list %d, want nothing", l.GetVersion())
	case l := <-d.health:
		d.t.Fatalf("received health list %d, want nothing", l.GetVersion())
	case l := <-d.maint:
		d.t.Fatalf("received maintenance list %d, want nothing", l.GetVersion())
	case <-time.After(300 * time.Millisecond):
	}
}

func (d *dp) ack(v uint64) {
	d.t.Helper()
	if err := d.stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Ack{Ack: &proxyv1.Ack{Version: v}}}); err != nil {
		d.t.Fatal(err)
	}
}

func (d *dp) nack(v uint64, reason string) {
	d.t.Helper()
	if err := d.stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Nack{Nack: &proxyv1.Nack{Version: v, Reason: reason}}}); err != nil {
		d.t.Fatal(err)
	}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func nodeInfo(f *Fleet, id string) *proxyv1.Dataplane {
	for _, d := range f.Dataplanes() {
		if d.GetNodeId() == id {
			return d
		}
	}
	return nil
}

func TestAckNackProtocol(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	cl := serve(t, f)
	f.Publish(&proxyv1.Snapshot{Version: 1})

	a := connect(t, cl, "node-a", 0)
	a.expect(1)
	a.ack(1)
	eventually(t, "ack recorded", func() bool { n := nodeInfo(f, "node-a"); return n != nil && n.GetAppliedVersion() == 1 })

	f.Publish(&proxyv1.Snapshot{Version: 2})
	a.expect(2)
	a.nack(2, "certificate for x does not parse")
	eventually(t, "nack recorded", func() bool { return nodeInfo(f, "node-a").GetNackReason() != "" })
	n := nodeInfo(f, "node-a")
	if n.GetAppliedVersion() != 1 || n.GetNackVersion() != 2 || n.GetNackReason() != "certificate for x does not parse" || !n.GetConnected() || n.GetLag() != 1 {
		t.Fatalf("after nack: %v", n)
	}

	// Reconnecting while holding 1 must not bring the NACKed version 2 back: no retry loop.
	a.cancel()
	eventually(t, "disconnect recorded", func() bool { return !nodeInfo(f, "node-a").GetConnected() })
	a2 := connect(t, cl, "node-a", 1)
	a2.expectNothing()

	// The next accepted change is sent, and its ack clears the NACK.
	f.Publish(&proxyv1.Snapshot{Version: 3})
	a2.expect(3)
	a2.ack(3)
	eventually(t, "nack cleared", func() bool { n := nodeInfo(f, "node-a"); return n.GetAppliedVersion() == 3 && n.GetNackReason() == "" })
}

func TestFreshProcessGetsNackedVersionOnce(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	cl := serve(t, f)
	f.Publish(&proxyv1.Snapshot{Version: 7})
	a := connect(t, cl, "node-a", 0)
	a.expect(7)
	a.nack(7, "bad")
	eventually(t, "nack recorded", func() bool { return nodeInfo(f, "node-a").GetNackVersion() == 7 })
	a.cancel()
	// A restarted process holds nothing: it gets one try, not a loop.
	b := connect(t, cl, "node-a", 0)
	b.expect(7)
	b.nack(7, "bad")
	b.expectNothing()
}

func TestUpToDateNodeGetsNothing(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	cl := serve(t, f)
	f.Publish(&proxyv1.Snapshot{Version: 4})
	a := connect(t, cl, "node-a", 4)
	a.expectNothing()
	if f.Publish(&proxyv1.Snapshot{Version: 4}) {
		t.Fatal("Publish accepted a version that is not newer")
	}
}

func TestFirstMessageMustBeHello(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	cl := serve(t, f)
	stream, err := cl.StreamSnapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Ack{Ack: &proxyv1.Ack{Version: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Fatal("stream without Hello was accepted")
	}
}

func TestRecordBatch(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	f.RecordBatch("n", 500, true, 3)
	f.RecordBatch("n", 500, false, 3) // a re-sent batch counts once
	n := nodeInfo(f, "n")
	if n.GetEventBatches() != 1 || n.GetEventsStored() != 500 || n.GetEventsDropped() != 3 {
		t.Fatalf("counters: %v", n)
	}
}

func (d *dp) expectBans(version uint64) {
	d.t.Helper()
	select {
	case l := <-d.bans:
		if l.GetVersion() != version {
			d.t.Fatalf("received ban list %d, want %d", l.GetVersion(), version)
		}
	case <-time.After(5 * time.Second):
		d.t.Fatalf("no ban list received, want version %d", version)
	}
}

func TestBanListsAreSentAndNeverAcknowledged(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	cl := serve(t, f)
	f.Publish(&proxyv1.Snapshot{Version: 1})

	// Before the registry publishes, streams carry no ban list.
	early := connect(t, cl, "node-early", 1)
	early.expectNothing()
	f.PublishBans(&proxyv1.BanList{Version: 10})
	early.expectBans(10)

	// A node that holds the current snapshot gets the bans right after Hello, and no snapshot.
	a := connect(t, cl, "node-a", 1)
	a.expectBans(10)
	a.expectNothing()
	// A new node gets the bans, then the snapshot.
	b := connect(t, cl, "node-b", 0)
	b.expectBans(10)
	b.expect(1)
	b.ack(1)

	f.PublishBans(&proxyv1.BanList{Version: 11, Bans: []*proxyv1.Ban{{ClientIp: "203.0.113.7"}}})
	for _, d := range []*dp{early, a, b} {
		d.expectBans(11)
	}
	// A snapshot after a ban list still follows the snapshot rules.
	f.Publish(&proxyv1.Snapshot{Version: 2})
	b.expect(2)
	b.ack(2)
	eventually(t, "ack recorded", func() bool { return nodeInfo(f, "node-b").GetAppliedVersion() == 2 })
	select {
	case l := <-b.bans:
		t.Fatalf("ban list %d sent again", l.GetVersion())
	case <-time.After(100 * time.Millisecond):
	}
}

func (d *dp) expectHealth(version uint64) {
	d.t.Helper()
	select {
	case l := <-d.health:
		if l.GetVersion() != version {
			d.t.Fatalf("received health list %d, want %d", l.GetVersion(), version)
		}
	case <-time.After(5 * time.Second):
		d.t.Fatalf("no health list received, want version %d", version)
	}
}

func TestHealthListsAreSentOnConnectAndOnChange(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	cl := serve(t, f)
	f.Publish(&proxyv1.Snapshot{Version: 1})

	// Before the checker publishes, streams carry no health list.
	early := connect(t, cl, "node-early", 1)
	early.expectNothing()
	f.PublishHealth(&proxyv1.HealthList{Version: 5, Backends: []*proxyv1.BackendHealth{{RouteId: "a.example/", State: "healthy"}}})
	early.expectHealth(5)

	// A (re)connecting node gets the latest list right after Hello, then the snapshot.
	b := connect(t, cl, "node-b", 0)
	b.expectHealth(5)
	b.expect(1)
	b.ack(1)

	f.PublishHealth(&proxyv1.HealthList{Version: 6, Backends: []*proxyv1.BackendHealth{{RouteId: "a.example/", State: "down"}}})
	for _, d := range []*dp{early, b} {
		d.expectHealth(6)
	}
	// Ban lists and snapshots go on independently; the health list is not sent again.
	f.PublishBans(&proxyv1.BanList{Version: 10})
	f.Publish(&proxyv1.Snapshot{Version: 2})
	b.expectBans(10)
	b.expect(2)
	select {
	case l := <-b.health:
		t.Fatalf("health list %d sent again", l.GetVersion())
	case <-time.After(100 * time.Millisecond):
	}
	if l, _ := f.Health(); l.GetVersion() != 6 {
		t.Fatalf("Health() = version %d, want 6", l.GetVersion())
	}
}

func (d *dp) expectMaintenance(version uint64) *proxyv1.MaintenanceList {
	d.t.Helper()
	select {
	case l := <-d.maint:
		if l.GetVersion() != version {
			d.t.Fatalf("received maintenance list %d, want %d", l.GetVersion(), version)
		}
		return l
	case <-time.After(5 * time.Second):
		d.t.Fatalf("no maintenance list received, want version %d", version)
	}
	return nil
}

func TestMaintenanceListsAreSentOnConnectAndOnChange(t *testing.T) {
	f := New(zaptest.NewLogger(t))
	cl := serve(t, f)
	f.Publish(&proxyv1.Snapshot{Version: 1})

	early := connect(t, cl, "node-early", 1)
	early.expectNothing()
	f.PublishMaintenance(&proxyv1.MaintenanceList{Version: 1, Routes: []*proxyv1.Maintenance{{RouteId: "a.example/", Reason: "admin"}}})
	if l := early.expectMaintenance(1); l.GetRoutes()[0].GetRouteId() != "a.example/" {
		t.Fatalf("list %v", l)
	}
	// A (re)connecting node gets the latest list right after Hello, before the snapshot.
	b := connect(t, cl, "node-b", 0)
	b.expectMaintenance(1)
	b.expect(1)
	b.ack(1)

	f.PublishMaintenance(&proxyv1.MaintenanceList{Version: 2})
	for _, d := range []*dp{early, b} {
		if l := d.expectMaintenance(2); len(l.GetRoutes()) != 0 {
			t.Fatalf("list %v, want empty", l)
		}
	}
	f.Publish(&proxyv1.Snapshot{Version: 2})
	b.expect(2)
	select {
	case l := <-b.maint:
		t.Fatalf("maintenance list %d sent again", l.GetVersion())
	case <-time.After(100 * time.Millisecond):
	}
}
