package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"

	"go.uber.org/zap"
)

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// maxConvertBytes is the largest database converted to auto_vacuum=INCREMENTAL at startup: the
// conversion is a full VACUUM, which rewrites the file (about a second per 100 MB, and as much
// free disk again) before the control plane starts serving.
const maxConvertBytes = 512 << 20

// ensureIncrementalVacuum makes the database free space incrementally (PRAGMA incremental_vacuum,
// run by the retention job after it deletes). A new database gets the mode before its first
// table; an existing one is converted once with a VACUUM if it is at most maxConvertBytes, and
// otherwise keeps reusing freed pages without shrinking, with a warning saying how to convert it.
func ensureIncrementalVacuum(ctx context.Context, db *sql.DB, path string, log *zap.Logger) error {
	var mode int
	if err := db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	// On a database without tables this takes effect at once; otherwise at the next VACUUM.
	if _, err := db.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return fmt.Errorf("set auto_vacuum: %w", err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master").Scan(&tables); err != nil {
		return fmt.Errorf("count tables: %w", err)
	}
	if tables == 0 { // a new file that only has its header (journal_mode=WAL wrote it)
		if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
			return fmt.Errorf("vacuum to set auto_vacuum=INCREMENTAL: %w", err)
		}
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	if fi.Size() > maxConvertBytes {
		log.Warn("database is not in auto_vacuum=INCREMENTAL mode and too large to convert at startup: deleted rows free pages for reuse but the file does not shrink; to convert, stop the control plane and run: sqlite3 <db> 'PRAGMA auto_vacuum=INCREMENTAL; VACUUM;'",
			zap.Int64("bytes", fi.Size()))
		return nil
	}
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("vacuum to set auto_vacuum=INCREMENTAL: %w", err)
	}
	log.Info("database converted to auto_vacuum=INCREMENTAL", zap.Int64("bytes_before", fi.Size()))
	return nil
}

// IncrementalVacuum gives up to steps×pages free pages back to the file system, pages at a time,
// each step one short write of the single writer. It stops when no free page is left and returns
// the number of pages freed. The file shrinks once the WAL is checkpointed. A database not in
// auto_vacuum=INCREMENTAL mode frees nothing.
func (s *Store) IncrementalVacuum(ctx context.Context, pages, steps int) (int64, error) {
	if pages <= 0 || steps <= 0 {
		return 0, fmt.Errorf("incremental vacuum: pages %d and steps %d must be positive", pages, steps)
	}
	var freed int64
	for range steps {
		var before, after int64
		err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&before); err != nil {
				return err
			}
			if before == 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", pages)); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&after)
		})
		if err != nil {
			return freed, fmt.Errorf("incremental vacuum: %w", err)
		}
		if before == 0 || after >= before {
			return freed, nil
		}
		freed += before - after
	}
	return freed, nil
}

// SpaceStats reports the database's size in pages and how many of them are free.
func (s *Store) SpaceStats(ctx context.Context) (pages, free int64, err error) {
	if err := s.read.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return 0, 0, fmt.Errorf("page count: %w", err)
	}
	if err := s.read.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return 0, 0, fmt.Errorf("free pages: %w", err)
	}
	return pages, free, nil
}
