package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LogEntry is one request as the log views show it: a stored request_logs row, or an event of the
// live ring (controlplane/internal/live).
type LogEntry struct {
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	NodeID     string    `json:"node_id"`
	Route      string    `json:"route"` // Route.id; empty when no route matched
	Host       string    `json:"host"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	DurationMS int64     `json:"duration_ms"`
	BytesIn    int64     `json:"bytes_in"`
	BytesOut   int64     `json:"bytes_out"`
	ClientIP   string    `json:"client_ip,omitempty"` // masked by the data plane
	UserAgent  string    `json:"user_agent,omitempty"`
	Backend    string    `json:"backend,omitempty"`
	Protocol   string    `json:"protocol,omitempty"`
	Error      string    `json:"error,omitempty"`
	Timeout    string    `json:"timeout,omitempty"`
	BlockedBy  string    `json:"blocked_by,omitempty"`
	Country    string    `json:"country,omitempty"`
	Retries    int64     `json:"retries,omitempty"`
}

// IsError reports whether the request failed: a 5xx, or an error the data plane reported.
func (e LogEntry) IsError() bool { return e.Status >= 500 || e.Error != "" }

// StatusFilter selects requests by status: one code (Code), a class (Class 1-5, "5xx"), or none.
type StatusFilter struct {
	Code  int
	Class int
}

// Match reports whether status passes the filter.
func (f StatusFilter) Match(status int) bool {
	switch {
	case f.Code != 0:
		return status == f.Code
	case f.Class != 0:
		return status/100 == f.Class
	}
	return true
}

// LogQuery selects stored requests. Zero fields do not filter.
type LogQuery struct {
	RequestID string
	Route     string // Route.id
	Status    StatusFilter
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	Limit     int
}

const logColumns = `l.timestamp_ms, COALESCE(l.request_id, ''), l.node_id, COALESCE(r.route_key, ''), l.host,
  l.method, l.path, l.status_code, l.response_time_ms, COALESCE(l.bytes_received, 0), COALESCE(l.bytes_sent, 0),
  COALESCE(l.client_ip, ''), COALESCE(l.user_agent, ''), COALESCE(l.backend, ''), COALESCE(l.protocol, ''),
  COALESCE(l.error_message, ''), COALESCE(l.timeout_kind, ''), COALESCE(l.blocked_by, ''),
  COALESCE(l.country, ''), COALESCE(l.retry_count, 0)`

// QueryLogs returns the stored requests q selects, newest first. Every query goes through an
// index: request_id (idx_logs_request_id), status (idx_logs_status_time), route
// (idx_logs_route_timestamp) or time (idx_logs_timestamp), read backwards and stopped at the
// limit.
func (s *Store) QueryLogs(ctx context.Context, q LogQuery) ([]LogEntry, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("query logs: limit %d must be positive", q.Limit)
	}
	var (
		where []string
		args  []any
	)
	if q.RequestID != "" {
		where, args = append(where, "l.request_id = ?"), append(args, q.RequestID)
	}
	if q.Route != "" {
		where, args = append(where, "l.route_id = (SELECT route_id FROM routes WHERE route_key = ?)"), append(args, q.Route)
	}
	where, args = timeRange(where, args, "l.timestamp", q.Since, q.Until)
	const order = ` ORDER BY l.timestamp DESC, l.log_id DESC LIMIT `
	if q.Status == (StatusFilter{}) || q.RequestID != "" {
		// A request id selects a handful of rows; the status is checked on them ("+" keeps the
		// planner on the request_id index).
		switch {
		case q.Status.Code != 0:
			where, args = append(where, "+l.status_code = ?"), append(args, q.Status.Code)
		case q.Status.Class != 0:
			where, args = append(where, "+l.status_code >= ? AND +l.status_code < ?"), append(args, q.Status.Class*100, q.Status.Class*100+100)
		}
		query := `SELECT ` + logColumns + ` FROM request_logs l LEFT JOIN routes r ON r.route_id = l.route_id`
		if len(where) > 0 {
			query += ` WHERE ` + strings.Join(where, " AND ")
		}
		return s.scanLogs(ctx, "query logs", query+order+strconv.Itoa(q.Limit), args...)
	}

	// By status: each code present is read newest first from idx_logs_status_time, at most
	// limit rows per code, and the newest limit of those are kept. A status that is rare (or
	// absent) is then as cheap as a common one, which a walk through time would not be.
	codes := []int{q.Status.Code}
	if q.Status.Code == 0 {
		var err error
		if codes, err = s.statusCodes(ctx, q.Status.Class); err != nil {
			return nil, err
		}
		if len(codes) == 0 {
			return []LogEntry{}, nil
		}
	}
	cond := strings.Join(append([]string{"l.status_code = ?"}, where...), " AND ")
	var (
		parts   []string
		allArgs []any
	)
	for _, c := range codes {
		parts = append(parts, `SELECT log_id FROM (SELECT l.log_id FROM request_logs l INDEXED BY idx_logs_status_time WHERE `+
			cond+order+strconv.Itoa(q.Limit)+`)`)
		allArgs = append(append(allArgs, c), args...)
	}
	query := `SELECT ` + logColumns + ` FROM request_logs l LEFT JOIN routes r ON r.route_id = l.route_id
WHERE l.log_id IN (` + strings.Join(parts, " UNION ALL ") + `)` + order + strconv.Itoa(q.Limit)
	return s.scanLogs(ctx, "query logs", query, allArgs...)
}

// statusCodes returns the status codes of class (5 for 5xx) that request_logs holds, skipping
// through idx_logs_status_time: one seek per code present.
func (s *Store) statusCodes(ctx context.Context, class int) (codes []int, err error) {
	rows, err := s.read.QueryContext(ctx, `WITH RECURSIVE c(code) AS (
  SELECT MIN(status_code) FROM request_logs WHERE status_code >= ?1 AND status_code < ?2
  UNION ALL SELECT (SELECT MIN(status_code) FROM request_logs WHERE status_code > c.code AND status_code < ?2)
  FROM c WHERE c.code IS NOT NULL)
SELECT code FROM c WHERE code IS NOT NULL`, class*100, class*100+100)
	if err != nil {
		return nil, fmt.Errorf("status codes %dxx: %w", class, err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var c int
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("status codes %dxx: scan: %w", class, err)
		}
		codes = append(codes, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("status codes %dxx: %w", class, err)
	}
	return codes, nil
}

// timeRange adds since (inclusive) and until (exclusive) conditions on col, a unix-seconds column.
func timeRange(where []string, args []any, col string, since, until time.Time) ([]string, []any) {
	if !since.IsZero() {
		where, args = append(where, col+" >= ?"), append(args, since.Unix())
	}
	if !until.IsZero() {
		where, args = append(where, col+" < ?"), append(args, until.Unix())
	}
	return where, args
}

func (s *Store) scanLogs(ctx context.Context, what, query string, args ...any) (logs []LogEntry, err error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	logs = []LogEntry{}
	for rows.Next() {
		var (
			e  LogEntry
			ms int64
		)
		if err := rows.Scan(&ms, &e.RequestID, &e.NodeID, &e.Route, &e.Host, &e.Method, &e.Path, &e.Status,
			&e.DurationMS, &e.BytesIn, &e.BytesOut, &e.ClientIP, &e.UserAgent, &e.Backend, &e.Protocol,
			&e.Error, &e.Timeout, &e.BlockedBy, &e.Country, &e.Retries); err != nil {
			return nil, fmt.Errorf("%s: scan: %w", what, err)
		}
		e.Time = time.UnixMilli(ms).UTC()
		logs = append(logs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return logs, nil
}

// ErrorQuery selects failed requests: a 5xx, or an error the data plane reported.
type ErrorQuery struct {
	Route string    // Route.id; empty for every route
	Since time.Time // required
	Limit int
}

// Count is a number of rows with one value of a column.
type Count struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// ErrorReport is the failed requests of a period: the newest ones and counts.
type ErrorReport struct {
	Total    int64      `json:"total"`
	ByStatus []Count    `json:"by_status"`
	ByError  []Count    `json:"by_error"` // the most frequent error messages, at most 20
	Recent   []LogEntry `json:"recent"`   // newest first, at most Limit
}

// errorCondition is the WHERE of idx_logs_errors (0011): the partial index serves a query only
// when the query repeats it.
const errorCondition = `(l.status_code >= 500 OR l.error_message IS NOT NULL)`

// Errors returns the failed requests since q.Since, read through the partial index
// idx_logs_errors, which holds only them.
func (s *Store) Errors(ctx context.Context, q ErrorQuery) (ErrorReport, error) {
	if q.Limit <= 0 || q.Since.IsZero() {
		return ErrorReport{}, fmt.Errorf("errors: limit %d must be positive and since set", q.Limit)
	}
	where := errorCondition + ` AND l.timestamp >= ?1`
	if q.Route != "" {
		// +l.route_id: the route index would walk the route's successful requests too.
		where += ` AND +l.route_id = (SELECT route_id FROM routes WHERE route_key = ?2)`
	}
	args := []any{q.Since.Unix(), q.Route}
	if q.Route == "" {
		args = args[:1]
	}
	var (
		rep ErrorReport
		err error
	)
	rep.Recent, err = s.scanLogs(ctx, "errors", `SELECT `+logColumns+` FROM request_logs l INDEXED BY idx_logs_errors
LEFT JOIN routes r ON r.route_id = l.route_id WHERE `+where+` ORDER BY l.timestamp DESC, l.log_id DESC LIMIT `+fmt.Sprint(q.Limit), args...)
	if err != nil {
		return rep, err
	}
	rep.ByStatus, err = s.counts(ctx, "errors by status", `SELECT CAST(l.status_code AS TEXT), COUNT(*) FROM request_logs l INDEXED BY idx_logs_errors
WHERE `+where+` GROUP BY l.status_code ORDER BY 2 DESC, 1`, args...)
	if err != nil {
		return rep, err
	}
	rep.ByError, err = s.counts(ctx, "errors by message", `SELECT l.error_message, COUNT(*) FROM request_logs l INDEXED BY idx_logs_errors
WHERE `+where+` AND l.error_message IS NOT NULL GROUP BY l.error_message ORDER BY 2 DESC, 1 LIMIT 20`, args...)
	if err != nil {
		return rep, err
	}
	for _, c := range rep.ByStatus {
		rep.Total += c.Count
	}
	return rep, nil
}

// counts runs a query of (key, count) rows.
func (s *Store) counts(ctx context.Context, what, query string, args ...any) (out []Count, err error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	out = []Count{}
	for rows.Next() {
		var (
			c   Count
			key sql.NullString
		)
		if err := rows.Scan(&key, &c.Count); err != nil {
			return nil, fmt.Errorf("%s: scan: %w", what, err)
		}
		c.Key = key.String
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
