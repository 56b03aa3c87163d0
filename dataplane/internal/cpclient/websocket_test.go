package cpclient

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestWebSocketEventsShipped(t *testing.T) {
	cp := newFakeCP()
	q := events.NewQueue(100)
	q.Push(&proxyv1.RequestEvent{RequestId: "upgrade", Status: 101})
	for i := range 3 {
		q.PushWebSocket(&proxyv1.WebSocketEvent{ConnectionId: fmt.Sprintf("ws-%d", i), Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN})
	}
	h := start(t, cp, q, Options{FlushEvery: time.Hour, BatchSize: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.client.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	got := map[string]int{}
	requests := 0
	for _, b := range cp.batches {
		requests += len(b.GetRequests())
		if len(b.GetWebsockets()) > 2 {
			t.Errorf("batch %d has %d WebSocket events, BatchSize is 2", b.GetSequence(), len(b.GetWebsockets()))
		}
		for _, e := range b.GetWebsockets() {
			got[e.GetConnectionId()]++
		}
	}
	if requests != 1 || len(got) != 3 {
		t.Fatalf("stored %d request events and WebSocket events %v; want 1 and ws-0..2", requests, got)
	}
}
