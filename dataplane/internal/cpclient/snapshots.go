package cpclient

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// RunSnapshots receives snapshots until ctx ends, reconnecting as needed.
func (c *Client) RunSnapshots(ctx context.Context) {
	c.retry(ctx, "snapshot", c.snapshotStream)
}

// snapshotStream runs one stream: Hello, then apply each snapshot and answer Ack or Nack, and hand
// each ban list, health list and maintenance list to its setter, without an answer.
func (c *Client) snapshotStream(ctx context.Context) error {
	cl := proxyv1.NewSnapshotServiceClient(c.conn)
	stream, err := cl.StreamSnapshots(ctx, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("open snapshot stream: %w", err)
	}
	hello := &proxyv1.Hello{NodeId: c.opts.NodeID, BinaryVersion: c.opts.BinaryVersion, CurrentVersion: c.version.Load()}
	if err := stream.Send(&proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Hello{Hello: hello}}); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if l := resp.GetBans(); l != nil {
			if c.opts.Bans != nil {
				c.opts.Bans.SetBans(l)
			}
			c.log.Debug("ban list received", zap.Uint64("ban_list_version", l.GetVersion()), zap.Int("bans", len(l.GetBans())))
			continue
		}
		if l := resp.GetHealth(); l != nil {
			if c.opts.Health != nil {
				c.opts.Health.SetHealth(l)
			}
			c.log.Debug("health list received", zap.Uint64("health_list_version", l.GetVersion()), zap.Int("backends", len(l.GetBackends())))
			continue
		}
		if l := resp.GetMaintenance(); l != nil {
			if c.opts.Maintenance != nil {
				c.opts.Maintenance.SetMaintenance(l)
			}
			c.log.Info("maintenance list received", zap.Uint64("maintenance_list_version", l.GetVersion()), zap.Int("routes", len(l.GetRoutes())))
			continue
		}
		snap := resp.GetSnapshot()
		v := snap.GetVersion()
		var reply *proxyv1.StreamSnapshotsRequest
		if err := c.applier.Apply(snap); err != nil {
			c.log.Error("snapshot rejected; the previous one keeps serving", zap.Uint64("version", v),
				zap.Uint64("serving", c.version.Load()), zap.Error(err))
			reply = &proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Nack{Nack: &proxyv1.Nack{Version: v, Reason: err.Error()}}}
		} else {
			c.version.Store(v)
			c.log.Info("snapshot applied", zap.Uint64("version", v), zap.Int("routes", len(snap.GetRoutes())))
			reply = &proxyv1.StreamSnapshotsRequest{Kind: &proxyv1.StreamSnapshotsRequest_Ack{Ack: &proxyv1.Ack{Version: v}}}
		}
		if err := stream.Send(reply); err != nil {
			return fmt.Errorf("answer snapshot %d: %w", v, err)
		}
	}
}
