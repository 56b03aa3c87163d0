-- Traffic roll-ups (issue 7): what the dashboards and the analytics API read instead of raw rows.
--
-- Every stored batch of request events adds to the roll-ups in the transaction that stores its
-- request_logs rows (store/rollup.go), so a roll-up never counts a request twice or misses one.
-- Only requests that matched a route are rolled up (requests for unknown hosts stay in
-- request_logs only).
--
-- analytics_minute (new) and analytics_hourly (0001, extended) have the same counters, per route
-- and per minute or hour (unix seconds of the period's start):
--   request_count, error_count (5xx answers, requests without an answer (status 0), and answers
--   under 400 the proxy reported an error for), bytes_sent (to clients), bytes_received (from
--   them), bytes_saved_compression, response_time_sum_us (microseconds), slow_count (flagged slow by the data
--   plane), blocked_count (answered by a security policy), status_1xx..status_5xx, and lat_00..lat_51:
--   a response-time histogram with fixed log-scale buckets (bucket 0: under 1 ms; bucket i in
--   1..50: [1.25^(i-1), 1.25^i) ms; bucket 51: 1.25^50 ms, about 70 s, and more). The buckets are
--   the same in every row, so rows of any periods merge by adding them: percentiles over a day or a
--   month come from SUM(lat_xx), within one bucket's width (25%).
-- analytics_minute is kept about two days (the retention job, like analytics_hourly, whose rows
-- follow data_retention.metrics); events older than that when they arrive only go to the hourly rows. analytics_hourly.avg_response_time_ms stays filled.
-- analytics_user_agents and analytics_geoip (0001) get one row per route, hour and user-agent
-- class or country (city is always '': a city per hour and route would grow without bound).
CREATE TABLE analytics_minute (
  minute_timestamp INTEGER NOT NULL,
  route_id INTEGER NOT NULL,
  request_count INTEGER NOT NULL DEFAULT 0,
  error_count INTEGER NOT NULL DEFAULT 0,
  bytes_sent INTEGER NOT NULL DEFAULT 0,
  bytes_received INTEGER NOT NULL DEFAULT 0,
  bytes_saved_compression INTEGER NOT NULL DEFAULT 0,
  response_time_sum_us INTEGER NOT NULL DEFAULT 0,
  slow_count INTEGER NOT NULL DEFAULT 0,
  blocked_count INTEGER NOT NULL DEFAULT 0,
  status_1xx INTEGER NOT NULL DEFAULT 0,
  status_2xx INTEGER NOT NULL DEFAULT 0,
  status_3xx INTEGER NOT NULL DEFAULT 0,
  status_4xx INTEGER NOT NULL DEFAULT 0,
  status_5xx INTEGER NOT NULL DEFAULT 0,
  lat_00 INTEGER NOT NULL DEFAULT 0,
  lat_01 INTEGER NOT NULL DEFAULT 0,
  lat_02 INTEGER NOT NULL DEFAULT 0,
  lat_03 INTEGER NOT NULL DEFAULT 0,
  lat_04 INTEGER NOT NULL DEFAULT 0,
  lat_05 INTEGER NOT NULL DEFAULT 0,
  lat_06 INTEGER NOT NULL DEFAULT 0,
  lat_07 INTEGER NOT NULL DEFAULT 0,
  lat_08 INTEGER NOT NULL DEFAULT 0,
  lat_09 INTEGER NOT NULL DEFAULT 0,
  lat_10 INTEGER NOT NULL DEFAULT 0,
  lat_11 INTEGER NOT NULL DEFAULT 0,
  lat_12 INTEGER NOT NULL DEFAULT 0,
  lat_13 INTEGER NOT NULL DEFAULT 0,
  lat_14 INTEGER NOT NULL DEFAULT 0,
  lat_15 INTEGER NOT NULL DEFAULT 0,
  lat_16 INTEGER NOT NULL DEFAULT 0,
  lat_17 INTEGER NOT NULL DEFAULT 0,
  lat_18 INTEGER NOT NULL DEFAULT 0,
  lat_19 INTEGER NOT NULL DEFAULT 0,
  lat_20 INTEGER NOT NULL DEFAULT 0,
  lat_21 INTEGER NOT NULL DEFAULT 0,
  lat_22 INTEGER NOT NULL DEFAULT 0,
  lat_23 INTEGER NOT NULL DEFAULT 0,
  lat_24 INTEGER NOT NULL DEFAULT 0,
  lat_25 INTEGER NOT NULL DEFAULT 0,
  lat_26 INTEGER NOT NULL DEFAULT 0,
  lat_27 INTEGER NOT NULL DEFAULT 0,
  lat_28 INTEGER NOT NULL DEFAULT 0,
  lat_29 INTEGER NOT NULL DEFAULT 0,
  lat_30 INTEGER NOT NULL DEFAULT 0,
  lat_31 INTEGER NOT NULL DEFAULT 0,
  lat_32 INTEGER NOT NULL DEFAULT 0,
  lat_33 INTEGER NOT NULL DEFAULT 0,
  lat_34 INTEGER NOT NULL DEFAULT 0,
  lat_35 INTEGER NOT NULL DEFAULT 0,
  lat_36 INTEGER NOT NULL DEFAULT 0,
  lat_37 INTEGER NOT NULL DEFAULT 0,
  lat_38 INTEGER NOT NULL DEFAULT 0,
  lat_39 INTEGER NOT NULL DEFAULT 0,
  lat_40 INTEGER NOT NULL DEFAULT 0,
  lat_41 INTEGER NOT NULL DEFAULT 0,
  lat_42 INTEGER NOT NULL DEFAULT 0,
  lat_43 INTEGER NOT NULL DEFAULT 0,
  lat_44 INTEGER NOT NULL DEFAULT 0,
  lat_45 INTEGER NOT NULL DEFAULT 0,
  lat_46 INTEGER NOT NULL DEFAULT 0,
  lat_47 INTEGER NOT NULL DEFAULT 0,
  lat_48 INTEGER NOT NULL DEFAULT 0,
  lat_49 INTEGER NOT NULL DEFAULT 0,
  lat_50 INTEGER NOT NULL DEFAULT 0,
  lat_51 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (minute_timestamp, route_id),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);
-- Per-route reads and the retention job's per-route batches (0008_retention.sql).
CREATE INDEX idx_analytics_minute_route ON analytics_minute(route_id, minute_timestamp);

ALTER TABLE analytics_hourly ADD COLUMN bytes_saved_compression INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN response_time_sum_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN slow_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN blocked_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN status_1xx INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN status_2xx INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN status_3xx INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN status_4xx INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN status_5xx INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_00 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_01 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_02 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_03 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_04 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_05 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_06 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_07 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_08 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_09 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_10 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_11 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_12 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_13 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_14 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_15 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_16 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_17 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_18 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_19 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_20 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_21 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_22 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_23 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_24 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_25 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_26 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_27 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_28 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_29 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_30 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_31 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_32 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_33 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_34 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_35 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_36 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_37 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_38 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_39 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_40 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_41 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_42 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_43 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_44 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_45 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_46 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_47 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_48 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_49 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_50 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE analytics_hourly ADD COLUMN lat_51 INTEGER NOT NULL DEFAULT 0;

-- Longer periods read fewer rows (the API must answer in milliseconds over a month of traffic):
-- analytics_daily has the same counters per route and UTC day, analytics_total_hourly per hour over
-- every route together, analytics_user_agents_daily and analytics_geoip_daily per route and UTC day.
-- All follow data_retention.metrics (analytics_total_hourly, which has no route, the global one).
CREATE TABLE analytics_daily (
  day_timestamp INTEGER NOT NULL,
  route_id INTEGER NOT NULL,
  request_count INTEGER NOT NULL DEFAULT 0,
  error_count INTEGER NOT NULL DEFAULT 0,
  bytes_sent INTEGER NOT NULL DEFAULT 0,
  bytes_received INTEGER NOT NULL DEFAULT 0,
  bytes_saved_compression INTEGER NOT NULL DEFAULT 0,
  response_time_sum_us INTEGER NOT NULL DEFAULT 0,
  slow_count INTEGER NOT NULL DEFAULT 0,
  blocked_count INTEGER NOT NULL DEFAULT 0,
  status_1xx INTEGER NOT NULL DEFAULT 0,
  status_2xx INTEGER NOT NULL DEFAULT 0,
  status_3xx INTEGER NOT NULL DEFAULT 0,
  status_4xx INTEGER NOT NULL DEFAULT 0,
  status_5xx INTEGER NOT NULL DEFAULT 0,
  lat_00 INTEGER NOT NULL DEFAULT 0,
  lat_01 INTEGER NOT NULL DEFAULT 0,
  lat_02 INTEGER NOT NULL DEFAULT 0,
  lat_03 INTEGER NOT NULL DEFAULT 0,
  lat_04 INTEGER NOT NULL DEFAULT 0,
  lat_05 INTEGER NOT NULL DEFAULT 0,
  lat_06 INTEGER NOT NULL DEFAULT 0,
  lat_07 INTEGER NOT NULL DEFAULT 0,
  lat_08 INTEGER NOT NULL DEFAULT 0,
  lat_09 INTEGER NOT NULL DEFAULT 0,
  lat_10 INTEGER NOT NULL DEFAULT 0,
  lat_11 INTEGER NOT NULL DEFAULT 0,
  lat_12 INTEGER NOT NULL DEFAULT 0,
  lat_13 INTEGER NOT NULL DEFAULT 0,
  lat_14 INTEGER NOT NULL DEFAULT 0,
  lat_15 INTEGER NOT NULL DEFAULT 0,
  lat_16 INTEGER NOT NULL DEFAULT 0,
  lat_17 INTEGER NOT NULL DEFAULT 0,
  lat_18 INTEGER NOT NULL DEFAULT 0,
  lat_19 INTEGER NOT NULL DEFAULT 0,
  lat_20 INTEGER NOT NULL DEFAULT 0,
  lat_21 INTEGER NOT NULL DEFAULT 0,
  lat_22 INTEGER NOT NULL DEFAULT 0,
  lat_23 INTEGER NOT NULL DEFAULT 0,
  lat_24 INTEGER NOT NULL DEFAULT 0,
  lat_25 INTEGER NOT NULL DEFAULT 0,
  lat_26 INTEGER NOT NULL DEFAULT 0,
  lat_27 INTEGER NOT NULL DEFAULT 0,
  lat_28 INTEGER NOT NULL DEFAULT 0,
  lat_29 INTEGER NOT NULL DEFAULT 0,
  lat_30 INTEGER NOT NULL DEFAULT 0,
  lat_31 INTEGER NOT NULL DEFAULT 0,
  lat_32 INTEGER NOT NULL DEFAULT 0,
  lat_33 INTEGER NOT NULL DEFAULT 0,
  lat_34 INTEGER NOT NULL DEFAULT 0,
  lat_35 INTEGER NOT NULL DEFAULT 0,
  lat_36 INTEGER NOT NULL DEFAULT 0,
  lat_37 INTEGER NOT NULL DEFAULT 0,
  lat_38 INTEGER NOT NULL DEFAULT 0,
  lat_39 INTEGER NOT NULL DEFAULT 0,
  lat_40 INTEGER NOT NULL DEFAULT 0,
  lat_41 INTEGER NOT NULL DEFAULT 0,
  lat_42 INTEGER NOT NULL DEFAULT 0,
  lat_43 INTEGER NOT NULL DEFAULT 0,
  lat_44 INTEGER NOT NULL DEFAULT 0,
  lat_45 INTEGER NOT NULL DEFAULT 0,
  lat_46 INTEGER NOT NULL DEFAULT 0,
  lat_47 INTEGER NOT NULL DEFAULT 0,
  lat_48 INTEGER NOT NULL DEFAULT 0,
  lat_49 INTEGER NOT NULL DEFAULT 0,
  lat_50 INTEGER NOT NULL DEFAULT 0,
  lat_51 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day_timestamp, route_id),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);
