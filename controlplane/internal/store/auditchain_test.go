package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap/zaptest"
)

// writeAuditEntries appends n entries one second apart from t0 and closes the store, so that the
// test can reach the file as an attacker would.
func writeAuditEntries(t *testing.T, n int, t0 time.Time) string {
	t.Helper()
	s, path := openTestStore(t)
	for i := range n {
		e := AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), User: "system", Action: "config_reload",
			ResourceType: "config", ResourceID: fmt.Sprint(i + 1), Notes: fmt.Sprintf("entry %d", i+1)}
		if i%2 == 1 {
			e.OldValue, e.NewValue, e.Diff = "a: 1\n", "a: 2\n", "-a: 1\n+a: 2\n"
		}
		if err := s.Audit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// attack opens the file directly, drops the triggers as someone with the file can, and runs sql.
func attack(t *testing.T, path string, statements ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	all := append([]string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete", "DROP TRIGGER audit_log_insert_chained"}, statements...)
	for _, q := range all {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	testCases := []struct {
		desc       string
		statements []string
		wantID     int64
		wantReason string
	}{
		{desc: "intact"},
		{desc: "a field changed", statements: []string{"UPDATE audit_log SET notes = 'nothing happened' WHERE audit_id = 3"},
			wantID: 3, wantReason: "content does not match its hash"},
		{desc: "a NULL field set to empty", statements: []string{"UPDATE audit_log SET diff = '' WHERE audit_id = 1"},
			wantID: 1, wantReason: "content does not match its hash"},
		{desc: "a time moved", statements: []string{"UPDATE audit_log SET timestamp = timestamp - 3600 WHERE audit_id = 5"},
			wantID: 5, wantReason: "content does not match its hash"},
		{desc: "a row deleted in the middle", statements: []string{"DELETE FROM audit_log WHERE audit_id = 4"},
			wantID: 5, wantReason: "rows 4 to 4 are missing"},
		{desc: "two rows deleted in the middle", statements: []string{"DELETE FROM audit_log WHERE audit_id IN (2, 3)"},
			wantID: 4, wantReason: "rows 2 to 3 are missing"},
		{desc: "a row rehashed after a change", statements: []string{
			"UPDATE audit_log SET user = 'mallory', hash = '" + strings.Repeat("ab", 32) + "' WHERE audit_id = 2"},
			wantID: 2, wantReason: "content does not match its hash"},
		{desc: "a row inserted without a hash", statements: []string{
			"INSERT INTO audit_log (audit_id, timestamp, user, action, resource_type) VALUES (7, 1800000100, 'x', 'y', 'z')"},
			wantID: 7, wantReason: "no hash"},
		{desc: "a row relinked", statements: []string{"UPDATE audit_log SET prev_hash = (SELECT hash FROM audit_log WHERE audit_id = 1) WHERE audit_id = 3"},
			wantID: 3, wantReason: "is not the hash of row 2"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			path := writeAuditEntries(t, 6, t0)
			attack(t, path, tc.statements...)
			rep, err := VerifyAuditFile(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantID == 0 {
				if rep.Broken != nil || rep.Rows != 6 || rep.FirstID != 1 || rep.LastID != 6 || rep.Anchor != genesisHash || rep.Truncated || len(rep.Head) != 64 {
					t.Fatalf("intact log reported %+v", rep)
				}
				return
			}
			if rep.Broken == nil {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if rep.Broken.ID != tc.wantID || !strings.Contains(rep.Broken.Reason, tc.wantReason) {
				t.Fatalf("broken at row %d (%s), want row %d with %q", rep.Broken.ID, rep.Broken.Reason, tc.wantID, tc.wantReason)
			}
		})
	}
}

func TestAuditLogRefusesChanges(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	if err := s.Audit(ctx, AuditEntry{User: "system", Action: "config_reload", ResourceType: "config"}); err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		desc, sql, want string
	}{
		{desc: "update", sql: "UPDATE audit_log SET user = 'mallory'", want: "append-only"},
		{desc: "delete", sql: "DELETE FROM audit_log", want: "append-only"},
		{desc: "insert without a hash", sql: "INSERT INTO audit_log (timestamp, user, action, resource_type) VALUES (1, 'u', 'a', 'r')", want: "chain hash"},
		{desc: "remove the gate", sql: "DELETE FROM audit_retention_gate", want: "cannot be deleted"},
		// Even with the gate open, a chained row cannot be changed.
		{desc: "update through the open gate", sql: openGateSQL + "; UPDATE audit_log SET user = 'mallory'", want: "append-only"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, tc.sql)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s = %v, want an error containing %q", tc.sql, err, tc.want)
			}
		})
	}
	if rep, err := s.VerifyAudit(ctx); err != nil || rep.Broken != nil || rep.Rows != 1 {
		t.Fatalf("after refused changes: %+v, %v", rep, err)
	}
}

