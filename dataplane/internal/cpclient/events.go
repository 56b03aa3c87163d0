package cpclient

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// outbox holds the batches sent but not yet acknowledged, oldest first. They are re-sent on every
// new stream until acknowledged; the control plane recognises a batch it already stored.
//
// An acknowledged batch's request events are recycled (events.RecycleRequests), but not by ack:
// an ack can come while the sender is marshalling the same batch again (a late ack read on the
// previous stream while the next one re-sends, or any ack during a re-send), so ack only moves
// the batch to acked, and the sender recycles it with release between two Sends. gRPC's SendMsg
// encodes the message before it returns; a transparent retry re-sends the encoded bytes, and only
// tracing (grpc.EnableTracing) or a stats handler, neither of which Dial sets up, would look at
// the message again. So after Send nothing reads the batch.
type outbox struct {
	mu       sync.Mutex
	pending  []*proxyv1.EventBatch
	acked    []*proxyv1.EventBatch // acknowledged, their request events not yet recycled
	seq      uint64
	flushing atomic.Bool
	// recycle takes the request events of acknowledged batches: events.RecycleRequests, or a
	// test's counter.
	recycle func([]*proxyv1.RequestEvent)
}

func newOutbox() *outbox { return &outbox{recycle: events.RecycleRequests} }

func (o *outbox) add(b *proxyv1.EventBatch) {
	o.mu.Lock()
	o.pending = append(o.pending, b)
	o.mu.Unlock()
}

func (o *outbox) nextSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	return o.seq
}

// unseq gives back the sequence number nextSeq just handed out, for a batch that is not sent.
func (o *outbox) unseq() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq--
}

// ack takes the batch seq out of the pending ones, for release to recycle its request events.
// A second ack of the same batch, or one of a batch never sent, finds nothing: a batch is moved
// to acked once, so its events are recycled once.
func (o *outbox) ack(seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, b := range o.pending {
		if b.GetSequence() == seq {
			o.pending = append(o.pending[:i:i], o.pending[i+1:]...)
			o.acked = append(o.acked, b)
			return
		}
	}
}

// release recycles the request events of the acknowledged batches. Only the sender calls it,
// and never during a Send: that is what makes it safe (see outbox).
func (o *outbox) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, b := range o.acked {
		o.recycle(b.Requests)
		b.Requests = nil
		o.acked[i] = nil
	}
	o.acked = o.acked[:0]
}

func (o *outbox) all() []*proxyv1.EventBatch {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*proxyv1.EventBatch(nil), o.pending...)
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// RunEvents ships events until ctx ends, reconnecting as needed. Call Flush before cancelling ctx
// to deliver what is still buffered.
func (c *Client) RunEvents(ctx context.Context) {
	c.retry(ctx, "event", c.eventStream)
}

// Pending returns the number of events buffered and batches awaiting acknowledgement.
func (c *Client) Pending() (events, batches int) { return c.queue.Len(), c.events.len() }

// Flush sends everything buffered without waiting for full batches, and returns when all of it is
// acknowledged or ctx ends (then it says how much was not delivered).
func (c *Client) Flush(ctx context.Context) error {
	c.events.flushing.Store(true)
	defer c.events.flushing.Store(false)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		events, batches := c.Pending()
		if events == 0 && batches == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("flush events: %d buffered and %d batches unacknowledged: %w", events, batches, ctx.Err())
		case <-t.C:
		}
	}
}

// tick is how often the sender looks at the queue: it bounds how late a full batch leaves.
const tick = 100 * time.Millisecond

// eventStream runs one stream: re-send unacknowledged batches, then batch and send new events.
// RunEvents runs them one after another, never two at once: they are the only sender, which
// outbox.release relies on.
func (c *Client) eventStream(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // also ends the ack reader below
	stream, err := proxyv1.NewEventServiceClient(c.conn).StreamEvents(sctx, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("open event stream: %w", err)
	}
	ackErr := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				ackErr <- err
				return
			}
			if a := resp.GetAck(); a.GetBootId() == c.bootID {
				c.events.ack(a.GetSequence())
			}
		}
	}()
	resent := c.events.all()
	for _, b := range resent {
		if err := stream.Send(&proxyv1.StreamEventsRequest{Batch: b}); err != nil {
			return fmt.Errorf("re-send batch %d: %w", b.GetSequence(), err)
		}
	}
	if len(resent) > 0 {
		c.log.Info("re-sent unacknowledged event batches", zap.Int("batches", len(resent)))
	}

	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-ackErr:
			return err
		case <-t.C:
		}
		c.events.release() // no Send is under way
		for c.events.len() < c.opts.Window {
			n := c.queue.Len()
			statsDue := c.opts.PoolStats != nil && time.Since(c.lastStats) >= c.opts.StatsEvery
			systemDue := c.opts.System != nil && time.Since(c.lastSystem) >= c.opts.SystemEvery
			due := statsDue || systemDue || n >= c.opts.BatchSize || (n > 0 && (time.Since(last) >= c.opts.FlushEvery || c.events.flushing.Load()))
			if !due {
				break
			}
			b := &proxyv1.EventBatch{
				NodeId: c.opts.NodeID, BootId: c.bootID, Sequence: c.events.nextSeq(),
				Requests:   c.queue.Take(c.opts.BatchSize),
				Websockets: c.queue.TakeWebSockets(c.opts.BatchSize),
				Circuits:   c.queue.TakeCircuits(c.opts.BatchSize),
				Security:   c.queue.TakeSecurity(c.opts.BatchSize),
				// Taken after the events: a drop between the two is counted in the next batch.
				DroppedEvents: c.queue.TakeDropped(),
			}
			if statsDue {
				c.lastStats = time.Now()
				b.Pools = c.opts.PoolStats(c.lastStats)
			}
			if systemDue {
				// Taken last, so that its queue length and drop count include this batch's take.
				c.lastSystem = time.Now()
				b.System = c.opts.System(c.lastSystem)
			}
			if len(b.Requests)+len(b.Websockets)+len(b.Circuits)+len(b.Security)+len(b.Pools) == 0 && b.DroppedEvents == 0 && b.System == nil {
				c.events.unseq() // nothing to send after all (no pools in use)
				break
			}
			c.events.add(b) // before Send, so an ack can never arrive for a batch we do not hold
			if err := stream.Send(&proxyv1.StreamEventsRequest{Batch: b}); err != nil {
				return fmt.Errorf("send batch %d: %w", b.GetSequence(), err)
			}
			last = time.Now()
		}
	}
}
