package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaintenanceWindow is one row of maintenance_pages (see migrations/0013_maintenance.sql).
type MaintenanceWindow struct {
	ID        int64     `json:"id"`
	Route     string    `json:"route"` // Route.id (routes.route_key)
	HTML      string    `json:"html_content,omitempty"`
	Start     time.Time `json:"scheduled_start"`        // when it starts (when it was created, without a schedule)
	End       time.Time `json:"scheduled_end,omitzero"` // zero: until it is ended
	Allow     []string  `json:"allow"`                  // CIDRs that still reach the backend
	Reason    string    `json:"reason,omitempty"`       // the administrator's note
	Active    bool      `json:"active"`                 // in force now
	CreatedAt time.Time `json:"created_at"`             //
	CreatedBy string    `json:"created_by,omitempty"`   //
	EndedAt   time.Time `json:"ended_at,omitzero"`      // zero while current or scheduled
	EndedBy   string    `json:"ended_by,omitempty"`     //
}

const (
	selectOpenMaintenanceSQL = `SELECT m.page_id, r.route_key, m.html_content, m.scheduled_start, m.scheduled_end,
  m.allow_cidrs, m.reason, m.is_active, m.created_at, m.created_by
FROM maintenance_pages m JOIN routes r ON r.route_id = m.route_id
WHERE m.ended_at IS NULL ORDER BY m.scheduled_start, m.page_id`
	insertMaintenanceSQL = `INSERT INTO maintenance_pages (route_id, html_content, scheduled_start, scheduled_end,
  is_active, created_at, allow_cidrs, reason, created_by)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING page_id`
	startMaintenanceSQL = `UPDATE maintenance_pages SET is_active = 1 WHERE page_id = ? AND is_active = 0 AND ended_at IS NULL`
	endMaintenanceSQL   = `UPDATE maintenance_pages SET is_active = 0, ended_at = ?, ended_by = ? WHERE page_id = ? AND ended_at IS NULL`
)

// AddMaintenance stores w (its Route must be a route in force, else ErrUnknownRoute) with the
// audit entry a in one transaction, and returns its id. w.Active says whether it is in force
// already (no scheduled start).
func (s *Store) AddMaintenance(ctx context.Context, w MaintenanceWindow, a AuditEntry) (int64, error) {
	allow, err := json.Marshal(append([]string{}, w.Allow...))
	if err != nil {
		return 0, fmt.Errorf("add maintenance %s: %w", w.Route, err)
	}
	var end sql.NullInt64
	if !w.End.IsZero() {
		end = sql.NullInt64{Int64: w.End.Unix(), Valid: true}
	}
	var id int64
	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var routeID int64
		err := tx.QueryRowContext(ctx, `SELECT route_id FROM routes WHERE route_key = ? AND active = 1`, w.Route).Scan(&routeID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w %q", ErrUnknownRoute, w.Route)
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, insertMaintenanceSQL, routeID, w.HTML, w.Start.Unix(), end, w.Active,
			w.CreatedAt.Unix(), string(allow), w.Reason, w.CreatedBy).Scan(&id); err != nil {
			return err
		}
		a.ResourceID = w.Route
		a.Notes = strings.TrimSuffix(fmt.Sprintf("maintenance window %d; %s", id, a.Notes), "; ")
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return 0, fmt.Errorf("add maintenance %s: %w", w.Route, err)
	}
	return id, nil
}

// OpenMaintenance returns every window that has not ended (in force or scheduled), by start.
func (s *Store) OpenMaintenance(ctx context.Context) (ws []MaintenanceWindow, err error) {
	rows, err := s.read.QueryContext(ctx, selectOpenMaintenanceSQL)
	if err != nil {
		return nil, fmt.Errorf("maintenance windows: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var (
			w              MaintenanceWindow
			start, created int64
			end            sql.NullInt64
			allow          string
		)
		if err := rows.Scan(&w.ID, &w.Route, &w.HTML, &start, &end, &allow, &w.Reason, &w.Active, &created, &w.CreatedBy); err != nil {
			return nil, fmt.Errorf("maintenance windows: scan: %w", err)
		}
		w.Start, w.CreatedAt = time.Unix(start, 0), time.Unix(created, 0)
		if end.Valid {
			w.End = time.Unix(end.Int64, 0)
		}
		if err := json.Unmarshal([]byte(allow), &w.Allow); err != nil {
			return nil, fmt.Errorf("maintenance window %d: allow_cidrs: %w", w.ID, err)
		}
		ws = append(ws, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("maintenance windows: %w", err)
	}
	return ws, nil
}

// StartMaintenance marks the scheduled window id in force, with the audit entry a, and reports
// whether it changed anything (false: already in force or ended).
func (s *Store) StartMaintenance(ctx context.Context, id int64, a AuditEntry) (bool, error) {
	return s.changeMaintenance(ctx, a, startMaintenanceSQL, id)
}

// EndMaintenance ends window id at at, by by, with the audit entry a, and reports whether it
// changed anything (false: already ended).
func (s *Store) EndMaintenance(ctx context.Context, id int64, at time.Time, by string, a AuditEntry) (bool, error) {
	return s.changeMaintenance(ctx, a, endMaintenanceSQL, at.Unix(), by, id)
}

// changeMaintenance runs one update and, when it changed a row, writes a in the same transaction.
func (s *Store) changeMaintenance(ctx context.Context, a AuditEntry, query string, args ...any) (bool, error) {
	var changed bool
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		changed = true
		return insertAudit(ctx, tx, a)
	})
	if err != nil {
		return false, fmt.Errorf("%s maintenance %s: %w", a.Action, a.ResourceID, err)
	}
	return changed, nil
}
