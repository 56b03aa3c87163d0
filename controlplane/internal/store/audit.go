package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AuditEntry is one row of the audit log: who did what to which resource, and from where.
type AuditEntry struct {
	Time         time.Time // zero means now; stored in whole seconds
	User         string    // "admin", "system", or an address; required
	Action       string    // "config_reload", "config_rejected", ...; required
	ResourceType string    // "config", "route", "certificate", "setting", ...; required
	ResourceID   string
	OldValue     string // JSON or YAML
	NewValue     string // JSON or YAML
	Source       string // "file_watcher", "dashboard", "api", ...
	Notes        string
}

const insertAuditSQL = `INSERT INTO audit_log (timestamp, user, action, resource_type, resource_id,
  old_value, new_value, source, notes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Audit appends e to the audit log. Empty optional fields are stored as NULL.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.User == "" || e.Action == "" || e.ResourceType == "" {
		return fmt.Errorf("audit %q: user, action and resource type are required", e.Action)
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return insertAudit(ctx, tx, e)
	})
}

// insertAudit appends e to the audit log inside tx: the one way rows get into audit_log, so that
// an entry recording a change commits or rolls back with the change itself. A zero Time is now.
func insertAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	_, err := tx.ExecContext(ctx, insertAuditSQL, e.Time.Unix(), e.User, e.Action, e.ResourceType,
		nullString(e.ResourceID), nullString(e.OldValue), nullString(e.NewValue),
		nullString(e.Source), nullString(e.Notes))
	if err != nil {
		return fmt.Errorf("audit %s %s %s: %w", e.Action, e.ResourceType, e.ResourceID, err)
	}
	return nil
}

// AuditEntries returns up to limit audit entries, newest first; action filters by action unless it
// is empty.
func (s *Store) AuditEntries(ctx context.Context, limit int, action string) (entries []AuditEntry, err error) {
	if limit <= 0 {
		return nil, fmt.Errorf("audit entries: limit %d must be positive", limit)
	}
	const (
		columns = `SELECT timestamp, user, action, resource_type, resource_id, old_value, new_value, source, notes
FROM audit_log `
		order = ` ORDER BY timestamp DESC, audit_id DESC LIMIT ?`
	)
	var rows *sql.Rows
	if action == "" {
		rows, err = s.read.QueryContext(ctx, columns+order, limit)
	} else {
		rows, err = s.read.QueryContext(ctx, columns+"WHERE action = ?"+order, action, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var (
			e                                          AuditEntry
			ts                                         int64
			resourceID, oldValue, newValue, src, notes sql.NullString
		)
		if err := rows.Scan(&ts, &e.User, &e.Action, &e.ResourceType, &resourceID, &oldValue, &newValue, &src, &notes); err != nil {
			return nil, fmt.Errorf("audit entries: scan: %w", err)
		}
		e.Time = time.Unix(ts, 0)
		e.ResourceID, e.OldValue, e.NewValue = resourceID.String, oldValue.String, newValue.String
		e.Source, e.Notes = src.String, notes.String
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	return entries, nil
}
