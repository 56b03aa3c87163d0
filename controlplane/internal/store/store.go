// Package store is the control plane's SQLite database: schema migrations, the single writer that
// commits every change, and the reads the admin surface needs.
//
// Invariants:
//   - All writes go through one goroutine (writer.go) holding the only write connection; each write is
//     one transaction (BEGIN IMMEDIATE) and its result is returned to the caller.
//   - Every connection, writer and readers alike, runs with journal_mode=WAL, foreign_keys=ON,
//     busy_timeout and synchronous=NORMAL, set through the DSN so pooled connections get them too.
//     Reader connections are also query_only.
//   - Commits never checkpoint the WAL; one connection of its own does, in PASSIVE mode, every
//     second (checkpoint.go), so a checkpoint's copy and fsync never hold up a write.
//   - An event batch is identified by (node_id, boot_id, sequence) and stored at most once
//     (SaveBatch); the caller acknowledges it whether it was stored now or before.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/proxy-manager/proxy-manager/controlplane/internal/idlethread"
)

// busyTimeoutMS is how long a connection waits for a lock held by another connection or process
// (a backup, the sqlite3 shell) before failing with SQLITE_BUSY.
const busyTimeoutMS = 5000

// readPoolSize is the number of read-only connections; WAL lets them read while the writer commits.
const readPoolSize = 4

// ErrClosed is returned by writes submitted after Close.
var ErrClosed = errors.New("store closed")

// Store is the control plane's database. It is safe for concurrent use.
type Store struct {
	log    *zap.Logger
	path   string
	write  *sql.DB // one connection, used only by the writer goroutine
	read   *sql.DB // read-only pool
	writer *writer
	// idleThread stores fresh event batches off the data plane's way (offload); nil where
	// SCHED_IDLE is unavailable. idle is the same, as the writer uses it (tests wrap it), and
	// busyUntil is when the writer may try it again after finding the CPUs busy.
	idleThread *idlethread.Thread
	idle       idleRunner
	busyUntil  time.Time
	ckpt       *checkpointer // copies the WAL into the file, off the writer's path (checkpoint.go)
	stmts      *stmtCache    // the writer's hot statements, used by the writer goroutine only
	now        func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if missing) the database at path, applies pending migrations and starts the
// writer goroutine. The directory must exist and be writable. Close releases everything.
func Open(ctx context.Context, path string, log *zap.Logger) (*Store, error) {
	if log == nil {
		return nil, errors.New("open store: nil logger")
	}
	abs, err := checkPath(path)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}

	write, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("open store %s: writer: %w", abs, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	if err := write.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", abs, err), write.Close())
	}
	if err := ensureIncrementalVacuum(ctx, write, abs, log); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", abs, err), write.Close())
	}
	if err := migrate(ctx, write, migrationsFS, log); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", abs, err), write.Close())
	}
	if err := chainLegacyAudit(ctx, write, log); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", abs, err), write.Close())
	}

	stmts, err := prepareStmts(ctx, write, writerStatements()...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: %w", abs, err), write.Close())
	}

	read, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: readers: %w", abs, err), stmts.close(), write.Close())
	}
	read.SetMaxOpenConns(readPoolSize)
	read.SetMaxIdleConns(readPoolSize)
	if err := read.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: readers: %w", abs, err), read.Close(), stmts.close(), write.Close())
	}

	ckptDB, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open store %s: checkpointer: %w", abs, err), read.Close(), stmts.close(), write.Close())
	}
	ckptDB.SetMaxOpenConns(1)

	// Fresh event batches are stored on an idle-priority thread (offload.go): a data plane on the
	// same machine then does not wait for the control plane's computation.
	idle, err := idlethread.Start()
	if err != nil {
		log.Warn("event batches are stored at normal CPU priority", zap.Error(err))
	}
	s := &Store{
		log:        log,
		path:       abs,
		write:      write,
		read:       read,
		writer:     newWriter(write),
		idleThread: idle,
		stmts:      stmts,
		now:        time.Now,
		ckpt:       startCheckpointer(ckptDB, log),
	}
	if idle != nil {
		s.idle = idle // not a typed nil in the interface
	}
	log.Info("store opened", zap.String("path", abs))
	return s, nil
}

// Close stops accepting writes, waits for the writes already submitted, checkpoints the WAL into
// the database file and closes every connection. It is safe to call more than once; later calls
// return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.writer.close()
		if s.idleThread != nil {
			s.idleThread.Stop()
		}
		var errs []error
		if err := s.ckpt.close(); err != nil {
			errs = append(errs, fmt.Errorf("close checkpointer: %w", err))
		}
		if err := s.read.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close readers: %w", err))
		}
		if err := s.stmts.close(); err != nil {
			errs = append(errs, err)
		}
		if _, err := s.write.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint wal: %w", err))
		}
		if err := s.write.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close writer: %w", err))
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close store %s: %w", s.path, err)
			return
		}
		s.log.Info("store closed", zap.String("path", s.path))
	})
	return s.closeErr
}

// SetClock replaces the clock that stamps what the store receives (event batches' arrival, events
// without a time). For tests; call it before the first write.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Ping checks that the database answers a read and that the writer still accepts writes.
func (s *Store) Ping(ctx context.Context) error {
	if s.writer.isClosed() {
		return fmt.Errorf("ping store: %w", ErrClosed)
	}
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// checkPath returns the absolute path of the database file after checking that its directory
// exists and that the file can be created or opened for writing. A new file is created 0600: it
// holds access logs.
func checkPath(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve path: %w", err)
	}
	dir := filepath.Dir(abs)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("directory %s does not exist: %w", dir, err)
	case err != nil:
		return "", fmt.Errorf("directory %s: %w", dir, err)
	case !fi.IsDir():
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	// SQLite needs to create the -wal and -shm files next to the database.
	probe, err := os.CreateTemp(dir, ".store-write-check-*")
	if err != nil {
		return "", fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	probeName := probe.Name()
	if err := errors.Join(probe.Close(), os.Remove(probeName)); err != nil {
		return "", fmt.Errorf("directory %s: remove write check: %w", dir, err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("database file is not writable: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("database file: %w", err)
	}
	return abs, nil
}

// dsn builds the modernc.org/sqlite data source name. The pragmas are in the DSN so that the driver
// applies them to every connection it opens, not only to the first one.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		// The API sums a month of hourly roll-ups (a few MiB) on every call: keep them in memory
		// (16 MiB per reader; the default is 2) and read the file through a map, without a system
		// call per page.
		q.Add("_pragma", "cache_size(-16384)")
		q.Add("_pragma", "mmap_size(268435456)")
	} else {
		// Take the write lock at BEGIN, so a transaction never fails half-way on a lock upgrade.
		q.Set("_txlock", "immediate")
		// Commits never run a checkpoint: the checkpointer does, off the writer's path.
		q.Add("_pragma", "wal_autocheckpoint(0)")
		// The writer's page cache holds the hot index pages of request_logs (64 MiB; readers keep the
		// default): fewer reads per insert under a sustained event stream.
		q.Add("_pragma", "cache_size(-65536)")
		// Statement journals in memory: a multi-row INSERT opens one, and on disk it cost a pwrite
		// per page (10% of the event path's CPU).
		q.Add("_pragma", "temp_store(2)")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}
