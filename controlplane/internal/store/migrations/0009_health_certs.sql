-- Health checks and certificate monitoring (issue 7).
--
-- health_checks (0001) keyed a check by services.service_id, NOT NULL; the control plane checks
-- routes (a site's health_check: applies to its route's backend), and file-defined sites have no
-- service. The table is rebuilt keyed by route; it held nothing before this migration.
DROP INDEX idx_health_timestamp;
DROP INDEX idx_health_service;
DROP TABLE health_checks;
CREATE TABLE health_checks (
  check_id INTEGER PRIMARY KEY,
  route_id INTEGER NOT NULL REFERENCES routes(route_id),
  service_id INTEGER REFERENCES services(service_id),
  timestamp INTEGER NOT NULL,        -- unix seconds
  success BOOLEAN NOT NULL,
  response_time_ms INTEGER,
  status_code INTEGER,               -- NULL when no response came
  error_message TEXT
);
CREATE INDEX idx_health_timestamp ON health_checks(timestamp);
CREATE INDEX idx_health_route ON health_checks(route_id, timestamp);

-- health_state is the current state of every checked route: one row per route, replaced on every
-- check. state is healthy (>= 90% of the last minute's checks succeeded), degraded (50-90%),
-- down (< 50%) or unknown (no check finished yet).
CREATE TABLE health_state (
  route_id INTEGER PRIMARY KEY REFERENCES routes(route_id),
  backend_url TEXT NOT NULL,
  state TEXT NOT NULL,
  success_ratio REAL NOT NULL,
  since INTEGER NOT NULL,            -- unix seconds: when this state began
  last_check INTEGER NOT NULL,       -- unix seconds
  last_error TEXT
);

-- certificates (0001) gains what the monitor reports: issuer, start of validity, and the alert
-- level of its expiry: ok, warning (<= 30 days), urgent (<= 14), critical (<= 7), expired.
ALTER TABLE certificates ADD COLUMN issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN not_before INTEGER;
ALTER TABLE certificates ADD COLUMN level TEXT NOT NULL DEFAULT 'ok';
