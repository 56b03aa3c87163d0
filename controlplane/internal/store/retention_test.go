package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// fillRequestLogs inserts n request_logs rows without a route at unix time ts, status status.
func fillRequestLogs(t testing.TB, s *Store, n int, ts int64, status int) {
	t.Helper()
	err := s.writer.do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM seq WHERE i < ?)
INSERT INTO request_logs (timestamp, timestamp_ms, node_id, host, method, path, status_code, response_time_ms, user_agent)
SELECT ?, ? * 1000, 'n1', 'h.example', 'GET', '/some/path/' || i, ?, 5, 'Mozilla/5.0 ' || hex(randomblob(64)) FROM seq`, n, ts, ts, status)
		return err
	})
	if err != nil {
		t.Fatalf("fill request_logs: %v", err)
	}
}

func pruneTarget(t testing.TB, table, class string) PruneTarget {
	t.Helper()
	for _, p := range PruneTargets() {
		if p.Table == table && p.Retention == class {
			return p
		}
	}
	t.Fatalf("no target %s/%s", table, class)
	return PruneTarget{}
}

func TestPruneDeletesInBatchesWithOneProof(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	cutoff := time.Unix(1_000_000, 0)
	fillRequestLogs(t, s, 2500, cutoff.Unix()-10, 200) // old successes: deleted
	fillRequestLogs(t, s, 40, cutoff.Unix()-10, 503)   // old failures: another target
	fillRequestLogs(t, s, 30, cutoff.Unix()+10, 200)   // newer: kept

	var proofs []int64
	n, err := s.Prune(ctx, Prune{Target: pruneTarget(t, "request_logs", RetentionAccessLogs), Cutoff: cutoff}, 1000,
		func(deleted int64) (AuditEntry, error) {
			proofs = append(proofs, deleted)
			return AuditEntry{User: "system", Action: "retention_delete", ResourceType: "table", ResourceID: "request_logs", Notes: fmt.Sprint(deleted)}, nil
		})
	if err != nil || n != 2500 {
		t.Fatalf("Prune = %d, %v; want 2500", n, err)
	}
	if len(proofs) != 1 || proofs[0] != 2500 {
		t.Fatalf("proofs = %v, want one for 2500", proofs)
	}
	if got, _ := s.CountRequestLogs(ctx); got != 70 {
		t.Fatalf("rows left = %d, want 70", got)
	}
	entries, err := s.AuditEntries(ctx, 10, "retention_delete")
	if err != nil || len(entries) != 1 || entries[0].Notes != "2500" {
		t.Fatalf("audit = %+v, %v; want one entry noting 2500", entries, err)
	}

	// Nothing left to delete: no proof.
	n, err = s.Prune(ctx, Prune{Target: pruneTarget(t, "request_logs", RetentionAccessLogs), Cutoff: cutoff}, 1000,
		func(int64) (AuditEntry, error) { t.Fatal("proof for nothing deleted"); return AuditEntry{}, nil })
	if err != nil || n != 0 {
		t.Fatalf("second Prune = %d, %v; want 0", n, err)
	}
}

func TestPruneProofFailureRollsBackLastBatch(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	fillRequestLogs(t, s, 10, 100, 200)
	for desc, proof := range map[string]func(int64) (AuditEntry, error){
		"incomplete entry": func(int64) (AuditEntry, error) { return AuditEntry{}, nil },
		"proof error":      func(int64) (AuditEntry, error) { return AuditEntry{}, errors.New("no proof") },
	} {
		_, err := s.Prune(ctx, Prune{Target: pruneTarget(t, "request_logs", RetentionAccessLogs), Cutoff: time.Unix(200, 0)}, 1000, proof)
		if err == nil {
			t.Fatalf("%s: Prune succeeded", desc)
		}
		if got, _ := s.CountRequestLogs(ctx); got != 10 {
			t.Fatalf("%s: rows left = %d, want 10: the deletion must not commit without its proof", desc, got)
		}
	}
}

func TestNewDatabaseIsIncrementalAndShrinks(t *testing.T) {
	s, path := openTestStore(t)
	ctx := context.Background()
	var mode int
	if err := s.read.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil || mode != autoVacuumIncremental {
		t.Fatalf("auto_vacuum = %d, %v; want %d", mode, err, autoVacuumIncremental)
	}
	fillRequestLogs(t, s, 20000, 100, 200)
	pagesFull, _, err := s.SpaceStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, Prune{Target: pruneTarget(t, "request_logs", RetentionAccessLogs), Cutoff: time.Unix(200, 0)}, 2000, nil); err != nil {
		t.Fatal(err)
	}
	_, free, _ := s.SpaceStats(ctx)
	if free < pagesFull/2 {
		t.Fatalf("free pages after delete = %d of %d, want most", free, pagesFull)
	}
	freed, err := s.IncrementalVacuum(ctx, 256, 1000)
	if err != nil || freed != free {
		t.Fatalf("IncrementalVacuum = %d, %v; want %d", freed, err, free)
	}
	pages, free, _ := s.SpaceStats(ctx)
	if free != 0 || pages > pagesFull/4 {
		t.Fatalf("after vacuum: %d pages (%d free), was %d", pages, free, pagesFull)
	}
	if _, err := s.write.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() > pages*4096+4096 {
		t.Fatalf("file size = %v, %v; want about %d pages", fi.Size(), err, pages)
	}
}

func TestOpenConvertsExistingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec("CREATE TABLE leftover (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	var mode int
	if err := s.read.QueryRow("PRAGMA auto_vacuum").Scan(&mode); err != nil || mode != autoVacuumIncremental {
		t.Fatalf("auto_vacuum = %d, %v; want %d after conversion", mode, err, autoVacuumIncremental)
	}
}

func TestPruneTargetsAreIndexed(t *testing.T) {
	s, _ := openTestStore(t)
	for _, p := range PruneTargets() {
		q := fmt.Sprintf("EXPLAIN QUERY PLAN SELECT rowid FROM %s WHERE route_id = ?3 AND %s LIMIT ?2", p.Table, p.where)
		if !p.PerRoute {
			q = fmt.Sprintf("EXPLAIN QUERY PLAN SELECT rowid FROM %s WHERE %s LIMIT ?2", p.Table, p.where)
		}
		rows, err := s.read.Query(q, 100, 10, 1)
		if err != nil {
			t.Fatalf("%s: %v", p.Table, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(plan, "; ")
		if p.Table != "rate_limits" && !strings.Contains(joined, "USING") {
			t.Errorf("%s/%s scans the table: %s", p.Table, p.Retention, joined)
		}
	}
}
