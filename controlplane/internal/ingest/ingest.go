// Package ingest receives event batches from the data planes and stores them.
//
// A batch is acknowledged only after it is committed; a batch committed before (the data plane
// re-sends what it has no ack for after a reconnect) is acknowledged again without being stored
// twice. The store decides that by (node_id, boot_id, sequence).
package ingest

import (
	"context"
	"errors"
	"io"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Saver commits one batch in one transaction; stored is false when the batch was already stored.
type Saver interface {
	SaveBatch(ctx context.Context, b *proxyv1.EventBatch) (stored bool, err error)
}

// Recorder is told about every batch, for the admin view of the fleet.
type Recorder interface {
	RecordBatch(nodeID string, events int, stored bool, dropped uint64)
}

// Observer is told about every batch after SaveBatch returned: whether it was stored now, how
// long storing took, and the error if it failed. The live log ring and the Prometheus metrics
// are observers. It runs on the stream's goroutine before the ack: it must be quick.
type Observer interface {
	ObserveBatch(b *proxyv1.EventBatch, stored bool, took time.Duration, err error)
}

// Service is the gRPC EventService.
type Service struct {
	proxyv1.UnimplementedEventServiceServer
	log       *zap.Logger
	saver     Saver
	rec       Recorder
	observers []Observer
}

var _ proxyv1.EventServiceServer = (*Service)(nil)

// New returns the event service; each observer is told about every batch.
func New(log *zap.Logger, saver Saver, rec Recorder, observers ...Observer) *Service {
	return &Service{log: log, saver: saver, rec: rec, observers: observers}
}

// MaxBatchEvents bounds one batch, so one message cannot make the control plane hold an unbounded
// transaction. The data plane sends at most 500.
const MaxBatchEvents = 10_000

// StreamEvents stores batches in the order they arrive and acknowledges each after commit.
func (s *Service) StreamEvents(stream grpc.BidiStreamingServer[proxyv1.StreamEventsRequest, proxyv1.StreamEventsResponse]) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return err
		}
		b := req.GetBatch()
		if err := validate(b); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		start := time.Now()
		stored, err := s.saver.SaveBatch(ctx, b)
		for _, o := range s.observers {
			o.ObserveBatch(b, stored, time.Since(start), err)
		}
		if err != nil {
			// No ack: the data plane keeps the batch and sends it again on its next stream.
			s.log.Error("store event batch", zap.String("node", b.GetNodeId()), zap.Uint64("sequence", b.GetSequence()), zap.Error(err))
			return status.Error(codes.Unavailable, "event batch not stored; send it again later")
		}
		s.rec.RecordBatch(b.GetNodeId(), len(b.GetRequests())+len(b.GetWebsockets())+len(b.GetSecurity()), stored, b.GetDroppedEvents())
		if b.GetDroppedEvents() > 0 && stored {
			s.log.Warn("data plane dropped events: its buffer was full", zap.String("node", b.GetNodeId()), zap.Uint64("dropped", b.GetDroppedEvents()))
		}
		if !stored {
			s.log.Debug("event batch already stored; acknowledged again", zap.String("node", b.GetNodeId()), zap.Uint64("sequence", b.GetSequence()))
		}
		ack := &proxyv1.StreamEventsResponse{Ack: &proxyv1.BatchAck{BootId: b.GetBootId(), Sequence: b.GetSequence()}}
		if err := stream.Send(ack); err != nil {
			return err
		}
	}
}

func validate(b *proxyv1.EventBatch) error {
	switch {
	case b == nil:
		return errors.New("empty request: want a batch")
	case b.GetNodeId() == "" || b.GetBootId() == "":
		return errors.New("batch without node_id or boot_id")
	case b.GetSequence() == 0:
		return errors.New("batch sequence must start at 1")
	case len(b.GetRequests())+len(b.GetWebsockets())+len(b.GetCircuits())+len(b.GetPools())+len(b.GetSecurity()) > MaxBatchEvents:
		return errors.New("batch too large")
	}
	return nil
}
