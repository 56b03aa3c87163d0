package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// LastSnapshot returns the newest published snapshot version and the hash of the configuration it
// was built from; 0 and "" when none was ever published.
func (s *Store) LastSnapshot(ctx context.Context) (version uint64, configHash string, err error) {
	var v int64
	err = s.read.QueryRowContext(ctx, `SELECT version, config_hash FROM snapshot_versions ORDER BY version DESC LIMIT 1`).Scan(&v, &configHash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("last snapshot version: %w", err)
	}
	return uint64(v), configHash, nil
}

// SaveSnapshotVersion records a published version. Recording the same version again is harmless.
func (s *Store) SaveSnapshotVersion(ctx context.Context, version uint64, configHash string, at time.Time) error {
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO snapshot_versions (version, config_hash, created_at) VALUES (?, ?, ?)
ON CONFLICT(version) DO UPDATE SET config_hash = excluded.config_hash`, int64(version), configHash, at.Unix())
		return err
	})
	if err != nil {
		return fmt.Errorf("save snapshot version %d: %w", version, err)
	}
	return nil
}
