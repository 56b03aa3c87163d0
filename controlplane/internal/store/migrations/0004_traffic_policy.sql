-- Traffic policy (issue 4): what the data plane's policies add to a request's row, circuit-breaker
-- state changes, and connection-pool statistics.
--
-- request_logs: retry_count (a seed column) is now filled; content_encoding and
-- bytes_saved_compression say what the proxy's compression did; timeout_kind names the timeout that
-- ended a request; slow is 'warning' or 'critical' past the route's slow_request thresholds.
ALTER TABLE request_logs ADD COLUMN content_encoding TEXT;
ALTER TABLE request_logs ADD COLUMN bytes_saved_compression INTEGER DEFAULT 0;
ALTER TABLE request_logs ADD COLUMN timeout_kind TEXT;
ALTER TABLE request_logs ADD COLUMN slow TEXT;

-- Every state change of a breaker, per data plane (each data plane has its own breakers).
-- circuit_breaker_state (seed table, keyed by service) keeps the latest state of each service's
-- breaker, whichever data plane reported it last.
CREATE TABLE circuit_breaker_events (
  event_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  service_id INTEGER,
  backend TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  failures INTEGER DEFAULT 0,
  reason TEXT,
  FOREIGN KEY(service_id) REFERENCES services(service_id)
);
CREATE INDEX idx_cb_events_timestamp ON circuit_breaker_events(timestamp);

-- Connection pools as each data plane reports them (every 30 s by default), for
-- /api/stats/connection-pools.
CREATE TABLE pool_stats (
  stat_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  backend TEXT NOT NULL,
  active INTEGER NOT NULL,
  idle INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  reused INTEGER NOT NULL,
  average_connection_age_ms INTEGER,
  max_conns INTEGER
);
CREATE INDEX idx_pool_stats_backend_time ON pool_stats(backend, timestamp);
