package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RequestLog is one stored request event.
type RequestLog struct {
	ID              int64
	Time            time.Time // millisecond precision
	RouteKey        string    // Route.id; empty when no route matched
	NodeID          string
	Host            string
	Method          string
	Path            string
	Status          int
	Duration        time.Duration // millisecond precision
	BytesIn         int64
	BytesOut        int64
	ClientIP        string // masked by the data plane
	UserAgent       string
	Backend         string
	Error           string
	RequestID       string
	Protocol        string
	SnapshotVersion uint64
}

// CountRequestLogs returns the number of stored request events.
func (s *Store) CountRequestLogs(ctx context.Context) (int64, error) {
	var n int64
	if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM request_logs").Scan(&n); err != nil {
		return 0, fmt.Errorf("count request logs: %w", err)
	}
	return n, nil
}

// RequestLogs returns up to limit stored request events, newest first.
func (s *Store) RequestLogs(ctx context.Context, limit int) (logs []RequestLog, err error) {
	if limit <= 0 {
		return nil, fmt.Errorf("request logs: limit %d must be positive", limit)
	}
	const q = `SELECT l.log_id, l.timestamp_ms, r.route_key, l.node_id, l.host, l.method, l.path,
  l.status_code, l.response_time_ms, l.bytes_received, l.bytes_sent, l.client_ip, l.user_agent,
  l.backend, l.error_message, l.request_id, l.protocol, l.snapshot_version
FROM request_logs l LEFT JOIN routes r ON r.route_id = l.route_id
ORDER BY l.timestamp_ms DESC, l.log_id DESC LIMIT ?`
	rows, err := s.read.QueryContext(ctx, q, limit)
	if err != nil {
		return nil, fmt.Errorf("request logs: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var (
			l                                              RequestLog
			ms, durationMS                                 int64
			routeKey, clientIP, userAgent, backend, errMsg sql.NullString
			requestID, protocol                            sql.NullString
			bytesIn, bytesOut, version                     sql.NullInt64
		)
		if err := rows.Scan(&l.ID, &ms, &routeKey, &l.NodeID, &l.Host, &l.Method, &l.Path,
			&l.Status, &durationMS, &bytesIn, &bytesOut, &clientIP, &userAgent,
			&backend, &errMsg, &requestID, &protocol, &version); err != nil {
			return nil, fmt.Errorf("request logs: scan: %w", err)
		}
		l.Time = time.UnixMilli(ms)
		l.Duration = time.Duration(durationMS) * time.Millisecond
		l.RouteKey, l.ClientIP, l.UserAgent = routeKey.String, clientIP.String, userAgent.String
		l.Backend, l.Error, l.RequestID, l.Protocol = backend.String, errMsg.String, requestID.String, protocol.String
		l.BytesIn, l.BytesOut, l.SnapshotVersion = bytesIn.Int64, bytesOut.Int64, uint64(version.Int64)
		logs = append(logs, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("request logs: %w", err)
	}
	return logs, nil
}

// DroppedEvents returns the total number of events that data plane nodeID reported dropping (all
// nodes when nodeID is empty).
func (s *Store) DroppedEvents(ctx context.Context, nodeID string) (int64, error) {
	var (
		n   int64
		err error
	)
	if nodeID == "" {
		err = s.read.QueryRowContext(ctx, "SELECT COALESCE(SUM(dropped_events), 0) FROM dataplane_drops").Scan(&n)
	} else {
		err = s.read.QueryRowContext(ctx,
			"SELECT COALESCE(SUM(dropped_events), 0) FROM dataplane_drops WHERE node_id = ?", nodeID).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("dropped events of %q: %w", nodeID, err)
	}
	return n, nil
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Close(); err != nil {
		return fmt.Errorf("close rows: %w", err)
	}
	return nil
}
