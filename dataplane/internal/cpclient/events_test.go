package cpclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// recycleCounter stands in for events.RecycleRequests: it counts each event given back, and
// then really recycles it, so that an event recycled too early is emptied under the sender.
type recycleCounter struct {
	mu sync.Mutex
	n  map[*proxyv1.RequestEvent]int
}

func newRecycleCounter() *recycleCounter {
	return &recycleCounter{n: make(map[*proxyv1.RequestEvent]int)}
}

func (c *recycleCounter) recycle(es []*proxyv1.RequestEvent) {
	c.mu.Lock()
	for _, e := range es {
		c.n[e]++
	}
	c.mu.Unlock()
	events.RecycleRequests(es)
}

func (c *recycleCounter) count(e *proxyv1.RequestEvent) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[e]
}

func (c *recycleCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, n := range c.n {
		t += n
	}
	return t
}

func TestOutboxRecyclesAckedEventsOnceOnRelease(t *testing.T) {
	testCases := []struct {
		desc     string
		batches  int      // batches 1..batches are added, two request events each
		acks     []uint64 // then acknowledged in this order
		recycled []uint64 // the batches whose events release recycles, once each
		pending  int
	}{
		{desc: "in order", batches: 3, acks: []uint64{1, 2, 3}, recycled: []uint64{1, 2, 3}},
		{desc: "out of order", batches: 3, acks: []uint64{3, 1}, recycled: []uint64{1, 3}, pending: 1},
		{desc: "acknowledged twice", batches: 2, acks: []uint64{1, 1, 2, 1}, recycled: []uint64{1, 2}},
		{desc: "unknown sequence", batches: 2, acks: []uint64{7, 0}, pending: 2},
		{desc: "nothing acknowledged", batches: 2, pending: 2},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			o := newOutbox()
			c := newRecycleCounter()
			o.recycle = c.recycle
			byBatch := make(map[uint64][]*proxyv1.RequestEvent)
			for range tc.batches {
				seq := o.nextSeq()
				b := &proxyv1.EventBatch{Sequence: seq, Requests: []*proxyv1.RequestEvent{
					events.NewRequestEvent(time.Now(), time.Second), events.NewRequestEvent(time.Now(), time.Second)}}
				byBatch[seq] = b.Requests
				o.add(b)
			}
			for _, seq := range tc.acks {
				o.ack(seq)
			}
			if c.total() != 0 {
				t.Fatal("ack recycled events itself: the sender may still be marshalling them")
			}
			o.release()
			o.release() // a second release finds nothing more
			want := make(map[*proxyv1.RequestEvent]int)
			for _, seq := range tc.recycled {
				for _, e := range byBatch[seq] {
					want[e] = 1
				}
			}
			for seq, es := range byBatch {
				for i, e := range es {
					if got := c.count(e); got != want[e] {
						t.Errorf("batch %d event %d recycled %d times, want %d", seq, i, got, want[e])
					}
				}
			}
			if got := o.len(); got != tc.pending {
				t.Errorf("%d batches pending, want %d", got, tc.pending)
			}
			for _, b := range o.all() {
				if len(b.GetRequests()) != 2 {
					t.Errorf("pending batch %d lost its events", b.GetSequence())
				}
			}
		})
	}
}

// eventConn is a control plane behind a grpc.ClientConnInterface, for tests that need to decide
// when acks arrive relative to Sends. Like gRPC, SendMsg marshals the message before it returns
// (grpc-go's clientStream.SendMsg encodes it and keeps only the bytes); beforeMarshal runs just
// before, on the sender's goroutine.
type eventConn struct {
	streams       chan *eventStream
	beforeMarshal func(stream int, s *eventStream, b *proxyv1.EventBatch)

	mu sync.Mutex
	n  int
}

func (c *eventConn) Invoke(context.Context, string, any, any, ...grpc.CallOption) error {
	return errors.New("eventConn: no unary calls")
}

