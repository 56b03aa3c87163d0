package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/websocket"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// WebSocketSink takes the open and close events of WebSockets. Push must not block;
// *events.Queue is one.
type WebSocketSink interface {
	PushWebSocket(*proxyv1.WebSocketEvent)
}

// errWebSocketDisabled refuses an upgrade on a route with `websocket: {enabled: false}`.
var errWebSocketDisabled = errors.New("websocket: disabled for this route")

// tunnel is an upgraded WebSocket waiting for its relay, which runs once the upgrade request's
// own event (status 101) is out.
type tunnel struct {
	lease *websocket.Lease
	relay *websocket.Relay
}

// upgrade is step 4 for a WebSocket handshake: the route's policy (403 when WebSockets are
// disabled, 503 over max_connections or during shutdown), the handshake with the backend, and
// the 101 to the hijacked client. The relay itself runs later, from ServeHTTP.
func (h *Handler) upgrade(x *exchange, rte *Route) {
	pol := rte.websocket
	if !pol.Enabled {
		h.fail(x, http.StatusForbidden, errWebSocketDisabled)
		return
	}
	lease, err := h.websockets.Acquire(rte.id, pol.MaxConnections)
	if err != nil {
		h.fail(x, http.StatusServiceUnavailable, err)
		return
	}
	up, err := rte.backend.Upgrade(&x.w, x.r)
	if err != nil || up == nil {
		lease.Release() // the backend refused (its answer was relayed) or did not answer
		if err != nil {
			h.failBackend(x, rte, x.r.Context(), err)
		}
		return
	}
	header := x.w.Header().Clone()
	client, brw, err := x.w.Hijack()
	if err != nil {
		up.Conn.Close()
		lease.Release()
		h.fail(x, http.StatusInternalServerError, fmt.Errorf("websocket: hijack the client connection: %w", err))
		return
	}
	if err := up.WriteSwitch(brw.Writer, header); err != nil {
		client.Close()
		up.Conn.Close()
		lease.Release()
		x.err = err
		return
	}
	x.tunnel = &tunnel{lease: lease, relay: &websocket.Relay{
		Client: client, ClientReader: brw.Reader, Backend: up.Conn,
		Policy:   pol,
		Shutdown: lease.Shutdown(), Abort: lease.Abort(),
	}}
}

// relay is step 6: it relays an upgraded WebSocket until it closes, with an open and a close
// event.
func (h *Handler) relay(x *exchange) {
	t := x.tunnel
	defer t.lease.Release() // after the close event, so that a drained Tracker has sent them all
	open := h.webSocketEvent(x, t)
	h.wsEvents.PushWebSocket(open)
	res := t.relay.Run()
	closed := proto.CloneOf(open)
	closed.Kind = proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_CLOSE
	closed.DisconnectedAt = timestamppb.Now()
	closed.BytesSent = res.BytesSent
	closed.BytesReceived = res.BytesReceived
	closed.CloseReason = clean(res.CloseReason, maxErrorLen)
	h.wsEvents.PushWebSocket(closed)
}

func (h *Handler) webSocketEvent(x *exchange, t *tunnel) *proxyv1.WebSocketEvent {
	return &proxyv1.WebSocketEvent{
		Kind:         proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN,
		ConnectionId: t.lease.ID(),
		RequestId:    x.requestID,
		RouteId:      x.route.id,
		Host:         clean(x.r.Host, maxHostLen),
		Path:         h.storedPath(x), // mask_pii, redact_paths
		ClientIp:     x.route.masker.MaskAt(x.clientAddr, x.start),
		ConnectedAt:  timestamppb.New(time.Now()),
	}
}

// CloseWebSockets refuses new WebSockets (503) and closes the open ones with 1001 Going Away
// to the client and the backend, at frame boundaries. It returns when they have all ended
// (their close events are in the event queue by then) or when ctx ends; then the ones left are
// cut and it returns ctx's error. http.Server.Shutdown does not wait for hijacked connections,
// so call this during shutdown, alongside Shutdown, with the same deadline.
func (h *Handler) CloseWebSockets(ctx context.Context) error {
	return h.websockets.CloseAll(ctx)
}

// WebSockets returns the Tracker of open WebSockets (Active per route).
func (h *Handler) WebSockets() *websocket.Tracker { return h.websockets }

// discardWebSockets is the WebSocketSink when the Events sink takes no WebSocket events.
type discardWebSockets struct{}

func (discardWebSockets) PushWebSocket(*proxyv1.WebSocketEvent) {}
