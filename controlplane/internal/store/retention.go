package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Retention classes: the data_retention key that says how long a target's rows are kept.
const (
	RetentionAccessLogs   = "access_logs"
	RetentionErrorLogs    = "error_logs"
	RetentionSecurityLogs = "security_logs"
	RetentionMetrics      = "metrics"
	// RetentionMinuteRollups is not a data_retention key: the per-minute roll-ups serve the last
	// day's views and are kept MinuteRollupRetention, whatever the routes say.
	RetentionMinuteRollups = "minute_rollups"
)

// MinuteRollupRetention is how long analytics_minute rows are kept.
const MinuteRollupRetention = 48 * time.Hour

// PruneTarget is one kind of row the retention job deletes: the rows of Table that Retention
// governs. A PerRoute target is pruned route by route (and once for its rows without a route),
// each with that route's period; the others hold no route and are pruned with the global one.
type PruneTarget struct {
	Table     string
	Retention string
	PerRoute  bool

	// where selects the rows older than the cut-off ?1 (unix seconds); it must be served by an
	// index whose first column is route_id for per-route targets (0008_retention.sql).
	where string
}

// pruneTargets are all targets, in the order the job runs them. audit_log is not one: its
// retention belongs with the audit trail's own rules.
var pruneTargets = []PruneTarget{
	// An access log row is a request that succeeded; an error log row one that failed or that
	// the data plane reported an error for.
	{Table: "request_logs", Retention: RetentionAccessLogs, PerRoute: true,
		where: `timestamp < ?1 AND status_code < 400 AND COALESCE(error_message, '') = ''`},
	{Table: "request_logs", Retention: RetentionErrorLogs, PerRoute: true,
		where: `timestamp < ?1 AND (status_code >= 400 OR COALESCE(error_message, '') <> '')`},
	// A connection's time is when it ended, or when it began if its end was never reported (a
	// lost CLOSE must not keep it forever); connected_at < cut-off narrows the index range.
	{Table: "websocket_connections", Retention: RetentionAccessLogs, PerRoute: true,
		where: `connected_at < ?1 AND COALESCE(disconnected_at, connected_at) < ?1`},
	{Table: "security_events", Retention: RetentionSecurityLogs, PerRoute: true, where: `timestamp < ?1`},
	{Table: "waf_blocks", Retention: RetentionSecurityLogs, PerRoute: true, where: `timestamp < ?1`},
	{Table: "rate_limit_violations", Retention: RetentionSecurityLogs, PerRoute: true, where: `timestamp < ?1`},
	// A ban is kept until it ended (banned_until, also set when it was lifted) plus the period,
	// so a ban in force is never deleted: the cut-off is always in the past.
	{Table: "rate_limits", Retention: RetentionSecurityLogs, PerRoute: true,
		where: `COALESCE(banned_until, window_start) < ?1`},
	{Table: "metrics", Retention: RetentionMetrics, PerRoute: true, where: `timestamp < ?1`},
	{Table: "analytics_hourly", Retention: RetentionMetrics, PerRoute: true, where: `hour_timestamp < ?1`},
	{Table: "analytics_user_agents", Retention: RetentionMetrics, PerRoute: true, where: `timestamp < ?1`},
	{Table: "analytics_geoip", Retention: RetentionMetrics, PerRoute: true, where: `timestamp < ?1`},
	{Table: "analytics_minute", Retention: RetentionMinuteRollups, where: `minute_timestamp < ?1`},
	{Table: "analytics_daily", Retention: RetentionMetrics, PerRoute: true, where: `day_timestamp < ?1`},
	{Table: "analytics_user_agents_daily", Retention: RetentionMetrics, PerRoute: true, where: `day_timestamp < ?1`},
	{Table: "analytics_geoip_daily", Retention: RetentionMetrics, PerRoute: true, where: `day_timestamp < ?1`},
	{Table: "analytics_total_hourly", Retention: RetentionMetrics, where: `hour_timestamp < ?1`},
	{Table: "pool_stats", Retention: RetentionMetrics, where: `timestamp < ?1`},
	{Table: "circuit_breaker_events", Retention: RetentionMetrics, where: `timestamp < ?1`},
	{Table: "health_checks", Retention: RetentionMetrics, PerRoute: true, where: `timestamp < ?1`},
	{Table: "dataplane_metrics", Retention: RetentionMetrics, where: `timestamp < ?1`},
	{Table: "webhook_deliveries", Retention: RetentionMetrics, where: `timestamp < ?1`},
}

// PruneTargets returns every target the retention job prunes.
func PruneTargets() []PruneTarget { return append([]PruneTarget(nil), pruneTargets...) }

