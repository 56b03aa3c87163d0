package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

var streamIDs atomic.Uint64

// Service is the gRPC SnapshotService backed by a Fleet.
type Service struct {
	proxyv1.UnimplementedSnapshotServiceServer
	f *Fleet
}

// Service returns the gRPC service for f.
func (f *Fleet) Service() *Service { return &Service{f: f} }

var _ proxyv1.SnapshotServiceServer = (*Service)(nil)

// StreamSnapshots implements the snapshot protocol described in the package doc.
func (s *Service) StreamSnapshots(stream grpc.BidiStreamingServer[proxyv1.StreamSnapshotsRequest, proxyv1.StreamSnapshotsResponse]) error {
	f := s.f
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil || hello.GetNodeId() == "" {
		return status.Error(codes.InvalidArgument, "the first message must be Hello with a node_id")
	}
	id := streamIDs.Add(1)
	var addr string
	if p, ok := peer.FromContext(stream.Context()); ok {
		addr = p.Addr.String()
	}
	log := f.log.With(zap.String("node", hello.GetNodeId()), zap.String("peer", addr))
	sent := f.connect(id, hello, addr)
	log.Info("data plane connected", zap.Uint64("holds_version", hello.GetCurrentVersion()), zap.String("binary_version", hello.GetBinaryVersion()))
	defer func() {
		f.disconnect(hello.GetNodeId(), id)
		log.Info("data plane disconnected")
	}()

	// A node that holds nothing (a new process) gets the current version once even if an earlier
	// process of the same node NACKed it: it may be a fixed binary, and one try per start is no loop.
	fresh := hello.GetCurrentVersion() == 0

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	recvErr := make(chan error, 1)
	go func() { recvErr <- f.receiveVerdicts(ctx, hello.GetNodeId(), stream, log) }()

	var sentBans *proxyv1.BanList
	var sentHealth *proxyv1.HealthList
	var sentMaint *proxyv1.MaintenanceList
	for {
		bans, bansChanged := f.Bans()
		if bans != nil && bans != sentBans {
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Bans: bans}); err != nil {
				return fmt.Errorf("send ban list %d to %s: %w", bans.GetVersion(), hello.GetNodeId(), err)
			}
			sentBans = bans
			log.Debug("ban list sent", zap.Uint64("ban_list_version", bans.GetVersion()), zap.Int("bans", len(bans.GetBans())))
		}
		health, healthChanged := f.Health()
		if health != nil && health != sentHealth {
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Health: health}); err != nil {
				return fmt.Errorf("send health list %d to %s: %w", health.GetVersion(), hello.GetNodeId(), err)
			}
			sentHealth = health
			log.Debug("health list sent", zap.Uint64("health_list_version", health.GetVersion()), zap.Int("backends", len(health.GetBackends())))
		}
		maint, maintChanged := f.Maintenance()
		if maint != nil && maint != sentMaint {
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Maintenance: maint}); err != nil {
				return fmt.Errorf("send maintenance list %d to %s: %w", maint.GetVersion(), hello.GetNodeId(), err)
			}
			sentMaint = maint
			log.Debug("maintenance list sent", zap.Uint64("maintenance_list_version", maint.GetVersion()), zap.Int("routes", len(maint.GetRoutes())))
		}
		snap, changed := f.Current()
		if snap != nil && snap.GetVersion() != sent && (fresh || f.shouldSend(hello.GetNodeId(), snap.GetVersion())) {
			if err := stream.Send(&proxyv1.StreamSnapshotsResponse{Snapshot: snap}); err != nil {
				return fmt.Errorf("send snapshot %d to %s: %w", snap.GetVersion(), hello.GetNodeId(), err)
			}
			sent, fresh = snap.GetVersion(), false
			log.Info("snapshot sent", zap.Uint64("version", sent))
		}
		select {
		case <-changed:
		case <-bansChanged:
		case <-healthChanged:
		case <-maintChanged:
		case err := <-recvErr:
			if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// receiveVerdicts records every Ack and Nack until the stream ends.
func (f *Fleet) receiveVerdicts(ctx context.Context, nodeID string, stream grpc.BidiStreamingServer[proxyv1.StreamSnapshotsRequest, proxyv1.StreamSnapshotsResponse], log *zap.Logger) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		switch {
		case msg.GetAck() != nil:
			f.ack(nodeID, msg.GetAck().GetVersion())
			log.Info("snapshot acknowledged", zap.Uint64("version", msg.GetAck().GetVersion()))
		case msg.GetNack() != nil:
			f.nack(nodeID, msg.GetNack().GetVersion(), msg.GetNack().GetReason())
			log.Error("snapshot rejected by data plane", zap.Uint64("version", msg.GetNack().GetVersion()), zap.String("reason", msg.GetNack().GetReason()))
		default:
			return status.Error(codes.InvalidArgument, "expected Ack or Nack after Hello")
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// connect registers a new stream for a node and returns the version it already holds.
func (f *Fleet) connect(streamID uint64, h *proxyv1.Hello, addr string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodeLocked(h.GetNodeId())
	now := f.now()
	n.stream, n.binaryVersion, n.peer = streamID, h.GetBinaryVersion(), addr
	n.connectedSince, n.lastSeen = now, now
	n.applied = h.GetCurrentVersion()
	return h.GetCurrentVersion()
}

// disconnect marks a node disconnected unless a newer stream of the same node took over.
func (f *Fleet) disconnect(nodeID string, streamID uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := f.nodes[nodeID]; n != nil && n.stream == streamID {
		n.stream = 0
		n.lastSeen = f.now()
	}
}

// shouldSend says whether version may go to the node: never a version it NACKed.
func (f *Fleet) shouldSend(nodeID string, version uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[nodeID]
	return n == nil || n.nackVersion != version
}

func (f *Fleet) ack(nodeID string, version uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodeLocked(nodeID)
	now := f.now()
	n.applied, n.lastAck, n.lastSeen = version, now, now
	if version >= n.nackVersion {
		n.nackVersion, n.nackReason = 0, ""
	}
}

func (f *Fleet) nack(nodeID string, version uint64, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodeLocked(nodeID)
	n.nackVersion, n.nackReason, n.lastSeen = version, reason, f.now()
}
