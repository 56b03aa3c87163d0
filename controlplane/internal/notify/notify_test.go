package notify

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSubscribersGetChangesInOrder(t *testing.T) {
	h := NewHub[int](2)
	ctx, cancel := context.WithCancel(context.Background())
	a := h.Subscribe(ctx)
	h.Publish(1)
	b := h.Subscribe(context.Background())
	h.Publish(2)
	if got := []int{<-a, <-a, <-b}; got[0] != 1 || got[1] != 2 || got[2] != 2 {
		t.Fatalf("received %v, want [1 2 2]", got)
	}
	// A full buffer loses the change instead of blocking the publisher.
	h.Publish(3)
	h.Publish(4)
	if lost := h.Publish(5); lost != 2 {
		t.Fatalf("lost = %d, want 2 (both subscribers full)", lost)
	}
	if h.Dropped() != 2 {
		t.Fatalf("Dropped = %d", h.Dropped())
	}
	if got := []int{<-b, <-b}; got[0] != 3 || got[1] != 4 {
		t.Fatalf("b received %v, want [3 4]", got)
	}
	// Ending the context closes the channel after what it holds.
	cancel()
	var rest []int
	deadline := time.After(5 * time.Second)
	for {
		select {
		case v, ok := <-a:
			if !ok {
				if len(rest) != 2 {
					t.Fatalf("a held %v before closing, want [3 4]", rest)
				}
				if lost := h.Publish(6); lost != 0 {
					t.Fatalf("an ended subscription still counts: lost %d", lost)
				}
				return
			}
			rest = append(rest, v)
		case <-deadline:
			t.Fatal("channel not closed after its context ended")
		}
	}
}
