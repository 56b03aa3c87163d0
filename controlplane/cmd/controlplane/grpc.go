package main

import (
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/admin"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/ingest"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/grpcauth"
)

// MaxMessageBytes raises gRPC's 4 MiB default: snapshots carry certificates and ban lists.
const MaxMessageBytes = 64 << 20

// newGRPCServer builds the token-guarded gRPC server with every service, reflection and health.
func newGRPCServer(log *zap.Logger, token string, fl *fleet.Fleet, saver ingest.Saver, rl admin.Reloader, bl *bans.Registry, obs ...ingest.Observer) (*grpc.Server, *health.Server) {
	opts := append(grpcauth.NewChecker(token).ServerOptions(),
		grpc.MaxRecvMsgSize(MaxMessageBytes),
		grpc.MaxSendMsgSize(MaxMessageBytes),
		// Data planes ping every 30 s to notice a dead control plane; allow it, with or without streams.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	)
	srv := grpc.NewServer(opts...)
	proxyv1.RegisterSnapshotServiceServer(srv, fl.Service())
	proxyv1.RegisterEventServiceServer(srv, ingest.New(log.Named("ingest"), bl.Saver(saver), fl, obs...))
	proxyv1.RegisterAdminServiceServer(srv, admin.New(fl, rl, bl))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	for _, svc := range []string{proxyv1.SnapshotService_ServiceDesc.ServiceName, proxyv1.EventService_ServiceDesc.ServiceName, proxyv1.AdminService_ServiceDesc.ServiceName} {
		hs.SetServingStatus(svc, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(srv)
	return srv, hs
}
