package e2e

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// fakeControlPlane speaks the contract from pkg/gen and sends the snapshots the test gives it, so a
// test can feed the real data plane a snapshot the real control plane would never build.
type fakeControlPlane struct {
	proxyv1.UnimplementedSnapshotServiceServer
	proxyv1.UnimplementedEventServiceServer
	send     chan *proxyv1.Snapshot
	verdicts chan *proxyv1.StreamSnapshotsRequest
}

func (f *fakeControlPlane) StreamSnapshots(stream grpc.BidiStreamingServer[proxyv1.StreamSnapshotsRequest, proxyv1.StreamSnapshotsResponse]) error {
	if m, err := stream.Recv(); err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			f.verdicts <- m
		}
	}()
	for {
		select {
		case s := <-f.send:
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Snapshot: s}); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (f *fakeControlPlane) StreamEvents(stream grpc.BidiStreamingServer[proxyv1.StreamEventsRequest, proxyv1.StreamEventsResponse]) error {
	for {
		m, err := stream.Recv()
		if err != nil {
			return nil
		}
		b := m.GetBatch()
		if err := stream.Send(&proxyv1.StreamEventsResponse{Ack: &proxyv1.BatchAck{BootId: b.GetBootId(), Sequence: b.GetSequence()}}); err != nil {
			return err
		}
	}
}

func (f *fakeControlPlane) verdict(t *testing.T) *proxyv1.StreamSnapshotsRequest {
	t.Helper()
	select {
	case v := <-f.verdicts:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no Ack or Nack from the data plane")
		return nil
	}
}

func route(host, backendURL string) *proxyv1.Route {
	return &proxyv1.Route{Id: host + "/", Site: host, Hosts: []string{host}, PathPrefix: "/", BackendUrl: backendURL}
}

// Checked by 8: the data plane NACKs a snapshot it cannot apply, with the reason, and keeps serving
// the previous one. (That ListDataplanes then shows the reason is tested against the real control
// plane's fleet in controlplane/internal/fleet.)
func TestNackKeepsPreviousSnapshot(t *testing.T) {
	a, b := backend(t, "A"), backend(t, "B")
	cl := newCluster(t, "{}\n", nil)
	lis, err := net.Listen("tcp", cl.grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeControlPlane{send: make(chan *proxyv1.Snapshot, 1), verdicts: make(chan *proxyv1.StreamSnapshotsRequest, 4)}
	srv := grpc.NewServer()
	proxyv1.RegisterSnapshotServiceServer(srv, fake)
	proxyv1.RegisterEventServiceServer(srv, fake)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	fake.send <- &proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{route("a.test", a.URL)}}
	cl.launchDP("node-nack")
	if v := fake.verdict(t); v.GetAck().GetVersion() != 1 {
		t.Fatalf("verdict on version 1: %v, want Ack", v)
	}

	// Version 2 cannot be applied: a backend URL with a scheme the proxy does not speak.
	fake.send <- &proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{route("a.test", "ftp://files.example")}}
	v := fake.verdict(t)
	if v.GetNack().GetVersion() != 2 || v.GetNack().GetReason() == "" {
		t.Fatalf("verdict on version 2: %v, want Nack with a reason", v)
	}
	t.Logf("nack reason: %s", v.GetNack().GetReason())
	eventually(t, 20*time.Second, "data plane ready", func() error { return httpStatus(cl.client, "http://"+cl.opsAddr+"/health/ready", 200) })
	for i := 0; i < 10; i++ {
		_, body, err := get(context.Background(), cl.client, cl.httpAddr, "a.test", "/")
		if err != nil || !strings.HasPrefix(body, "backend=A") {
			t.Fatalf("after the NACK: %q %v; want version 1 still serving backend A", body, err)
		}
	}

	// The next good version is applied.
	fake.send <- &proxyv1.Snapshot{Version: 3, Routes: []*proxyv1.Route{route("a.test", b.URL)}}
	if v := fake.verdict(t); v.GetAck().GetVersion() != 3 {
		t.Fatalf("verdict on version 3: %v, want Ack", v)
	}
	_, body, err := get(context.Background(), cl.client, cl.httpAddr, "a.test", "/")
	if err != nil || !strings.HasPrefix(body, "backend=B") {
		t.Fatalf("after version 3: %q %v; want backend B", body, err)
	}
}
