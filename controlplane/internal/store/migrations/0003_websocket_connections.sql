-- WebSocket connections as the data planes report them (EventBatch.websockets): an OPEN event
-- inserts the row, the CLOSE event of the same connection completes it (or inserts it whole when
-- the OPEN was lost). A connection is identified by the data plane that relayed it (node_id),
-- that process (boot_id) and its connection_id, which is unique within a boot.
-- The seed's columns stay: route_id, client_ip (masked), connected_at, disconnected_at (NULL while
-- open), duration_seconds, bytes_sent (to the client), bytes_received (from it), close_reason.
ALTER TABLE websocket_connections ADD COLUMN node_id TEXT;
ALTER TABLE websocket_connections ADD COLUMN boot_id TEXT;
ALTER TABLE websocket_connections ADD COLUMN connection_id TEXT;
ALTER TABLE websocket_connections ADD COLUMN request_id TEXT;
ALTER TABLE websocket_connections ADD COLUMN host TEXT;
ALTER TABLE websocket_connections ADD COLUMN path TEXT;

CREATE UNIQUE INDEX idx_ws_connection_key ON websocket_connections(node_id, boot_id, connection_id);
CREATE INDEX idx_ws_route ON websocket_connections(route_id, connected_at);
