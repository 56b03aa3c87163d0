-- Bans (issue 5): rate_limits holds every ban a data plane decided, one row per ban episode of
-- one client address on one route; the active ones (banned_until in the future) are pushed to
-- every data plane.
--
-- The seed's rate_limits cannot hold a ban as the contract defines it, so the table is rebuilt
-- (SQLite cannot drop a NOT NULL constraint in place):
--   * route_id becomes nullable: NULL is a ban on every route (Ban.route_id empty), which a
--     NOT NULL foreign key to routes could not express.
--   * reason: why the client was banned, shown to the admin and sent to the data planes.
--   * node_id: the data plane that reported the ban first.
--   * lifted_at: when an admin lifted the ban (banned_until is set to the same time, so the row
--     stays as history and stops being active); a late report of a ban decided before that time
--     does not bring it back.
-- For a ban row, window_start is when the ban began (Ban.banned_at), request_count is the count
-- the data plane reported (violations or failures), and ban_count numbers the bans of that
-- address on that route (1 for the first, 2 for the next, ...).
CREATE TABLE rate_limits_new (
  ip_address TEXT NOT NULL,
  route_id INTEGER,
  window_start INTEGER NOT NULL,
  request_count INTEGER DEFAULT 0,
  banned_until INTEGER,
  ban_count INTEGER DEFAULT 0,
  reason TEXT,
  node_id TEXT,
  lifted_at INTEGER,
  PRIMARY KEY (ip_address, route_id, window_start),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);
INSERT INTO rate_limits_new (ip_address, route_id, window_start, request_count, banned_until, ban_count)
  SELECT ip_address, route_id, window_start, request_count, banned_until, ban_count FROM rate_limits;
DROP TABLE rate_limits;
ALTER TABLE rate_limits_new RENAME TO rate_limits;
CREATE INDEX idx_rate_limits_banned ON rate_limits(banned_until);
