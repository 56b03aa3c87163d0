package store

// Reads of the traffic roll-ups (rollup.go) for the admin API. Every read is a range of one
// roll-up table through an index, summed by SQLite: a month of hourly rows of 20 routes is 14,400
// rows, whatever the number of requests behind them.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Rollup names a roll-up table.
type Rollup int

// The roll-up tables.
const (
	Hourly      Rollup = iota // analytics_hourly: per route and hour, kept per data_retention.metrics
	PerMinute                 // analytics_minute: per route and minute, kept MinuteRollupRetention
	Daily                     // analytics_daily: per route and UTC day
	TotalHourly               // analytics_total_hourly: every route together, per hour
)

func (r Rollup) table() (table, timeColumn string) {
	switch r {
	case PerMinute:
		return "analytics_minute", "minute_timestamp"
	case Daily:
		return "analytics_daily", "day_timestamp"
	case TotalHourly:
		return "analytics_total_hourly", "hour_timestamp"
	default:
		return "analytics_hourly", "hour_timestamp"
	}
}

// Grouping says how SumTraffic groups rows; each group is identified by an int64.
type Grouping int

// The groupings.
const (
	GroupNone    Grouping = iota // one group, key 0
	GroupRoute                   // key: routes.route_id
	GroupStep                    // key: the start of the period's step (unix seconds), see TrafficQuery.Step
	GroupWeekday                 // key: weekday (0 Sunday) * 24 + hour of day, UTC
)

// TrafficQuery selects roll-up rows: those of [From, To) (period starts), of one route or all.
type TrafficQuery struct {
	Rollup   Rollup
	From, To time.Time
	RouteID  int64 // 0: every route
	Group    Grouping
	Step     time.Duration // GroupStep only: a whole number of the table's periods
}

// sumColumns is the SELECT list that sums every counter column, in Counters' order.
var sumColumns = func() string {
	parts := make([]string, len(counterColumns))
	for i, c := range counterColumns {
		parts[i] = "SUM(" + c + ")"
	}
	return strings.Join(parts, ", ")
}()

