package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"go.uber.org/zap"
)

const (
	// An OPEN event inserts the connection; seen again (a batch re-sent after its commit), or
	// after its CLOSE, it changes nothing.
	insertWebSocketOpenSQL = `INSERT INTO websocket_connections (route_id, client_ip, connected_at,
  node_id, boot_id, connection_id, request_id, host, path)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (node_id, boot_id, connection_id) DO NOTHING`
	// A CLOSE event completes the row of its OPEN, or inserts it whole when the OPEN was lost
	// (dropped from a full buffer on the data plane).
	upsertWebSocketCloseSQL = `INSERT INTO websocket_connections (route_id, client_ip, connected_at,
  node_id, boot_id, connection_id, request_id, host, path,
  disconnected_at, duration_seconds, bytes_sent, bytes_received, close_reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (node_id, boot_id, connection_id) DO UPDATE SET
  disconnected_at = excluded.disconnected_at, duration_seconds = excluded.duration_seconds,
  bytes_sent = excluded.bytes_sent, bytes_received = excluded.bytes_received,
  close_reason = excluded.close_reason`
	// A data plane process that is gone took its connections with it: once a node reports from a
	// new boot, the connections still open under its earlier boots are closed.
	closeOrphanWebSocketsSQL = `UPDATE websocket_connections
SET disconnected_at = ?, duration_seconds = MAX(0, ? - connected_at), close_reason = ?
WHERE disconnected_at IS NULL AND node_id = ? AND boot_id <> ?`
	// ReasonDataPlaneRestarted is the close reason of connections orphaned by a data-plane restart.
	ReasonDataPlaneRestarted = "data plane restarted"
)

// saveWebSockets stores a batch's WebSocket events in the batch's transaction.
func (s *Store) saveWebSockets(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, now time.Time) (err error) {
	if _, err := tx.ExecContext(ctx, closeOrphanWebSocketsSQL, now.Unix(), now.Unix(), ReasonDataPlaneRestarted,
		b.GetNodeId(), b.GetBootId()); err != nil {
		return fmt.Errorf("close connections of earlier boots: %w", err)
	}
	if len(b.GetWebsockets()) == 0 {
		return nil
	}
	selectRoute, err := tx.PrepareContext(ctx, selectRouteSQL)
	if err != nil {
		return fmt.Errorf("prepare route lookup: %w", err)
	}
	defer func() { err = errors.Join(err, closeStmt(selectRoute)) }()
	routes := map[string]routeRef{}
	for i, ev := range b.GetWebsockets() {
		if ev == nil {
			return fmt.Errorf("websocket event %d: nil", i)
		}
		if ev.GetRouteId() == "" || ev.GetConnectionId() == "" {
			// The data plane always sets both; such an event cannot be keyed or counted.
			s.log.Warn("websocket event without route or connection id skipped",
				zap.String("node_id", b.GetNodeId()), zap.Int("index", i))
			continue
		}
		ref, ok := routes[ev.GetRouteId()]
		if !ok {
			ref, err = s.resolveRoute(ctx, tx, selectRoute, ev.GetRouteId(), ev.GetHost(), "", now)
			if err != nil {
				return fmt.Errorf("websocket event %d: %w", i, err)
			}
			routes[ev.GetRouteId()] = ref
		}
		if err := saveWebSocket(ctx, tx, b, ev, ref, now); err != nil {
			return fmt.Errorf("websocket event %d (%s): %w", i, ev.GetConnectionId(), err)
		}
	}
	return nil
}

