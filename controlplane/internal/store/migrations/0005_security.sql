-- Security (issue 5): what the security policies of the data plane did and saw.
--
-- request_logs: the client's country and city from GeoIP at the edge, and blocked_by, the policy
-- that answered instead of the backend ('ban', 'rate_limit', 'waf', 'geoip').
ALTER TABLE request_logs ADD COLUMN country TEXT;
ALTER TABLE request_logs ADD COLUMN city TEXT;
ALTER TABLE request_logs ADD COLUMN blocked_by TEXT;

-- Every security event, of every kind, as the data planes report them: the source for alerts
-- and the dashboard's security view. client_ip is the real address (bans need it); it is kept
-- only as long as data_retention.security_logs says. waf_blocks and rate_limit_violations (seed
-- tables) get their own rows too.
CREATE TABLE security_events (
  event_id INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  kind TEXT NOT NULL,          -- 'throttled', 'banned', 'failed_login', 'waf', 'geo_blocked', 'unusual_country'
  route_id INTEGER,
  client_ip TEXT,
  path TEXT,
  request_id TEXT,
  action TEXT,
  rule TEXT,
  pattern TEXT,
  snippet TEXT,
  count INTEGER DEFAULT 0,
  ban_until INTEGER,
  country TEXT,
  reason TEXT,
  alert_webhook INTEGER DEFAULT 0,
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);
CREATE INDEX idx_security_events_timestamp ON security_events(timestamp);
CREATE INDEX idx_security_events_kind ON security_events(kind, timestamp);