func TestDeleteAuditBefore(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t0 := time.Unix(1_800_000_000, 0)
	// Rows 1-6 at t0+0..5s, then row 7 back at t0: it follows a row the cutoff keeps, so it stays.
	for i, off := range []int{0, 1, 2, 3, 4, 5, 0} {
		if err := s.Audit(ctx, AuditEntry{Time: t0.Add(time.Duration(off) * time.Second), User: "system", Action: "a", ResourceType: "r", Notes: fmt.Sprint(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := t0.Add(4 * time.Second) // deletes rows 1-4
	for _, want := range []int{3, 1, 0} {
		n, err := s.DeleteAuditBefore(ctx, cutoff, 3)
		if err != nil || n != want {
			t.Fatalf("DeleteAuditBefore = %d, %v; want %d", n, err, want)
		}
	}
	var open int
	if err := s.read.QueryRowContext(ctx, "SELECT open FROM audit_retention_gate").Scan(&open); err != nil || open != 0 {
		t.Fatalf("gate open = %d, %v after retention; want closed", open, err)
	}
	if err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM audit_log")
		return err
	}); err == nil {
		t.Fatal("a delete outside the retention was accepted after it ran")
	}
	// The retention records its run, chained after the rows it kept.
	if err := s.Audit(ctx, AuditEntry{User: "system", Action: "retention_run", ResourceType: "audit_log", Notes: "4 rows"}); err != nil {
		t.Fatal(err)
	}
	rep, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken != nil || rep.FirstID != 5 || rep.Rows != 4 || !rep.Truncated || rep.Anchor == genesisHash {
		t.Fatalf("after retention: %+v", rep)
	}
	if _, err := s.DeleteAuditBefore(ctx, cutoff, 0); err == nil {
		t.Error("batch 0 accepted")
	}
}

// Rows written before migration 0007 get their hashes at the first Open that applies it.
func TestOpenChainsLegacyRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "proxy.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	old := fstest.MapFS{}
	names, err := fs.Glob(migrationsFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if filepath.Base(name) < "0007" {
			data, err := fs.ReadFile(migrationsFS, name)
			if err != nil {
				t.Fatal(err)
			}
			old[name] = &fstest.MapFile{Data: data}
		}
	}
	if err := migrate(ctx, db, old, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.Exec("INSERT INTO audit_log (timestamp, user, action, resource_type, notes) VALUES (?, 'system', 'config_reload', 'config', ?)", 1_700_000_000+i, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 { // the second Open finds nothing left to chain
		s, err := Open(ctx, path, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Audit(ctx, AuditEntry{User: "system", Action: "config_reload", ResourceType: "config"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := VerifyAuditFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken != nil || rep.Rows != 5 || rep.Anchor != genesisHash {
		t.Fatalf("after chaining legacy rows: %+v", rep)
	}
}

func TestVerifyAuditFileRefusesMissingOrOldDatabases(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "none.db")
	if _, err := VerifyAuditFile(ctx, missing); err == nil {
		t.Error("a missing database verified")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("verify created the missing database")
	}
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE audit_log (audit_id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAuditFile(ctx, path); err == nil || !strings.Contains(err.Error(), "0007") {
		t.Errorf("VerifyAuditFile on a database before 0007 = %v", err)
	}
}

// A row slipped in without a hash does not stop auditing; verify still reports it.
func TestAuditContinuesAfterAnUnhashedRow(t *testing.T) {
	ctx := context.Background()
	path := writeAuditEntries(t, 2, time.Unix(1_800_000_000, 0))
	attack(t, path, "INSERT INTO audit_log (audit_id, timestamp, user, action, resource_type) VALUES (3, 1800000100, 'x', 'y', 'z')")
	s, err := Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}()
	if err := s.Audit(ctx, AuditEntry{User: "system", Action: "config_reload", ResourceType: "config"}); err != nil {
		t.Fatalf("audit after an unhashed row: %v", err)
	}
	rep, err := s.VerifyAudit(ctx)
	if err != nil || rep.Broken == nil || rep.Broken.ID != 3 {
		t.Fatalf("verify = %+v, %v; want row 3 reported", rep, err)
	}
}

// BenchmarkAudit measures one chained audit entry: read the head, hash, insert, commit.
func BenchmarkAudit(b *testing.B) {
	ctx := context.Background()
	s, _ := openTestStore(b)
	e := AuditEntry{User: "system", Action: "config_file_changed", ResourceType: "site", ResourceID: "a.yaml",
		OldValue: strings.Repeat("k: v\n", 100), NewValue: strings.Repeat("k: w\n", 100), Diff: "-k: v\n+k: w\n"}
	for b.Loop() {
		if err := s.Audit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}
