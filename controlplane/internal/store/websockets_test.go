package store

import (
	"context"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func wsOpen(id, route string, at time.Time) *proxyv1.WebSocketEvent {
	return &proxyv1.WebSocketEvent{
		Kind: proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN, ConnectionId: id, RequestId: "req-" + id,
		RouteId: route, Host: "chat.example.org", Path: "/socket", ClientIp: "203.0.113.0",
		ConnectedAt: timestamppb.New(at),
	}
}

func wsClose(open *proxyv1.WebSocketEvent, after time.Duration, reason string) *proxyv1.WebSocketEvent {
	c := proto.CloneOf(open)
	c.Kind = proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_CLOSE
	c.DisconnectedAt = timestamppb.New(open.GetConnectedAt().AsTime().Add(after))
	c.BytesSent, c.BytesReceived, c.CloseReason = 1000, 2000, reason
	return c
}

func TestWebSocketConnectionsStored(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	a, b, c := wsOpen("ws-1", "chat", at), wsOpen("ws-2", "chat", at), wsOpen("ws-3", "game", at)
	save := func(seq uint64, evs ...*proxyv1.WebSocketEvent) bool {
		t.Helper()
		stored, err := s.SaveBatch(ctx, &proxyv1.EventBatch{NodeId: "n1", BootId: "boot1", Sequence: seq, Websockets: evs})
		if err != nil {
			t.Fatalf("SaveBatch %d: %v", seq, err)
		}
		return stored
	}
	save(1, a, b, c)
	active := func(want map[string]int64) {
		t.Helper()
		got, err := s.ActiveWebSockets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("ActiveWebSockets = %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("ActiveWebSockets = %v, want %v", got, want)
			}
		}
	}
	active(map[string]int64{"chat": 2, "game": 1})

	// The close updates the row of its open; a re-sent batch changes nothing; a close whose open
	// was lost inserts the whole row.
	save(2, wsClose(a, 90*time.Second, "client closed (1000)"))
	if save(2, wsClose(a, 90*time.Second, "client closed (1000)")) {
		t.Fatal("re-sent batch stored again")
	}
	lost := wsOpen("ws-4", "game", at)
	save(3, wsClose(lost, time.Minute, "idle timeout"), a) // a late duplicate open does not reopen a
	active(map[string]int64{"chat": 1, "game": 1})

	conns, err := s.WebSocketConnections(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(conns), conns)
	}
	byID := map[string]WebSocketConnection{}
	for _, c := range conns {
		byID[c.ConnectionID] = c
	}
	got := byID["ws-1"]
	want := WebSocketConnection{RouteKey: "chat", NodeID: "n1", BootID: "boot1", ConnectionID: "ws-1",
		RequestID: "req-ws-1", Host: "chat.example.org", Path: "/socket", ClientIP: "203.0.113.0",
		ConnectedAt: at, DisconnectedAt: at.Add(90 * time.Second), Duration: 90 * time.Second,
		BytesSent: 1000, BytesReceived: 2000, CloseReason: "client closed (1000)"}
	got.ConnectedAt, got.DisconnectedAt = got.ConnectedAt.UTC(), got.DisconnectedAt.UTC()
	if got != want {
		t.Errorf("ws-1 = %+v\nwant %+v", got, want)
	}
	if r := byID["ws-4"]; r.CloseReason != "idle timeout" || r.Duration != time.Minute || r.RouteKey != "game" {
		t.Errorf("close without open = %+v", r)
	}

	// The same node from a new process: the old process's connections are gone.
	if _, err := s.SaveBatch(ctx, &proxyv1.EventBatch{NodeId: "n1", BootId: "boot2", Sequence: 1}); err != nil {
		t.Fatal(err)
	}
	active(map[string]int64{})
	conns, _ = s.WebSocketConnections(ctx, 10)
	for _, c := range conns {
		if c.ConnectionID == "ws-2" && c.CloseReason != ReasonDataPlaneRestarted {
			t.Errorf("orphan ws-2 close reason %q, want %q", c.CloseReason, ReasonDataPlaneRestarted)
		}
	}
}

func TestWebSocketEventsInBatchWithRequests(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	b := testBatch("n1", "boot1", 1, 3, "chat")
	b.Websockets = []*proxyv1.WebSocketEvent{wsOpen("ws-1", "chat", time.Now()), {Kind: 99, ConnectionId: "x", RouteId: "chat"}}
	if _, err := s.SaveBatch(ctx, b); err == nil {
		t.Fatal("a batch with an unknown WebSocket event kind was stored")
	}
	// One transaction: the request events of the failed batch are not stored either.
	if n, err := s.CountRequestLogs(ctx); err != nil || n != 0 {
		t.Fatalf("%d request logs (%v) after a failed batch, want 0", n, err)
	}
	b.Websockets = b.Websockets[:1]
	if stored, err := s.SaveBatch(ctx, b); err != nil || !stored {
		t.Fatalf("SaveBatch = %v, %v", stored, err)
	}
	if n, _ := s.CountRequestLogs(ctx); n != 3 {
		t.Fatalf("%d request logs, want 3", n)
	}
}
