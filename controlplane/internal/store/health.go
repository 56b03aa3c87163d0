package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Health checks (migration 0009): every check in health_checks, the current state of every
// checked route in health_state; both keyed by the route's row, found by its key (Route.id).
const (
	insertHealthCheckSQL = `INSERT INTO health_checks (route_id, service_id, timestamp, success, response_time_ms,
  status_code, error_message)
SELECT route_id, service_id, ?, ?, ?, ?, ? FROM routes WHERE route_key = ?`
	upsertHealthStateSQL = `INSERT INTO health_state (route_id, backend_url, state, success_ratio, since, last_check, last_error)
SELECT route_id, ?, ?, ?, ?, ?, ? FROM routes WHERE route_key = ?
ON CONFLICT (route_id) DO UPDATE SET backend_url = excluded.backend_url, state = excluded.state,
  success_ratio = excluded.success_ratio, since = excluded.since, last_check = excluded.last_check,
  last_error = excluded.last_error`
	selectHealthStatesSQL = `SELECT r.route_key, h.backend_url, h.state, h.success_ratio, h.since, h.last_check,
  COALESCE(h.last_error, '')
FROM health_state h JOIN routes r ON r.route_id = h.route_id ORDER BY r.route_key`
	deleteHealthStatesSQL = `DELETE FROM health_state WHERE route_id NOT IN
  (SELECT route_id FROM routes WHERE route_key IN (SELECT value FROM json_each(?)))`
)

// ErrUnknownRoute is returned for a route key the routes table does not hold.
var ErrUnknownRoute = errors.New("route not recorded")

// HealthCheck is one active check of a route's backend.
type HealthCheck struct {
	RouteID      string // Route.id
	Time         time.Time
	Success      bool
	ResponseTime time.Duration // until the response header, or until the failure
	StatusCode   int           // 0 when no response came
	Error        string        // why it failed; empty on success
}

// HealthState is the current state of a checked route.
type HealthState struct {
	RouteID      string
	BackendURL   string
	State        string // healthy, degraded, down, unknown
	SuccessRatio float64
	Since        time.Time
	LastCheck    time.Time
	LastError    string
}

// SaveHealthCheck stores a check and the state it left its route in, in one transaction. It
// returns ErrUnknownRoute when the route is not in the routes table (SyncRoutes records every
// route of a snapshot before it is published).
func (s *Store) SaveHealthCheck(ctx context.Context, c HealthCheck, st HealthState) error {
	if c.RouteID != st.RouteID {
		return fmt.Errorf("save health check: check of %q with state of %q", c.RouteID, st.RouteID)
	}
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var status, errMsg any
		if c.StatusCode != 0 {
			status = c.StatusCode
		}
		if c.Error != "" {
			errMsg = c.Error
		}
		res, err := tx.ExecContext(ctx, insertHealthCheckSQL, c.Time.Unix(), c.Success, c.ResponseTime.Milliseconds(),
			status, errMsg, c.RouteID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrUnknownRoute
		}
		var lastErr any
		if st.LastError != "" {
			lastErr = st.LastError
		}
		_, err = tx.ExecContext(ctx, upsertHealthStateSQL, st.BackendURL, st.State, st.SuccessRatio, st.Since.Unix(),
			st.LastCheck.Unix(), lastErr, st.RouteID)
		return err
	})
	if err != nil {
		return fmt.Errorf("save health check of %s: %w", c.RouteID, err)
	}
	return nil
}

// HealthStates returns the stored state of every checked route, by route key.
func (s *Store) HealthStates(ctx context.Context) (states []HealthState, err error) {
	rows, err := s.read.QueryContext(ctx, selectHealthStatesSQL)
	if err != nil {
		return nil, fmt.Errorf("read health states: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var h HealthState
		var since, last int64
		if err := rows.Scan(&h.RouteID, &h.BackendURL, &h.State, &h.SuccessRatio, &since, &last, &h.LastError); err != nil {
			return nil, fmt.Errorf("read health states: %w", err)
		}
		h.Since, h.LastCheck = time.Unix(since, 0), time.Unix(last, 0)
		states = append(states, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read health states: %w", err)
	}
	return states, nil
}

// KeepHealthStates deletes the state of every route not in routeIDs (routes no longer checked);
// their past checks stay in health_checks until retention removes them.
func (s *Store) KeepHealthStates(ctx context.Context, routeIDs []string) error {
	ids, err := json.Marshal(append([]string{}, routeIDs...))
	if err != nil {
		return fmt.Errorf("keep health states: %w", err)
	}
	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, deleteHealthStatesSQL, string(ids))
		return err
	})
	if err != nil {
		return fmt.Errorf("keep health states: %w", err)
	}
	return nil
}
