-- Maintenance windows (issue 9, #11): what 0001's maintenance_pages lacks to run them.
--   * allow_cidrs: client networks (JSON array of CIDRs) that still reach the backend.
--   * reason: the administrator's note ("database upgrade"), '' when none.
--   * created_by / ended_by: who turned it on / off ("admin from 127.0.0.1:5312", "schedule").
--   * ended_at: when it ended (its scheduled end, or a DELETE); NULL while it is current or
--     scheduled. A row is in force while is_active = 1; scheduled while is_active = 0 and
--     ended_at IS NULL; over once ended_at is set.
ALTER TABLE maintenance_pages ADD COLUMN allow_cidrs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE maintenance_pages ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE maintenance_pages ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE maintenance_pages ADD COLUMN ended_at INTEGER;
ALTER TABLE maintenance_pages ADD COLUMN ended_by TEXT NOT NULL DEFAULT '';
CREATE INDEX idx_maintenance_pages_open ON maintenance_pages(route_id) WHERE ended_at IS NULL;
