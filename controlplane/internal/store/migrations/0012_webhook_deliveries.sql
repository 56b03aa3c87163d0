-- Webhook deliveries (issue 8): one row per attempt to deliver an alert to a webhook, so the
-- administrator can see what was sent, what failed and why (GET /api/webhooks/deliveries).
-- Pruned by the retention job with the global metrics period.
CREATE TABLE webhook_deliveries (
  delivery_id INTEGER PRIMARY KEY,
  message_id TEXT NOT NULL,            -- one alert to one webhook; its attempts share it
  timestamp INTEGER NOT NULL,          -- unix seconds: when the attempt began
  timestamp_ms INTEGER NOT NULL,       -- the same in milliseconds
  webhook TEXT NOT NULL,               -- the webhook's name (never its URL: that is a credential)
  event_type TEXT NOT NULL,            -- alert.Type
  route_key TEXT NOT NULL DEFAULT '',  -- Route.id the alert is about, '' when none
  host TEXT NOT NULL DEFAULT '',       -- its host, '' when none
  attempt INTEGER NOT NULL,            -- 1, 2, ...
  status_code INTEGER,                 -- NULL when no response came
  error TEXT NOT NULL DEFAULT '',      -- why the attempt failed; '' on success
  duration_ms INTEGER NOT NULL,
  suppressed_count INTEGER NOT NULL DEFAULT 0 -- alerts of its type throttled since the previous message
);
CREATE INDEX idx_webhook_deliveries_timestamp ON webhook_deliveries(timestamp);
