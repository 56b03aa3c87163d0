package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// ErrSchemaTooNew is returned by Open when the database was migrated by a newer binary.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// migration is one numbered SQL file, migrations/NNNN_name.sql.
type migration struct {
	version int64
	name    string
	sql     string
}

// loadMigrations reads migrations/*.sql from fsys, sorted by version. File names must start with a
// positive version number followed by an underscore; versions must be unique.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	seen := map[int64]string{}
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		if prev, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version %d", prev, base, version)
		}
		seen[version] = base
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: version, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate brings db to the newest schema in fsys. Each migration runs in its own transaction
// together with its schema_migrations row, so a failed migration leaves no trace and the next start
// retries it. A database already migrated by a newer binary is refused with ErrSchemaTooNew.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, log *zap.Logger) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errors.New("migrate: no migrations embedded")
	}
	latest := ms[len(ms)-1].version

	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  applied_at INTEGER NOT NULL
)`
	if _, err := db.ExecContext(ctx, createTable); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	current, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > latest {
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d; run a newer control plane or restore a backup",
			ErrSchemaTooNew, current, latest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if err := applyMigration(ctx, db, m); err != nil {
			return err
		}
		log.Info("schema migration applied", zap.Int64("version", m.version), zap.String("file", m.name))
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	err = func() error {
		// Another process may have migrated since we looked: check again under the write lock.
		var applied int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&applied); err != nil {
			return err
		}
		if applied > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.version, time.Now().Unix())
		return err
	}()
	if err != nil {
		return errors.Join(fmt.Errorf("migration %s: %w", m.name, err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}

func schemaVersion(ctx context.Context, db *sql.DB) (int64, error) {
	var v int64
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
