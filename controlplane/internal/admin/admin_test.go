package admin

import (
	"context"
	"net"
	"testing"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

type reloadFunc func(ctx context.Context, source, user string) (bool, uint64, []string)

func (f reloadFunc) ReloadBy(ctx context.Context, source, user string) (bool, uint64, []string) {
	return f(ctx, source, user)
}

func TestService(t *testing.T) {
	fl := fleet.New(zaptest.NewLogger(t))
	var sources, users []string
	svc := New(fl, reloadFunc(func(_ context.Context, source, user string) (bool, uint64, []string) {
		sources, users = append(sources, source), append(users, user)
		return false, 0, []string{"a.yaml:1:1: bad"}
	}), nil)
	ctx := context.Background()

	if _, err := svc.GetSnapshot(ctx, &proxyv1.GetSnapshotRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("GetSnapshot before any configuration: %v, want Unavailable", err)
	}
	if _, err := svc.ListRoutes(ctx, &proxyv1.ListRoutesRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("ListRoutes before any configuration: %v, want Unavailable", err)
	}

	live := &proxyv1.Snapshot{Version: 5, Routes: []*proxyv1.Route{{Id: "a.test/", Hosts: []string{"a.test"}, PathPrefix: "/", BackendUrl: "http://a"}},
		Certificates: []*proxyv1.Certificate{{Name: "a.test", CertChainPem: []byte("CERT"), PrivateKeyPem: []byte("-----BEGIN PRIVATE KEY-----secret")}}}
	fl.Publish(live)
	got, err := svc.GetSnapshot(ctx, &proxyv1.GetSnapshotRequest{})
	if err != nil || got.GetSnapshot().GetVersion() != 5 {
		t.Fatalf("GetSnapshot: %v %v", got, err)
	}
	if c := got.GetSnapshot().GetCertificates()[0]; string(c.GetPrivateKeyPem()) != "REDACTED" || string(c.GetCertChainPem()) != "CERT" {
		t.Fatalf("GetSnapshot certificate = %v; want the key redacted and the chain kept", c)
	}
	if string(live.GetCertificates()[0].GetPrivateKeyPem()) == "REDACTED" {
		t.Fatal("redaction changed the live snapshot")
	}
	got.GetSnapshot().Routes[0].BackendUrl = "mutated"
	if live.GetRoutes()[0].GetBackendUrl() != "http://a" {
		t.Fatal("GetSnapshot returned the live snapshot, not a copy")
	}
	routes, err := svc.ListRoutes(ctx, &proxyv1.ListRoutesRequest{})
	if err != nil || routes.GetVersion() != 5 || len(routes.GetRoutes()) != 1 {
		t.Fatalf("ListRoutes: %v %v", routes, err)
	}

	caller := peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 41000}})
	rr, err := svc.Reload(caller, &proxyv1.ReloadRequest{})
	if err != nil || rr.GetChanged() || len(rr.GetErrors()) != 1 || len(sources) != 1 || sources[0] != "grpc" {
		t.Fatalf("Reload: %v %v (sources %v)", rr, err, sources)
	}
	if users[0] != "grpc 10.0.0.7:41000 (admin token)" {
		t.Fatalf("Reload audited as %q", users[0])
	}
}