// SumTraffic returns the summed counters of the rows q selects, per group.
func (s *Store) SumTraffic(ctx context.Context, q TrafficQuery) (_ map[int64]*Counters, err error) {
	table, tc := q.Rollup.table()
	var group string
	switch q.Group {
	case GroupNone:
		group = "0"
	case GroupRoute:
		if q.Rollup == TotalHourly {
			return nil, fmt.Errorf("sum traffic: %s has no routes", table)
		}
		group = "route_id"
	case GroupStep:
		step := int64(q.Step / time.Second)
		if step <= 0 {
			return nil, fmt.Errorf("sum traffic: step %s must be positive", q.Step)
		}
		group = fmt.Sprintf("%s - %s %% %d", tc, tc, step)
	case GroupWeekday:
		// 1970-01-01 was a Thursday (weekday 4).
		group = fmt.Sprintf("((%s / 86400 + 4) %% 7) * 24 + (%s / 3600) %% 24", tc, tc)
	default:
		return nil, fmt.Errorf("sum traffic: unknown grouping %d", q.Group)
	}
	where := fmt.Sprintf("%s >= ? AND %s < ?", tc, tc)
	args := []any{q.From.Unix(), q.To.Unix()}
	if q.RouteID != 0 {
		if q.Rollup == TotalHourly {
			return nil, fmt.Errorf("sum traffic: %s has no routes", table)
		}
		where += " AND route_id = ?"
		args = append(args, q.RouteID)
	}
	query := fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s GROUP BY 1", group, sumColumns, table, where)
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sum traffic of %s: %w", table, err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	out := map[int64]*Counters{}
	for rows.Next() {
		var (
			key int64
			c   Counters
		)
		dest := []any{&key, &c.Requests, &c.Errors, &c.BytesSent, &c.BytesReceived, &c.BytesSaved,
			&c.TimeSumUS, &c.Slow, &c.Blocked}
		for i := range c.Status {
			dest = append(dest, &c.Status[i])
		}
		for i := range c.Latency {
			dest = append(dest, &c.Latency[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sum traffic of %s: scan: %w", table, err)
		}
		out[key] = &c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum traffic of %s: %w", table, err)
	}
	return out, nil
}

// ClassCount is a count of requests in one class: a user-agent class or a country code ("" when
// the data plane knew no country).
type ClassCount struct {
	Class string
	Count int64
}

// UserAgentClasses returns the requests of [from, to) (period starts) per user-agent class, most
// first, from the hourly or the Daily rows.
func (s *Store) UserAgentClasses(ctx context.Context, r Rollup, from, to time.Time, routeID int64) ([]ClassCount, error) {
	table, tc := "analytics_user_agents", "timestamp"
	if r == Daily {
		table, tc = "analytics_user_agents_daily", "day_timestamp"
	}
	return s.classCounts(ctx, table, tc, "user_agent_type", from, to, routeID, -1)
}

// Countries returns the requests of [from, to) (period starts) per country, most first, at most
// limit, from the hourly or the Daily rows.
func (s *Store) Countries(ctx context.Context, r Rollup, from, to time.Time, routeID int64, limit int) ([]ClassCount, error) {
	table, tc := "analytics_geoip", "timestamp"
	if r == Daily {
		table, tc = "analytics_geoip_daily", "day_timestamp"
	}
	return s.classCounts(ctx, table, tc, "country_code", from, to, routeID, limit)
}

func (s *Store) classCounts(ctx context.Context, table, tc, column string, from, to time.Time, routeID int64, limit int) (out []ClassCount, err error) {
	where := fmt.Sprintf("%s >= ? AND %s < ?", tc, tc)
	args := []any{from.Unix(), to.Unix()}
	if routeID != 0 {
		where += " AND route_id = ?"
		args = append(args, routeID)
	}
	q := fmt.Sprintf("SELECT %s, SUM(count) AS n FROM %s WHERE %s GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?",
		column, table, where)
	rows, err := s.read.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("count %s: %w", table, err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var c ClassCount
		if err := rows.Scan(&c.Class, &c.Count); err != nil {
			return nil, fmt.Errorf("count %s: scan: %w", table, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count %s: %w", table, err)
	}
	return out, nil
}

// RouteIDs returns the row id of every route key the database knows, current or not.
func (s *Store) RouteIDs(ctx context.Context) (_ map[string]int64, err error) {
	rows, err := s.read.QueryContext(ctx, "SELECT route_key, route_id FROM routes")
	if err != nil {
		return nil, fmt.Errorf("route ids: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	ids := map[string]int64{}
	for rows.Next() {
		var (
			key string
			id  int64
		)
		if err := rows.Scan(&key, &id); err != nil {
			return nil, fmt.Errorf("route ids: scan: %w", err)
		}
		ids[key] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route ids: %w", err)
	}
	return ids, nil
}

// RouteState is what the database knows about a route's state now.
type RouteState struct {
	RouteID       int64
	Health        string // health_state.state; "" when the route is not checked
	HealthSince   time.Time
	SuccessRatio  float64
	HealthError   string
	Circuit       string // circuit_breaker_state.state of the route's backend service; "" when none reported
	CircuitFailed int64
	WebSockets    int64 // open WebSocket connections
}

// RouteStates returns the state of every route key the database knows.
func (s *Store) RouteStates(ctx context.Context) (_ map[string]RouteState, err error) {
	const q = `SELECT r.route_key, r.route_id, h.state, h.since, h.success_ratio, h.last_error, c.state,
  c.failure_count, COALESCE(w.n, 0)
FROM routes r
LEFT JOIN health_state h ON h.route_id = r.route_id
LEFT JOIN circuit_breaker_state c ON c.service_id = r.service_id
LEFT JOIN (SELECT route_id, COUNT(*) AS n FROM websocket_connections WHERE disconnected_at IS NULL
  GROUP BY route_id) w ON w.route_id = r.route_id`
	rows, err := s.read.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("route states: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	out := map[string]RouteState{}
	for rows.Next() {
		var (
			key                   string
			st                    RouteState
			health, herr, circuit sql.NullString
			since, failures       sql.NullInt64
			ratio                 sql.NullFloat64
		)
		if err := rows.Scan(&key, &st.RouteID, &health, &since, &ratio, &herr, &circuit, &failures, &st.WebSockets); err != nil {
			return nil, fmt.Errorf("route states: scan: %w", err)
		}
		st.Health, st.HealthError, st.Circuit = health.String, herr.String, circuit.String
		st.SuccessRatio, st.CircuitFailed = ratio.Float64, failures.Int64
		if since.Valid {
			st.HealthSince = time.Unix(since.Int64, 0).UTC()
		}
		out[key] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route states: %w", err)
	}
	return out, nil
}

// DroppedEventsSince returns the events the data planes reported dropping in batches received at
// or after since.
func (s *Store) DroppedEventsSince(ctx context.Context, since time.Time) (int64, error) {
	var n int64
	if err := s.read.QueryRowContext(ctx,
		"SELECT COALESCE(SUM(dropped_events), 0) FROM dataplane_drops WHERE timestamp >= ?", since.Unix()).Scan(&n); err != nil {
		return 0, fmt.Errorf("dropped events since %s: %w", since.Format(time.RFC3339), err)
	}
	return n, nil
}

// ActiveConnections returns the sum of the active connections the data planes last reported, over
// those that reported at or after since; ok is false when none did.
func (s *Store) ActiveConnections(ctx context.Context, since time.Time) (n int64, ok bool, err error) {
	const q = `SELECT COUNT(*), COALESCE(SUM(m.active_connections), 0) FROM dataplane_metrics m
WHERE m.timestamp >= ?1 AND m.timestamp = (SELECT MAX(timestamp) FROM dataplane_metrics WHERE node_id = m.node_id)`
	var nodes int64
	if err := s.read.QueryRowContext(ctx, q, since.Unix()).Scan(&nodes, &n); err != nil {
		return 0, false, fmt.Errorf("active connections: %w", err)
	}
	return n, nodes > 0, nil
}
