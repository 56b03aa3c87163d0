package events

import (
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func wsEv(id string) *proxyv1.WebSocketEvent { return &proxyv1.WebSocketEvent{ConnectionId: id} }

func TestWebSocketEvents(t *testing.T) {
	q := NewQueue(10)
	q.Push(ev(1))
	q.PushWebSocket(wsEv("a"))
	q.PushWebSocket(wsEv("b"))
	q.PushWebSocket(nil)
	if q.Len() != 3 {
		t.Fatalf("Len %d, want 3 (both kinds)", q.Len())
	}
	<-q.Ready()
	if got := q.Take(10); len(got) != 1 {
		t.Fatalf("Take gave %d request events, want 1", len(got))
	}
	select {
	case <-q.Ready(): // re-armed: the WebSocket events are still waiting
	default:
		t.Fatal("Ready not re-armed while WebSocket events wait")
	}
	got := q.TakeWebSockets(1)
	if len(got) != 1 || got[0].GetConnectionId() != "a" {
		t.Fatalf("TakeWebSockets(1) = %v, want a", got)
	}
	if got := q.TakeWebSockets(5); len(got) != 1 || got[0].GetConnectionId() != "b" {
		t.Fatalf("TakeWebSockets(5) = %v, want b", got)
	}
	if q.Len() != 0 || q.TakeWebSockets(5) != nil {
		t.Fatal("queue not empty")
	}
}

func TestWebSocketEventsDropOldest(t *testing.T) {
	q := NewQueue(10) // WebSocket ring: 1,000
	n := webSocketCapacity(10)
	for i := range n + 3 {
		q.PushWebSocket(wsEv(string(rune('a' + i%26))))
	}
	if d := q.TakeDropped(); d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
	got := q.TakeWebSockets(n + 10)
	if len(got) != n {
		t.Fatalf("kept %d, want %d", len(got), n)
	}
	if got[0].GetConnectionId() != "d" {
		t.Fatalf("oldest kept %q, want d (a, b, c dropped)", got[0].GetConnectionId())
	}
}