func (c *eventConn) NewStream(ctx context.Context, _ *grpc.StreamDesc, _ string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	c.mu.Lock()
	c.n++
	s := &eventStream{conn: c, n: c.n, ctx: ctx, sent: make(chan *proxyv1.EventBatch, 64),
		acks: make(chan *proxyv1.StreamEventsResponse), fail: make(chan struct{})}
	c.mu.Unlock()
	select {
	case c.streams <- s:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type eventStream struct {
	conn *eventConn
	n    int
	ctx  context.Context
	sent chan *proxyv1.EventBatch // what the control plane received, decoded from the bytes
	acks chan *proxyv1.StreamEventsResponse
	fail chan struct{} // closed: the stream breaks
}

func (s *eventStream) Header() (metadata.MD, error) { return nil, nil }
func (s *eventStream) Trailer() metadata.MD         { return nil }
func (s *eventStream) CloseSend() error             { return nil }
func (s *eventStream) Context() context.Context     { return s.ctx }

func (s *eventStream) SendMsg(m any) error {
	req := m.(*proxyv1.StreamEventsRequest)
	if f := s.conn.beforeMarshal; f != nil {
		f(s.n, s, req.GetBatch())
	}
	buf, err := proto.Marshal(req)
	if err != nil {
		return fmt.Errorf("marshal: %w", err)
	}
	var got proxyv1.StreamEventsRequest
	if err := proto.Unmarshal(buf, &got); err != nil {
		return fmt.Errorf("unmarshal: %w", err)
	}
	s.sent <- got.GetBatch()
	return nil
}

func (s *eventStream) RecvMsg(m any) error {
	select {
	case a := <-s.acks:
		proto.Merge(m.(proto.Message), a)
		return nil
	case <-s.fail:
		return errors.New("control plane went away")
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// ack acknowledges seq; when it returns, the client has read the ack (not yet applied it).
func (s *eventStream) ack(t *testing.T, boot string, seq uint64) {
	t.Helper()
	select {
	case s.acks <- &proxyv1.StreamEventsResponse{Ack: &proxyv1.BatchAck{BootId: boot, Sequence: seq}}:
	case <-time.After(10 * time.Second):
		t.Fatalf("stream %d: ack %d not read", s.n, seq)
	}
}

func recvBatch(t *testing.T, s *eventStream) *proxyv1.EventBatch {
	t.Helper()
	return wait(t, (<-chan *proxyv1.EventBatch)(s.sent), fmt.Sprintf("a batch on stream %d", s.n))
}

// requestEvent is a request event as the edge makes it: from the pool, with what varies.
func requestEvent(id, path, errText string) *proxyv1.RequestEvent {
	e := events.NewRequestEvent(time.Unix(1_700_000_000, 5), 3*time.Millisecond)
	e.RequestId, e.Path, e.Error, e.Status = id, path, errText, 200
	return e
}

func wantEvent(id, path, errText string) *proxyv1.RequestEvent {
	return &proxyv1.RequestEvent{Time: timestamppb.New(time.Unix(1_700_000_000, 5)), Duration: durationpb.New(3 * time.Millisecond),
		RequestId: id, Path: path, Error: errText, Status: 200}
}

func sameEvents(t *testing.T, what string, got, want []*proxyv1.RequestEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("%s: event %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestResentBatchKeepsItsEventsUntilAckedAndSent follows one batch through a broken stream, a
// re-send during which its ack arrives (twice), and the recycling of its events: the re-send
// carries the original content, each event is recycled once and only after the re-send's
// marshal, and the recycled events that carry the next requests show none of the old content.
func TestResentBatchKeepsItsEventsUntilAckedAndSent(t *testing.T) {
	conn := &eventConn{streams: make(chan *eventStream)}
	q := events.NewQueue(100)
	first := []*proxyv1.RequestEvent{requestEvent("r1", "/a", "backend refused"), requestEvent("r2", "/b", "")}
	for _, e := range first {
		q.Push(e)
	}
	c := New(zaptest.NewLogger(t), conn, nil, q, Options{NodeID: "n", FlushEvery: time.Millisecond})
	counter := newRecycleCounter()
	c.events.recycle = counter.recycle

	var acked sync.WaitGroup
	acked.Add(1)
	conn.beforeMarshal = func(stream int, s *eventStream, b *proxyv1.EventBatch) {
		if stream != 2 || b.GetSequence() != 1 {
			return
		}
		// The re-send of batch 1 is about to be marshalled: its ack arrives now, twice (a late
		// one from the first stream would be no different), then one for a batch never sent.
		// When the third is read, the first two have been applied.
		s.ack(t, c.bootID, 1)
		s.ack(t, c.bootID, 1)
		s.ack(t, c.bootID, 99)
		if c.events.len() != 0 {
			t.Error("batch 1 still pending after its ack")
		}
		if n := counter.total(); n != 0 {
			t.Errorf("%d events recycled during the Send that marshals them", n)
		}
		acked.Done()
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.RunEvents(ctx) }()
	defer func() { cancel(); <-done }()

	want := []*proxyv1.RequestEvent{wantEvent("r1", "/a", "backend refused"), wantEvent("r2", "/b", "")}
	s1 := wait(t, (<-chan *eventStream)(conn.streams), "stream 1")
	b1 := recvBatch(t, s1)
	if b1.GetSequence() != 1 {
		t.Fatalf("first batch has sequence %d, want 1", b1.GetSequence())
	}
	sameEvents(t, "batch 1", b1.GetRequests(), want)
	close(s1.fail) // not acknowledged: the stream breaks

	s2 := wait(t, (<-chan *eventStream)(conn.streams), "stream 2")
	re := recvBatch(t, s2)
	acked.Wait()
	if re.GetSequence() != 1 {
		t.Fatalf("re-sent batch has sequence %d, want 1", re.GetSequence())
	}
	sameEvents(t, "re-sent batch 1", re.GetRequests(), want)

	// The sender recycles the acknowledged events at its next tick, once each.
	deadline := time.Now().Add(10 * time.Second)
	for counter.total() < len(first) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for i, e := range first {
		if n := counter.count(e); n != 1 {
			t.Fatalf("event %d of batch 1 recycled %d times, want 1", i, n)
		}
	}

	// New requests get (possibly) the recycled events; their batch shows only their content.
	q.Push(requestEvent("r3", "/c", ""))
	q.Push(requestEvent("r4", "/d", "timeout"))
	b2 := recvBatch(t, s2)
	if b2.GetSequence() != 2 {
		t.Fatalf("next batch has sequence %d, want 2", b2.GetSequence())
	}
	sameEvents(t, "batch 2", b2.GetRequests(), []*proxyv1.RequestEvent{wantEvent("r3", "/c", ""), wantEvent("r4", "/d", "timeout")})
	if n := counter.total(); n != len(first) {
		t.Fatalf("%d events recycled before batch 2 was acknowledged, want %d", n, len(first))
	}
}
