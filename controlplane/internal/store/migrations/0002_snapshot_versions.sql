-- Every snapshot version the control plane published, so that versions keep growing across restarts
-- (a data plane that reconnects says which version it holds; a reused number would mean a different
-- configuration under the same name), and so that history can say what was live when.
CREATE TABLE snapshot_versions (
  version INTEGER PRIMARY KEY,
  config_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