// Prune asks for the rows of one target, and of one route for a per-route target, older than
// Cutoff to be deleted.
type Prune struct {
	Target PruneTarget
	// RouteID is the route whose rows are deleted (RouteRetention.ID); 0 means the rows without a
	// route. Ignored for targets that are not per route.
	RouteID int64
	Cutoff  time.Time
}

// pruneBudget is how long one batch of Prune may hold the writer: the batch size is halved when a
// batch takes longer and doubled (up to the caller's maximum) when it takes less than half, so a
// batch stays short on a slow or busy machine and an event batch waits at most about this long.
const pruneBudget = 10 * time.Millisecond

// pruneFirstBatch is the size of the first batch, before any was timed.
const pruneFirstBatch = 128

// Prune deletes the rows p selects in batches of at most maxBatch rows (fewer when the machine is
// slow, see pruneBudget), each batch one write of the single writer, so that event batches are
// stored between them. When rows were deleted, the entry proof returns for the total (proof may
// be nil) is appended to the audit log in the transaction of the last batch: the deletion and its
// proof commit together. It returns the number of rows deleted, also when it stops early on an
// error or a cancelled ctx.
func (s *Store) Prune(ctx context.Context, p Prune, maxBatch int, proof func(deleted int64) (AuditEntry, error)) (int64, error) {
	if maxBatch <= 0 {
		return 0, fmt.Errorf("prune %s: batch %d must be positive", p.Target.Table, maxBatch)
	}
	if p.Target.where == "" {
		return 0, fmt.Errorf("prune %s: unknown target", p.Target.Table)
	}
	var sel string
	switch {
	case !p.Target.PerRoute:
		sel = fmt.Sprintf(`SELECT rowid FROM %s WHERE %s LIMIT ?2`, p.Target.Table, p.Target.where)
	case p.RouteID == 0:
		sel = fmt.Sprintf(`SELECT rowid FROM %s WHERE route_id IS NULL AND %s LIMIT ?2`, p.Target.Table, p.Target.where)
	default:
		sel = fmt.Sprintf(`SELECT rowid FROM %s WHERE route_id = ?3 AND %s LIMIT ?2`, p.Target.Table, p.Target.where)
	}
	query := fmt.Sprintf(`DELETE FROM %s WHERE rowid IN (%s)`, p.Target.Table, sel)

	size := min(maxBatch, pruneFirstBatch)
	var total int64
	for {
		var (
			n     int64
			start time.Time
		)
		args := []any{p.Cutoff.Unix(), size}
		if p.Target.PerRoute && p.RouteID != 0 {
			args = append(args, p.RouteID)
		}
		err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			start = time.Now()
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
			if n < int64(size) && total+n > 0 && proof != nil {
				e, err := proof(total + n)
				if err != nil {
					return fmt.Errorf("proof: %w", err)
				}
				if e.User == "" || e.Action == "" || e.ResourceType == "" {
					return fmt.Errorf("proof %q: user, action and resource type are required", e.Action)
				}
				return insertAudit(ctx, tx, e)
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune %s (%s, route %d): %w", p.Target.Table, p.Target.Retention, p.RouteID, err)
		}
		took := time.Since(start) // the delete and its commit: how long the writer was held
		total += n
		if n < int64(size) {
			return total, nil
		}
		switch {
		case took > pruneBudget && size > 1:
			size /= 2
		case took < pruneBudget/2:
			size = min(size*2, maxBatch)
		}
	}
}

// RouteRetention is a route's recorded retention periods (routes.retention_*), from the last
// configuration it was in.
type RouteRetention struct {
	ID     int64
	Key    string
	Active bool
	// Periods by retention class (RetentionAccessLogs, ...).
	Periods map[string]time.Duration
}

// RetentionRoutes returns every route, active or not, with its retention periods. A period the
// row does not hold (NULL) is missing from Periods.
func (s *Store) RetentionRoutes(ctx context.Context) (routes []RouteRetention, err error) {
	rows, err := s.read.QueryContext(ctx, `SELECT route_id, route_key, active, retention_access_logs,
  retention_error_logs, retention_security_logs, retention_metrics FROM routes ORDER BY route_id`)
	if err != nil {
		return nil, fmt.Errorf("retention routes: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var (
			r                              RouteRetention
			access, errs, security, metric sql.NullInt64
		)
		if err := rows.Scan(&r.ID, &r.Key, &r.Active, &access, &errs, &security, &metric); err != nil {
			return nil, fmt.Errorf("retention routes: scan: %w", err)
		}
		r.Periods = map[string]time.Duration{}
		for class, v := range map[string]sql.NullInt64{RetentionAccessLogs: access, RetentionErrorLogs: errs,
			RetentionSecurityLogs: security, RetentionMetrics: metric} {
			if v.Valid && v.Int64 > 0 {
				r.Periods[class] = time.Duration(v.Int64) * time.Second
			}
		}
		routes = append(routes, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("retention routes: %w", err)
	}
	return routes, nil
}
