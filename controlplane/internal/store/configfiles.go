package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The reloader audits each configuration file it accepts with the text the file had before
// (reloader/fileaudit.go). config_files keeps that text between reloads and across restarts.

// ConfigFiles returns the recorded text of each configuration file, by name ("site:a.yaml",
// "global:global.yaml").
func (s *Store) ConfigFiles(ctx context.Context) (files map[string]string, err error) {
	rows, err := s.read.QueryContext(ctx, `SELECT name, content FROM config_files`)
	if err != nil {
		return nil, fmt.Errorf("config files: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	files = map[string]string{}
	for rows.Next() {
		var name, content string
		if err := rows.Scan(&name, &content); err != nil {
			return nil, fmt.Errorf("config files: scan: %w", err)
		}
		files[name] = content
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("config files: %w", err)
	}
	return files, nil
}

// RecordConfigFiles stores the text of changed files (names mapped to nil are forgotten: the
// file was removed) and appends the audit entries of the change, in one transaction.
func (s *Store) RecordConfigFiles(ctx context.Context, files map[string]*string, entries []AuditEntry, now time.Time) error {
	for _, e := range entries {
		if e.User == "" || e.Action == "" || e.ResourceType == "" {
			return fmt.Errorf("record config files: audit %q: user, action and resource type are required", e.Action)
		}
	}
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for name, content := range files {
			var err error
			if content == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM config_files WHERE name = ?`, name)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO config_files (name, content, recorded_at) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET content = excluded.content, recorded_at = excluded.recorded_at`, name, *content, now.Unix())
			}
			if err != nil {
				return fmt.Errorf("config file %s: %w", name, err)
			}
		}
		for _, e := range entries {
			if err := insertAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record config files (%d files, %d audit entries): %w", len(files), len(entries), err)
	}
	return nil
}