CREATE INDEX idx_analytics_daily_route ON analytics_daily(route_id, day_timestamp);

CREATE TABLE analytics_total_hourly (
  hour_timestamp INTEGER PRIMARY KEY,
  request_count INTEGER NOT NULL DEFAULT 0,
  error_count INTEGER NOT NULL DEFAULT 0,
  bytes_sent INTEGER NOT NULL DEFAULT 0,
  bytes_received INTEGER NOT NULL DEFAULT 0,
  bytes_saved_compression INTEGER NOT NULL DEFAULT 0,
  response_time_sum_us INTEGER NOT NULL DEFAULT 0,
  slow_count INTEGER NOT NULL DEFAULT 0,
  blocked_count INTEGER NOT NULL DEFAULT 0,
  status_1xx INTEGER NOT NULL DEFAULT 0,
  status_2xx INTEGER NOT NULL DEFAULT 0,
  status_3xx INTEGER NOT NULL DEFAULT 0,
  status_4xx INTEGER NOT NULL DEFAULT 0,
  status_5xx INTEGER NOT NULL DEFAULT 0,
  lat_00 INTEGER NOT NULL DEFAULT 0,
  lat_01 INTEGER NOT NULL DEFAULT 0,
  lat_02 INTEGER NOT NULL DEFAULT 0,
  lat_03 INTEGER NOT NULL DEFAULT 0,
  lat_04 INTEGER NOT NULL DEFAULT 0,
  lat_05 INTEGER NOT NULL DEFAULT 0,
  lat_06 INTEGER NOT NULL DEFAULT 0,
  lat_07 INTEGER NOT NULL DEFAULT 0,
  lat_08 INTEGER NOT NULL DEFAULT 0,
  lat_09 INTEGER NOT NULL DEFAULT 0,
  lat_10 INTEGER NOT NULL DEFAULT 0,
  lat_11 INTEGER NOT NULL DEFAULT 0,
  lat_12 INTEGER NOT NULL DEFAULT 0,
  lat_13 INTEGER NOT NULL DEFAULT 0,
  lat_14 INTEGER NOT NULL DEFAULT 0,
  lat_15 INTEGER NOT NULL DEFAULT 0,
  lat_16 INTEGER NOT NULL DEFAULT 0,
  lat_17 INTEGER NOT NULL DEFAULT 0,
  lat_18 INTEGER NOT NULL DEFAULT 0,
  lat_19 INTEGER NOT NULL DEFAULT 0,
  lat_20 INTEGER NOT NULL DEFAULT 0,
  lat_21 INTEGER NOT NULL DEFAULT 0,
  lat_22 INTEGER NOT NULL DEFAULT 0,
  lat_23 INTEGER NOT NULL DEFAULT 0,
  lat_24 INTEGER NOT NULL DEFAULT 0,
  lat_25 INTEGER NOT NULL DEFAULT 0,
  lat_26 INTEGER NOT NULL DEFAULT 0,
  lat_27 INTEGER NOT NULL DEFAULT 0,
  lat_28 INTEGER NOT NULL DEFAULT 0,
  lat_29 INTEGER NOT NULL DEFAULT 0,
  lat_30 INTEGER NOT NULL DEFAULT 0,
  lat_31 INTEGER NOT NULL DEFAULT 0,
  lat_32 INTEGER NOT NULL DEFAULT 0,
  lat_33 INTEGER NOT NULL DEFAULT 0,
  lat_34 INTEGER NOT NULL DEFAULT 0,
  lat_35 INTEGER NOT NULL DEFAULT 0,
  lat_36 INTEGER NOT NULL DEFAULT 0,
  lat_37 INTEGER NOT NULL DEFAULT 0,
  lat_38 INTEGER NOT NULL DEFAULT 0,
  lat_39 INTEGER NOT NULL DEFAULT 0,
  lat_40 INTEGER NOT NULL DEFAULT 0,
  lat_41 INTEGER NOT NULL DEFAULT 0,
  lat_42 INTEGER NOT NULL DEFAULT 0,
  lat_43 INTEGER NOT NULL DEFAULT 0,
  lat_44 INTEGER NOT NULL DEFAULT 0,
  lat_45 INTEGER NOT NULL DEFAULT 0,
  lat_46 INTEGER NOT NULL DEFAULT 0,
  lat_47 INTEGER NOT NULL DEFAULT 0,
  lat_48 INTEGER NOT NULL DEFAULT 0,
  lat_49 INTEGER NOT NULL DEFAULT 0,
  lat_50 INTEGER NOT NULL DEFAULT 0,
  lat_51 INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE analytics_user_agents_daily (
  day_timestamp INTEGER NOT NULL,
  route_id INTEGER NOT NULL,
  user_agent_type TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day_timestamp, route_id, user_agent_type),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);
CREATE INDEX idx_analytics_ua_daily_route ON analytics_user_agents_daily(route_id, day_timestamp);

CREATE TABLE analytics_geoip_daily (
  day_timestamp INTEGER NOT NULL,
  route_id INTEGER NOT NULL,
  country_code TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day_timestamp, route_id, country_code),
  FOREIGN KEY(route_id) REFERENCES routes(route_id)
);
CREATE INDEX idx_analytics_geoip_daily_route ON analytics_geoip_daily(route_id, day_timestamp);

-- /api/slow-requests reads the slow rows of request_logs (few, by definition) from these indexes
-- alone (they hold every column it needs), of every route or of one; rows that are not slow cost
-- them nothing.
CREATE INDEX idx_logs_slow ON request_logs(timestamp, route_id, method, path, response_time_ms, slow)
  WHERE slow IS NOT NULL;
CREATE INDEX idx_logs_slow_route ON request_logs(route_id, timestamp, method, path, response_time_ms, slow)
  WHERE slow IS NOT NULL;

-- /api/stats sums the drops of the last 24 hours over every data plane.
CREATE INDEX idx_dataplane_drops_timestamp ON dataplane_drops(timestamp);
