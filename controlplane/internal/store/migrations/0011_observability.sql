-- Observability (issue 7): the data planes' own state, and the indexes the admin API's log,
-- error and security views read through.
--
-- dataplane_metrics: one row per SystemMetrics a data plane sends (EventBatch.system, every few
-- seconds). Pruned by the retention job with the global metrics period; the API reads the latest
-- row per node through (node_id, timestamp).
CREATE TABLE dataplane_metrics (
  metric_id INTEGER PRIMARY KEY,
  node_id TEXT NOT NULL,
  timestamp INTEGER NOT NULL,          -- unix seconds: when the data plane took the sample
  uptime_s INTEGER NOT NULL,
  active_connections INTEGER NOT NULL,
  goroutines INTEGER NOT NULL,
  heap_bytes INTEGER NOT NULL,
  rss_bytes INTEGER NOT NULL,
  requests_total INTEGER NOT NULL,
  events_dropped_total INTEGER NOT NULL,
  event_queue_length INTEGER NOT NULL,
  event_queue_capacity INTEGER NOT NULL,
  websockets_active INTEGER NOT NULL,
  snapshot_version INTEGER NOT NULL,
  snapshot_applied_at INTEGER,         -- unix seconds; NULL before the first snapshot
  bans_active INTEGER NOT NULL
);
CREATE INDEX idx_dataplane_metrics_node ON dataplane_metrics(node_id, timestamp);
CREATE INDEX idx_dataplane_metrics_timestamp ON dataplane_metrics(timestamp);

-- /api/errors reads the failed requests of a period: a partial index holds only them, so the
-- query never walks the successful rows, and it covers the counts by status, route and message.
CREATE INDEX idx_logs_errors ON request_logs(timestamp, status_code, route_id, error_message)
  WHERE status_code >= 500 OR error_message IS NOT NULL;

-- /api/logs?status= reads one status newest first: (status_code, timestamp) serves that in index
-- order and stops at the limit, where (status_code) alone had the rows sorted whole. It
-- replaces idx_logs_status (0001), of which it is an extension, so writes pay no extra index.
DROP INDEX idx_logs_status;
CREATE INDEX idx_logs_status_time ON request_logs(status_code, timestamp);

-- /api/security counts violations over a period across routes; 0008 indexed them by route only.
CREATE INDEX idx_rlv_timestamp ON rate_limit_violations(timestamp);
-- /api/stats/connection-pools reads the latest report per (data plane, backend).
CREATE INDEX idx_pool_stats_node_backend ON pool_stats(node_id, backend, timestamp);
-- /api/websockets reads the connections that ended in the last day (peak, average duration);
-- idx_ws_active (0001) holds only the open ones.
CREATE INDEX idx_ws_disconnected ON websocket_connections(disconnected_at);
