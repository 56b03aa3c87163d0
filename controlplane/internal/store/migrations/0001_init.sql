-- 0001_init: the initial schema.
--
-- Starting point: the schema of the seeds (000 section 10, 002). Timestamps are unix seconds as in
-- the seeds unless a column name says otherwise. Deviations from the seeds, and why:
--
-- services
--   * unchanged. Rows are derived from route backend URLs (host, port) by SyncRoutes.
-- routes
--   * route_key TEXT NOT NULL UNIQUE added: Route.id of the snapshot contract, stable across
--     snapshots; every per-route row is keyed by routes.route_id, found through route_key.
--   * domain is no longer UNIQUE: several routes (path prefixes) may share a host. domain holds the
--     route's first host; hosts holds all of them as a JSON array.
--   * path_prefix, backend_url, site, source_file added (from the snapshot's Route).
--   * service_id is nullable: a route whose backend is not (yet) a known service has none.
--   * active added: 1 while the route is in the current configuration, 0 once it is gone or when
--     the row was created from an event whose route key no configuration synced yet. Routes are
--     never deleted, so stored history keeps its route.
--   * index on domain.
-- metrics
--   * service_id nullable, route_id (nullable FK) added: per-route data is keyed by route.
-- request_logs
--   * service_id nullable (no route or no known service: unknown-host requests).
--   * added: route_id (nullable FK to routes, NULL when no route matched), node_id (the data plane
--     that served the request), host, backend, protocol, snapshot_version, and timestamp_ms (unix
--     milliseconds, for ordering within a second; timestamp stays in seconds as in the seeds).
--   * bytes_sent is bytes sent to the client, bytes_received bytes received from it.
--   * index on (route_id, timestamp) for per-route retention and per-route reads.
-- health_checks
--   * index on (service_id, timestamp).
-- rate_limits, rate_limit_violations, waf_blocks, analytics_*, websocket_connections,
-- maintenance_pages, error_pages
--   * route_id references routes(route_id) everywhere (the seeds did so only for some tables).
-- analytics_user_agents, analytics_geoip
--   * primary keys added so roll-ups can upsert; analytics_geoip.city is NOT NULL DEFAULT ''
--     because it is part of the key (NULLs never conflict).
-- error_pages
--   * a partial unique index on status_code for global pages (route_id IS NULL): the seed's
--     UNIQUE(route_id, status_code) treats NULLs as distinct, so it allowed duplicates.
-- New tables (the event contract, proto/proxy/v1/events.proto):
--   * event_batches: one row per committed EventBatch, keyed (node_id, boot_id, sequence); makes
--     storing a batch idempotent. Old rows may be pruned once no data plane can re-send them.
--   * dataplane_drops: dropped_events reported by a data plane, with the batch that reported them
--     (no foreign key to event_batches, so pruning batches keeps the drop history).

CREATE TABLE services (
  service_id INTEGER PRIMARY KEY,
  service_name TEXT NOT NULL,
  port INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  total_requests INTEGER DEFAULT 0,
  total_errors INTEGER DEFAULT 0,
  avg_response_time_ms REAL DEFAULT 0,
  UNIQUE(service_name, port)
);

CREATE TABLE routes (
  route_id INTEGER PRIMARY KEY,
  route_key TEXT NOT NULL UNIQUE,
  domain TEXT NOT NULL,
  hosts TEXT NOT NULL DEFAULT '[]',  -- JSON array
  path_prefix TEXT NOT NULL DEFAULT '/',
  backend_url TEXT NOT NULL DEFAULT '',
  site TEXT NOT NULL DEFAULT '',
  source_file TEXT NOT NULL DEFAULT '',
  service_id INTEGER,
  config_yaml TEXT,
  active INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  retention_access_logs INTEGER DEFAULT 604800,    -- 7 days
  retention_error_logs INTEGER DEFAULT 2592000,    -- 30 days
  retention_security_logs INTEGER DEFAULT 7776000, -- 90 days
  retention_metrics INTEGER DEFAULT 2592000,       -- 30 days
  FOREIGN KEY(service_id) REFERENCES services(service_id)
);

CREATE INDEX idx_routes_domain ON routes(domain);

CREATE TABLE metrics (
  metric_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  route_id INTEGER,
  service_id INTEGER,
  status_code INTEGER NOT NULL,
  response_time_ms INTEGER NOT NULL,
  bytes_sent INTEGER NOT NULL,
  bytes_received INTEGER NOT NULL,
  bytes_saved_compression INTEGER DEFAULT 0,
  FOREIGN KEY(route_id) REFERENCES routes(route_id),
  FOREIGN KEY(service_id) REFERENCES services(service_id)
);

CREATE INDEX idx_metrics_timestamp ON metrics(timestamp);
CREATE INDEX idx_metrics_service ON metrics(service_id);
CREATE INDEX idx_metrics_route ON metrics(route_id);

CREATE TABLE request_logs (
  log_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  route_id INTEGER,
  service_id INTEGER,
  node_id TEXT NOT NULL,
  host TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status_code INTEGER NOT NULL,
  response_time_ms INTEGER NOT NULL,
  client_ip TEXT,  -- GDPR masked by the data plane
  user_agent TEXT,
  bytes_sent INTEGER,
  bytes_received INTEGER,
  error_message TEXT,
  request_id TEXT,  -- For tracing
  retry_count INTEGER DEFAULT 0,
  backend TEXT,
  protocol TEXT,
  snapshot_version INTEGER,
  FOREIGN KEY(route_id) REFERENCES routes(route_id),
  FOREIGN KEY(service_id) REFERENCES services(service_id)
);

CREATE INDEX idx_logs_timestamp ON request_logs(timestamp);
CREATE INDEX idx_logs_status ON request_logs(status_code);
CREATE INDEX idx_logs_request_id ON request_logs(request_id);
CREATE INDEX idx_logs_route_timestamp ON request_logs(route_id, timestamp);

CREATE TABLE health_checks (
  check_id INTEGER PRIMARY KEY,
  service_id INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  success BOOLEAN NOT NULL,
  response_time_ms INTEGER,
  error_message TEXT,
  FOREIGN KEY(service_id) REFERENCES services(service_id)
);

CREATE INDEX idx_health_timestamp ON health_checks(timestamp);
CREATE INDEX idx_health_service ON health_checks(service_id, timestamp);

CREATE TABLE certificates (
  cert_id INTEGER PRIMARY KEY,
  domain TEXT NOT NULL UNIQUE,
  cert_path TEXT NOT NULL,
  key_path TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  san_domains TEXT,  -- JSON array
  last_checked INTEGER NOT NULL
);

CREATE TABLE rate_limits (
  ip_address TEXT NOT NULL,
  route_id INTEGER NOT NULL,
  window_start INTEGER NOT NULL,
  request_count INTEGER DEFAULT 0,
  banned_until INTEGER,
  ban_count INTEGER DEFAULT 0,
  PRIMARY KEY (ip_address, route_id, window_start),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE TABLE rate_limit_violations (
  violation_id INTEGER PRIMARY KEY,
  ip_address TEXT NOT NULL,
  route_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  request_count INTEGER,
  action TEXT,  -- 'throttled', 'banned'
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE INDEX idx_rate_limits_banned ON rate_limits(banned_until);

CREATE TABLE waf_blocks (
  block_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  ip_address TEXT NOT NULL,
  route_id INTEGER,
  path TEXT NOT NULL,
  rule_triggered TEXT NOT NULL,
  pattern_matched TEXT,
  request_snippet TEXT,
  action TEXT,  -- 'blocked', 'logged'
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE INDEX idx_waf_timestamp ON waf_blocks(timestamp);
CREATE INDEX idx_waf_ip ON waf_blocks(ip_address);

CREATE TABLE analytics_hourly (
  hour_timestamp INTEGER NOT NULL,
  route_id INTEGER NOT NULL,
  request_count INTEGER DEFAULT 0,
  error_count INTEGER DEFAULT 0,
  bytes_sent INTEGER DEFAULT 0,
  bytes_received INTEGER DEFAULT 0,
  avg_response_time_ms REAL DEFAULT 0,
  PRIMARY KEY (hour_timestamp, route_id),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE TABLE analytics_user_agents (
  timestamp INTEGER NOT NULL,
  route_id INTEGER NOT NULL,
  user_agent_type TEXT NOT NULL,  -- 'bot', 'browser', 'api', 'mobile'
  count INTEGER DEFAULT 0,
  PRIMARY KEY (timestamp, route_id, user_agent_type),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE TABLE analytics_geoip (
  timestamp INTEGER NOT NULL,
  route_id INTEGER NOT NULL,
  country_code TEXT NOT NULL,
  city TEXT NOT NULL DEFAULT '',
  count INTEGER DEFAULT 0,
  PRIMARY KEY (timestamp, route_id, country_code, city),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE TABLE websocket_connections (
  conn_id INTEGER PRIMARY KEY,
  route_id INTEGER NOT NULL,
  client_ip TEXT NOT NULL,
  connected_at INTEGER NOT NULL,
  disconnected_at INTEGER,
  duration_seconds INTEGER,
  bytes_sent INTEGER DEFAULT 0,
  bytes_received INTEGER DEFAULT 0,
  close_reason TEXT,
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE INDEX idx_ws_active ON websocket_connections(disconnected_at)
  WHERE disconnected_at IS NULL;

CREATE TABLE error_pages (
  page_id INTEGER PRIMARY KEY,
  route_id INTEGER,  -- NULL = global
  status_code INTEGER NOT NULL,
  html_content TEXT NOT NULL,
  last_modified INTEGER NOT NULL,
  FOREIGN KEY(route_id) REFERENCES routes(route_id),
  UNIQUE(route_id, status_code)
);

CREATE UNIQUE INDEX idx_error_pages_global ON error_pages(status_code) WHERE route_id IS NULL;

CREATE TABLE maintenance_pages (
  page_id INTEGER PRIMARY KEY,
  route_id INTEGER NOT NULL,
  html_content TEXT NOT NULL,
  scheduled_start INTEGER,
  scheduled_end INTEGER,
  is_active BOOLEAN DEFAULT 0,
  created_at INTEGER NOT NULL,
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);

CREATE TABLE circuit_breaker_state (
  service_id INTEGER PRIMARY KEY,
  state TEXT NOT NULL,  -- 'closed', 'open', 'half-open'
  failure_count INTEGER DEFAULT 0,
  last_failure INTEGER,
  opened_at INTEGER,
  FOREIGN KEY(service_id) REFERENCES services(service_id)
);

CREATE TABLE audit_log (
  audit_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  user TEXT NOT NULL,  -- 'admin', 'system', IP
  action TEXT NOT NULL,  -- 'config_reload', 'config_rejected', 'route_added', ...
  resource_type TEXT NOT NULL,  -- 'route', 'certificate', 'setting', 'config'
  resource_id TEXT,
  old_value TEXT,  -- JSON or YAML
  new_value TEXT,  -- JSON or YAML
  source TEXT,  -- 'dashboard', 'api', 'file_watcher'
  notes TEXT
);

CREATE INDEX idx_audit_timestamp ON audit_log(timestamp DESC);
CREATE INDEX idx_audit_action ON audit_log(action);

CREATE TABLE event_batches (
  node_id TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  event_count INTEGER NOT NULL,
  PRIMARY KEY (node_id, boot_id, sequence)
) WITHOUT ROWID;

CREATE INDEX idx_event_batches_received ON event_batches(received_at);

CREATE TABLE dataplane_drops (
  drop_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  dropped_events INTEGER NOT NULL
);

CREATE INDEX idx_dataplane_drops_node ON dataplane_drops(node_id, timestamp);
