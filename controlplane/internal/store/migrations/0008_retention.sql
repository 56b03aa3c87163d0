-- Retention (issue 6): the job deletes old rows per route in small batches
-- (controlplane/internal/retention, store/retention.go). Each batch selects the oldest rows of one
-- route with "route_id = ? AND <time> < cutoff LIMIT n", so every table it prunes per route needs
-- an index on (route_id, time), and every table it prunes as a whole one on its time column.
-- Already there: request_logs (route_id, timestamp), websocket_connections (route_id,
-- connected_at), circuit_breaker_events (timestamp), health_checks (timestamp). rate_limits holds
-- one row per ban and stays small; its banned_until index serves the ban queries.
--
-- auto_vacuum=INCREMENTAL, which lets the job give freed pages back to the file system, cannot be
-- set here: it needs a VACUUM, which cannot run inside a migration's transaction (see
-- store/vacuum.go).
CREATE INDEX idx_security_events_route ON security_events(route_id, timestamp);
CREATE INDEX idx_waf_route ON waf_blocks(route_id, timestamp);
CREATE INDEX idx_rlv_route ON rate_limit_violations(route_id, timestamp);
CREATE INDEX idx_metrics_route_timestamp ON metrics(route_id, timestamp);
CREATE INDEX idx_pool_stats_timestamp ON pool_stats(timestamp);
CREATE INDEX idx_analytics_hourly_route ON analytics_hourly(route_id, hour_timestamp);
CREATE INDEX idx_analytics_ua_route ON analytics_user_agents(route_id, timestamp);
CREATE INDEX idx_analytics_geoip_route ON analytics_geoip(route_id, timestamp);
