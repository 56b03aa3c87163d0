package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

const insertSystemSQL = `INSERT INTO dataplane_metrics (node_id, timestamp, uptime_s, active_connections,
  goroutines, heap_bytes, rss_bytes, requests_total, events_dropped_total, event_queue_length,
  event_queue_capacity, websockets_active, snapshot_version, snapshot_applied_at, bans_active)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// saveSystem stores the batch's SystemMetrics, if it carries one, in dataplane_metrics. A sample
// without a time is stamped with the time the batch was received.
func saveSystem(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, now time.Time) error {
	m := b.GetSystem()
	if m == nil {
		return nil
	}
	t := now
	if m.GetTime() != nil {
		t = m.GetTime().AsTime()
	}
	requests, err := toInt64("requests_total", m.GetRequestsTotal())
	if err != nil {
		return fmt.Errorf("system metrics: %w", err)
	}
	dropped, err := toInt64("events_dropped_total", m.GetEventsDroppedTotal())
	if err != nil {
		return fmt.Errorf("system metrics: %w", err)
	}
	version, err := toInt64("snapshot_version", m.GetSnapshotVersion())
	if err != nil {
		return fmt.Errorf("system metrics: %w", err)
	}
	var applied sql.NullInt64
	if m.GetSnapshotAppliedAt() != nil {
		applied = sql.NullInt64{Int64: m.GetSnapshotAppliedAt().AsTime().Unix(), Valid: true}
	}
	_, err = tx.ExecContext(ctx, insertSystemSQL, b.GetNodeId(), t.Unix(),
		int64(m.GetUptime().AsDuration().Seconds()), m.GetActiveConnections(), m.GetGoroutines(),
		m.GetHeapBytes(), m.GetRssBytes(), requests, dropped, m.GetEventQueueLength(),
		m.GetEventQueueCapacity(), m.GetWebsocketsActive(), version, applied, m.GetBansActive())
	if err != nil {
		return fmt.Errorf("insert dataplane_metrics: %w", err)
	}
	return nil
}

// SystemSample is one stored SystemMetrics of a data plane.
type SystemSample struct {
	NodeID             string     `json:"node_id"`
	Time               time.Time  `json:"time"`
	UptimeSeconds      int64      `json:"uptime_s"`
	ActiveConnections  int64      `json:"active_connections"`
	Goroutines         int64      `json:"goroutines"`
	HeapBytes          int64      `json:"heap_bytes"`
	RSSBytes           int64      `json:"rss_bytes"`
	RequestsTotal      int64      `json:"requests_total"`
	EventsDroppedTotal int64      `json:"events_dropped_total"`
	EventQueueLength   int64      `json:"event_queue_length"`
	EventQueueCapacity int64      `json:"event_queue_capacity"`
	WebSocketsActive   int64      `json:"websockets_active"`
	SnapshotVersion    int64      `json:"snapshot_version"`
	SnapshotAppliedAt  *time.Time `json:"snapshot_applied_at,omitempty"`
	BansActive         int64      `json:"bans_active"`
}

// LatestSystemMetrics returns the newest stored sample of every data plane that sent one, keyed
// by node id. Each node's row is found through idx_dataplane_metrics_node (one seek per node).
func (s *Store) LatestSystemMetrics(ctx context.Context) (latest map[string]SystemSample, err error) {
	// nodes walks the distinct node ids by skipping through the index, one seek per node, instead
	// of reading every sample of the history.
	const q = `WITH RECURSIVE nodes(id) AS (
  SELECT MIN(node_id) FROM dataplane_metrics
  UNION ALL SELECT (SELECT MIN(node_id) FROM dataplane_metrics WHERE node_id > nodes.id) FROM nodes WHERE nodes.id IS NOT NULL)
SELECT m.node_id, m.timestamp, m.uptime_s, m.active_connections, m.goroutines, m.heap_bytes,
  m.rss_bytes, m.requests_total, m.events_dropped_total, m.event_queue_length, m.event_queue_capacity,
  m.websockets_active, m.snapshot_version, m.snapshot_applied_at, m.bans_active
FROM nodes n
JOIN dataplane_metrics m ON m.metric_id = (SELECT metric_id FROM dataplane_metrics
  WHERE node_id = n.id ORDER BY timestamp DESC, metric_id DESC LIMIT 1)
WHERE n.id IS NOT NULL`
	rows, err := s.read.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("latest system metrics: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	latest = map[string]SystemSample{}
	for rows.Next() {
		var (
			m       SystemSample
			ts      int64
			applied sql.NullInt64
		)
		if err := rows.Scan(&m.NodeID, &ts, &m.UptimeSeconds, &m.ActiveConnections, &m.Goroutines, &m.HeapBytes,
			&m.RSSBytes, &m.RequestsTotal, &m.EventsDroppedTotal, &m.EventQueueLength, &m.EventQueueCapacity,
			&m.WebSocketsActive, &m.SnapshotVersion, &applied, &m.BansActive); err != nil {
			return nil, fmt.Errorf("latest system metrics: scan: %w", err)
		}
		m.Time = time.Unix(ts, 0).UTC()
		if applied.Valid {
			at := time.Unix(applied.Int64, 0).UTC()
			m.SnapshotAppliedAt = &at
		}
		latest[m.NodeID] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest system metrics: %w", err)
	}
	return latest, nil
}
