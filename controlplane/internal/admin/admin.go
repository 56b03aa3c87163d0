// Package admin is the gRPC AdminService that people call with grpcurl.
package admin

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Fleet is what the admin service reads about data planes and snapshots.
type Fleet interface {
	Dataplanes() []*proxyv1.Dataplane
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// Reloader re-reads the configuration on request.
type Reloader interface {
	Reload(ctx context.Context, source string) (changed bool, version uint64, errs []string)
}

// Service implements proxyv1.AdminServiceServer.
type Service struct {
	proxyv1.UnimplementedAdminServiceServer
	fleet    Fleet
	reloader Reloader
}

var _ proxyv1.AdminServiceServer = (*Service)(nil)

// New returns the admin service.
func New(fleet Fleet, reloader Reloader) *Service { return &Service{fleet: fleet, reloader: reloader} }

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

// Reload re-reads the configuration files now.
func (s *Service) Reload(ctx context.Context, _ *proxyv1.ReloadRequest) (*proxyv1.ReloadResponse, error) {
	changed, version, errs := s.reloader.Reload(ctx, "grpc")
	return &proxyv1.ReloadResponse{Changed: changed, Version: version, Errors: errs}, nil
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
