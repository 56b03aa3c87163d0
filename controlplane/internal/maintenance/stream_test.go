package maintenance

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// TestDataPlaneStreamReceivesTheList connects a data plane's snapshot stream over gRPC (loopback)
// to the fleet the manager publishes to: the list in force right after Hello, then every change.
func TestDataPlaneStreamReceivesTheList(t *testing.T) {
	e := newEnv(t)
	m := e.start(t, Options{})
	ctx := context.Background()
	if _, err := m.Add(ctx, Request{Route: panel, ScheduledEnd: t0.Add(time.Hour).Format(time.RFC3339)}, "test"); err != nil {
		t.Fatal(err)
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	proxyv1.RegisterSnapshotServiceServer(srv, e.fl.Service())
	go func() { _ = srv.Serve(lis) }() // returns when stopped
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := proxyv1.NewSnapshotServiceClient(conn).StreamSnapshots(sctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Hello{Hello: &proxyv1.Hello{NodeId: "dp-1", CurrentVersion: 1}}}); err != nil {
		t.Fatal(err)
	}
	next := func() *proxyv1.MaintenanceList {
		t.Helper()
		for {
			r, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if l := r.GetMaintenance(); l != nil {
				return l
			}
		}
	}
	l := next()
	if r := routesOf(l); len(r) != 1 || r[panel] != ReasonAdmin || !l.GetRoutes()[0].GetEndsAt().AsTime().Equal(t0.Add(time.Hour)) {
		t.Fatalf("on connect: %v", l)
	}
	if _, err := m.End(ctx, panel, "test"); err != nil {
		t.Fatal(err)
	}
	if l2 := next(); len(l2.GetRoutes()) != 0 || l2.GetVersion() <= l.GetVersion() {
		t.Fatalf("after DELETE: %v (before: version %d)", l2, l.GetVersion())
	}
}