func saveWebSocket(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, ev *proxyv1.WebSocketEvent, ref routeRef, now time.Time) error {
	connected := now
	if ev.GetConnectedAt() != nil {
		connected = ev.GetConnectedAt().AsTime()
	}
	args := []any{ref.routeID, ev.GetClientIp(), connected.Unix(), b.GetNodeId(), b.GetBootId(),
		ev.GetConnectionId(), nullString(ev.GetRequestId()), nullString(ev.GetHost()), nullString(ev.GetPath())}
	switch ev.GetKind() {
	case proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_OPEN:
		_, err := tx.ExecContext(ctx, insertWebSocketOpenSQL, args...)
		return err
	case proxyv1.WebSocketEventKind_WEB_SOCKET_EVENT_KIND_CLOSE:
		disconnected := now
		if ev.GetDisconnectedAt() != nil {
			disconnected = ev.GetDisconnectedAt().AsTime()
		}
		duration := max(0, int64(disconnected.Sub(connected)/time.Second))
		args = append(args, disconnected.Unix(), duration, ev.GetBytesSent(), ev.GetBytesReceived(),
			nullString(ev.GetCloseReason()))
		_, err := tx.ExecContext(ctx, upsertWebSocketCloseSQL, args...)
		return err
	}
	return fmt.Errorf("unknown kind %v", ev.GetKind())
}

// ActiveWebSockets returns the open WebSocket connections per route key (Route.id), over all
// data planes. Routes without open connections are absent.
func (s *Store) ActiveWebSockets(ctx context.Context) (_ map[string]int64, err error) {
	const q = `SELECT r.route_key, COUNT(*) FROM websocket_connections w
JOIN routes r ON r.route_id = w.route_id
WHERE w.disconnected_at IS NULL GROUP BY r.route_key`
	rows, err := s.read.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("active websockets: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	active := map[string]int64{}
	for rows.Next() {
		var (
			key string
			n   int64
		)
		if err := rows.Scan(&key, &n); err != nil {
			return nil, fmt.Errorf("active websockets: scan: %w", err)
		}
		active[key] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("active websockets: %w", err)
	}
	return active, nil
}

// WebSocketConnection is one stored WebSocket connection.
type WebSocketConnection struct {
	RouteKey       string
	NodeID         string
	BootID         string
	ConnectionID   string
	RequestID      string
	Host           string
	Path           string
	ClientIP       string // masked by the data plane
	ConnectedAt    time.Time
	DisconnectedAt time.Time // zero while open
	Duration       time.Duration
	BytesSent      int64 // to the client
	BytesReceived  int64 // from the client
	CloseReason    string
}

// WebSocketConnections returns up to limit stored connections, the most recently opened first.
func (s *Store) WebSocketConnections(ctx context.Context, limit int) (conns []WebSocketConnection, err error) {
	if limit <= 0 {
		return nil, fmt.Errorf("websocket connections: limit %d must be positive", limit)
	}
	const q = `SELECT r.route_key, w.node_id, w.boot_id, w.connection_id, w.request_id, w.host, w.path,
  w.client_ip, w.connected_at, w.disconnected_at, w.duration_seconds, w.bytes_sent, w.bytes_received,
  w.close_reason
FROM websocket_connections w LEFT JOIN routes r ON r.route_id = w.route_id
ORDER BY w.connected_at DESC, w.conn_id DESC LIMIT ?`
	rows, err := s.read.QueryContext(ctx, q, limit)
	if err != nil {
		return nil, fmt.Errorf("websocket connections: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var (
			c                                                WebSocketConnection
			routeKey, node, boot, id, reqID, host, path, why sql.NullString
			connected                                        int64
			disconnected, duration, sent, received           sql.NullInt64
		)
		if err := rows.Scan(&routeKey, &node, &boot, &id, &reqID, &host, &path, &c.ClientIP, &connected,
			&disconnected, &duration, &sent, &received, &why); err != nil {
			return nil, fmt.Errorf("websocket connections: scan: %w", err)
		}
		c.RouteKey, c.NodeID, c.BootID, c.ConnectionID = routeKey.String, node.String, boot.String, id.String
		c.RequestID, c.Host, c.Path, c.CloseReason = reqID.String, host.String, path.String, why.String
		c.ConnectedAt = time.Unix(connected, 0)
		if disconnected.Valid {
			c.DisconnectedAt = time.Unix(disconnected.Int64, 0)
		}
		c.Duration = time.Duration(duration.Int64) * time.Second
		c.BytesSent, c.BytesReceived = sent.Int64, received.Int64
		conns = append(conns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("websocket connections: %w", err)
	}
	return conns, nil
}
