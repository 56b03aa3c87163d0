// Package admin is the gRPC AdminService that people call with grpcurl.
package admin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Fleet is what the admin service reads about data planes and snapshots.
type Fleet interface {
	Dataplanes() []*proxyv1.Dataplane
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// Reloader re-reads the configuration on request; user says who asked, for the audit trail.
type Reloader interface {
	ReloadBy(ctx context.Context, source, user string) (changed bool, version uint64, errs []string)
}

// Bans lists and lifts the bans in force; *bans.Registry is one.
type Bans interface {
	List() []*proxyv1.Ban
	Lift(ctx context.Context, ip, routeID, source, notes string) (int, error)
}

// Service implements proxyv1.AdminServiceServer.
type Service struct {
	proxyv1.UnimplementedAdminServiceServer
	fleet    Fleet
	reloader Reloader
	bans     Bans
}

var _ proxyv1.AdminServiceServer = (*Service)(nil)

// New returns the admin service.
func New(fleet Fleet, reloader Reloader, bans Bans) *Service {
	return &Service{fleet: fleet, reloader: reloader, bans: bans}
}

// ListDataplanes lists every data plane seen since the control plane started.
func (s *Service) ListDataplanes(context.Context, *proxyv1.ListDataplanesRequest) (*proxyv1.ListDataplanesResponse, error) {
	return &proxyv1.ListDataplanesResponse{Dataplanes: s.fleet.Dataplanes()}, nil
}

// GetSnapshot returns the current snapshot with secrets redacted.
func (s *Service) GetSnapshot(context.Context, *proxyv1.GetSnapshotRequest) (*proxyv1.GetSnapshotResponse, error) {
	snap, _ := s.fleet.Current()
	if snap == nil {
		return nil, status.Error(codes.Unavailable, "no configuration accepted yet")
	}
	return &proxyv1.GetSnapshotResponse{Snapshot: Redact(snap)}, nil
}

// ListRoutes lists the routes of the current snapshot.
func (s *Service) ListRoutes(context.Context, *proxyv1.ListRoutesRequest) (*proxyv1.ListRoutesResponse, error) {
	snap, _ := s.fleet.Current()
	if snap == nil {
		return nil, status.Error(codes.Unavailable, "no configuration accepted yet")
	}
	return &proxyv1.ListRoutesResponse{Version: snap.GetVersion(), Routes: Redact(snap).GetRoutes()}, nil
}

// Reload re-reads the configuration files now. The audit trail names the caller by its address;
// every call that reaches a handler held the admin token (grpcauth checks it first).
func (s *Service) Reload(ctx context.Context, _ *proxyv1.ReloadRequest) (*proxyv1.ReloadResponse, error) {
	changed, version, errs := s.reloader.ReloadBy(ctx, "grpc", Caller(ctx))
	return &proxyv1.ReloadResponse{Changed: changed, Version: version, Errors: errs}, nil
}

// ListBans lists the bans in force on every data plane.
func (s *Service) ListBans(context.Context, *proxyv1.ListBansRequest) (*proxyv1.ListBansResponse, error) {
	return &proxyv1.ListBansResponse{Bans: s.bans.List()}, nil
}

// LiftBan ends the bans of one client address now, and on every data plane within the coalescing
// delay of the ban registry.
func (s *Service) LiftBan(ctx context.Context, req *proxyv1.LiftBanRequest) (*proxyv1.LiftBanResponse, error) {
	var notes string
	if p, ok := peer.FromContext(ctx); ok {
		notes = "from " + p.Addr.String()
	}
	n, err := s.bans.Lift(ctx, req.GetClientIp(), req.GetRouteId(), "grpc", notes)
	switch {
	case errors.Is(err, bans.ErrBadAddress):
		return nil, status.Errorf(codes.InvalidArgument, "client_ip %q is not an IP address", req.GetClientIp())
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "lift ban: %v", err)
	}
	return &proxyv1.LiftBanResponse{Lifted: int32(n)}, nil
}

// Caller names the gRPC caller for the audit trail: its address, and that it held the admin
// token.
func Caller(ctx context.Context) string {
	addr := "unknown address"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	return "grpc " + addr + " (admin token)"
}

// Redact returns a copy of snap that is safe to show to a person: private keys are cleared. It
// always returns a copy, so callers cannot mutate the live snapshot through it.
func Redact(snap *proxyv1.Snapshot) *proxyv1.Snapshot {
	c := proto.Clone(snap).(*proxyv1.Snapshot)
	for _, cert := range c.GetCertificates() {
		if len(cert.GetPrivateKeyPem()) > 0 {
			cert.PrivateKeyPem = []byte("REDACTED")
		}
	}
	return c
}
