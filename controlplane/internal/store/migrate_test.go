package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"go.uber.org/zap/zaptest"
)

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	testCases := []struct {
		desc    string
		files   []string
		wantErr string
	}{
		{desc: "no version", files: []string{"migrations/init.sql"}, wantErr: "NNNN_description.sql"},
		{desc: "zero version", files: []string{"migrations/0000_init.sql"}, wantErr: "NNNN_description.sql"},
		{desc: "duplicate version", files: []string{"migrations/0001_a.sql", "migrations/01_b.sql"}, wantErr: "same version 1"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			_, err := loadMigrations(fsys)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("loadMigrations = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadMigrationsSortsByVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0010_c.sql": {Data: []byte("SELECT 1;")},
		"migrations/0002_b.sql": {Data: []byte("SELECT 1;")},
		"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
	}
	ms, err := loadMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, m := range ms {
		got = append(got, m.version)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 10 {
		t.Fatalf("versions = %v, want [1 2 10]", got)
	}
}

// A failing migration must leave nothing behind: its statements and its schema_migrations row are
// rolled back together, and the next run applies it once fixed.
func TestMigrationRunsInOneTransaction(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "m.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}()
	log := zaptest.NewLogger(t)

	broken := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER);\nCREATE TABLE c (;")},
	}
	err = migrate(ctx, db, broken, log)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("migrate = %v, want an error naming 0002_b.sql", err)
	}
	if v, err := schemaVersion(ctx, db); err != nil || v != 1 {
		t.Fatalf("schema version = %d, %v; want 1", v, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("table b of the failed migration exists")
	}

	fixed := fstest.MapFS{
		"migrations/0001_a.sql": broken["migrations/0001_a.sql"],
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER);\nCREATE TABLE c (y INTEGER);")},
	}
	if err := migrate(ctx, db, fixed, log); err != nil {
		t.Fatal(err)
	}
	if v, err := schemaVersion(ctx, db); err != nil || v != 2 {
		t.Fatalf("schema version = %d, %v; want 2", v, err)
	}
	if err := migrate(ctx, db, fixed, log); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}
