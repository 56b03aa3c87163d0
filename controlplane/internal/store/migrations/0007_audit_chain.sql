-- The audit trail (issue 6): audit_log becomes append-only and hash-chained (auditchain.go).
--
--   * prev_hash, hash: hex SHA-256. hash covers prev_hash and a length-prefixed encoding of the
--     row's fields (audit_id included); prev_hash is the hash of the row before it, 64 zeros for
--     the first row ever written. Rows written before this migration are chained once, at the
--     first Open of the store that applies it (chainLegacyAudit), in audit_id order.
--   * diff: the unified diff between old_value and new_value, for configuration file entries.
ALTER TABLE audit_log ADD COLUMN diff TEXT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;

-- The one door through audit_log's immutability: open = 1 lets rows be deleted, and lets a row
-- without a hash (written before this migration) be given one. Only the control plane's single
-- writer opens it, inside the transaction that deletes (DeleteAuditBefore) or chains, and closes
-- it again before that transaction commits: no other connection ever sees it open. Someone with
-- write access to the file can open it, or drop the triggers; that is what the hash chain is for.
CREATE TABLE audit_retention_gate (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  open INTEGER NOT NULL CHECK (open IN (0, 1))
);
INSERT INTO audit_retention_gate (id, open) VALUES (1, 0);

CREATE TRIGGER audit_log_insert_chained BEFORE INSERT ON audit_log
WHEN NEW.hash IS NULL OR NEW.prev_hash IS NULL
BEGIN
  SELECT RAISE(ABORT, 'audit_log: rows must be written with their chain hash (store.insertAudit)');
END;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN OLD.hash IS NOT NULL OR (SELECT open FROM audit_retention_gate WHERE id = 1) IS NOT 1
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN (SELECT open FROM audit_retention_gate WHERE id = 1) IS NOT 1
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only: rows are deleted only by the audit retention');
END;

-- The gate itself cannot be removed, so the triggers always find its row.
CREATE TRIGGER audit_retention_gate_keep BEFORE DELETE ON audit_retention_gate
BEGIN
  SELECT RAISE(ABORT, 'audit_retention_gate: the gate row cannot be deleted');
END;

-- The last configuration accepted of each file (site files and the global file), as recorded in
-- the audit log, so that a change made while the control plane was stopped is still audited with
-- the text it replaced. name is "site:<file name>" or "global:<file name>".
CREATE TABLE config_files (
  name TEXT PRIMARY KEY,
  content TEXT NOT NULL,
  recorded_at INTEGER NOT NULL
) WITHOUT ROWID;
