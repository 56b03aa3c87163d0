package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	Diff         string // unified diff from OldValue to NewValue, when they are texts to compare
	Source       string // "file_watcher", "dashboard", "api", ...
	Notes        string

	// Set by the store on reads; ignored on writes.
	ID   int64
	Hash string // this entry's link of the hash chain (auditchain.go)
}

const insertAuditSQL = `INSERT INTO audit_log (audit_id, timestamp, user, action, resource_type, resource_id,
  old_value, new_value, source, notes, diff, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// Audit appends e to the audit log. Empty optional fields are stored as NULL.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.User == "" || e.Action == "" || e.ResourceType == "" {
		return fmt.Errorf("audit %q: user, action and resource type are required", e.Action)
	}
	return s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return insertAudit(ctx, tx, e)
	})
}

// insertAudit appends e to the audit log inside tx: the one way rows get into audit_log, so that
// an entry recording a change commits or rolls back with the change itself. A zero Time is now.
// It links the row to the newest one (auditchain.go): the single writer makes that row the one
// before it.
func insertAudit(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	lastID, prev, err := chainHead(ctx, tx)
	if err != nil {
		return fmt.Errorf("audit %s %s %s: %w", e.Action, e.ResourceType, e.ResourceID, err)
	}
	r := &chainRow{id: lastID + 1, ts: e.Time.Unix(), user: e.User, action: e.Action, resType: e.ResourceType,
		optional: [6]sql.NullString{nullString(e.ResourceID), nullString(e.OldValue), nullString(e.NewValue),
			nullString(e.Source), nullString(e.Notes), nullString(e.Diff)}}
	o := r.optional
	_, err = tx.ExecContext(ctx, insertAuditSQL, r.id, r.ts, r.user, r.action, r.resType,
		o[0], o[1], o[2], o[3], o[4], o[5], prev, auditHash(prev, r))
	if err != nil {
		return fmt.Errorf("audit %s %s %s: %w", e.Action, e.ResourceType, e.ResourceID, err)
	}
	return nil
}

// AuditQuery selects audit entries, newest first. Empty fields do not filter.
type AuditQuery struct {
	Limit    int       // required, positive
	Action   string    // exact action
	Since    time.Time // entries at or after this time
	Resource string    // exact resource type or resource id
}

// AuditEntries returns up to limit audit entries, newest first; action filters by action unless it
// is empty.
func (s *Store) AuditEntries(ctx context.Context, limit int, action string) ([]AuditEntry, error) {
	return s.QueryAudit(ctx, AuditQuery{Limit: limit, Action: action})
}

// QueryAudit returns the audit entries q selects, newest first.
func (s *Store) QueryAudit(ctx context.Context, q AuditQuery) (entries []AuditEntry, err error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("audit entries: limit %d must be positive", q.Limit)
	}
	var where []string
	var args []any
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "timestamp >= ?"), append(args, q.Since.Unix())
	}
	if q.Resource != "" {
		where, args = append(where, "(resource_type = ? OR resource_id = ?)"), append(args, q.Resource, q.Resource)
	}
	query := `SELECT audit_id, timestamp, user, action, resource_type, resource_id, old_value, new_value,
  diff, source, notes, hash FROM audit_log`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += ` ORDER BY timestamp DESC, audit_id DESC LIMIT ?`
	rows, err := s.read.QueryContext(ctx, query, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		var (
			e                                                      AuditEntry
			ts                                                     int64
			resourceID, oldValue, newValue, diff, src, notes, hash sql.NullString
		)
		if err := rows.Scan(&e.ID, &ts, &e.User, &e.Action, &e.ResourceType, &resourceID, &oldValue, &newValue, &diff, &src, &notes, &hash); err != nil {
			return nil, fmt.Errorf("audit entries: scan: %w", err)
		}
		e.Time = time.Unix(ts, 0)
		e.ResourceID, e.OldValue, e.NewValue, e.Diff = resourceID.String, oldValue.String, newValue.String, diff.String
		e.Source, e.Notes, e.Hash = src.String, notes.String, hash.String
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	return entries, nil
}
