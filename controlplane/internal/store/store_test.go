package store

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openTestStore opens a store in a fresh temporary directory and closes it when the test ends.
func openTestStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy.db")
	s, err := Open(context.Background(), path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

// testBatch builds a batch of n request events for routeKey.
func testBatch(node, boot string, seq uint64, n int, routeKey string) *proxyv1.EventBatch {
	b := &proxyv1.EventBatch{NodeId: node, BootId: boot, Sequence: seq}
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range n {
		b.Requests = append(b.Requests, &proxyv1.RequestEvent{
			Time:            timestamppb.New(start.Add(time.Duration(i) * time.Millisecond)),
			RequestId:       "req-" + string(rune('a'+i%26)),
			RouteId:         routeKey,
			Host:            "panel.example.org",
			Method:          "GET",
			Path:            "/api/servers",
			Status:          200,
			Duration:        durationpb.New(12 * time.Millisecond),
			BytesIn:         100,
			BytesOut:        2048,
			ClientIp:        "203.0.113.0",
			UserAgent:       "Mozilla/5.0",
			Backend:         "http://panel:8080",
			Protocol:        "HTTP/2.0",
			SnapshotVersion: 7,
		})
	}
	return b
}

func TestOpenAppliesMigrationsIdempotently(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "proxy.db")
	ms, err := loadMigrations(migrationsFS)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s, err := Open(ctx, path, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		var rows, version int64
		err = s.read.QueryRowContext(ctx, "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&rows, &version)
		if err != nil {
			t.Fatal(err)
		}
		if rows != int64(len(ms)) || version != ms[len(ms)-1].version {
			t.Errorf("open #%d: schema_migrations has %d rows up to version %d, want %d up to %d",
				i+1, rows, version, len(ms), ms[len(ms)-1].version)
		}
		for _, table := range []string{"services", "routes", "request_logs", "audit_log", "event_batches", "dataplane_drops", "analytics_hourly"} {
			var n int
			if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("table %s missing", table)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("close #%d: %v", i+1, err)
		}
	}
}

func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)

	type conn struct {
		name     string
		c        *sql.Conn
		readOnly bool
	}
	var conns []conn
	// Hold every reader connection at once, so each is a distinct pooled connection.
	for i := range readPoolSize {
		c, err := s.read.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn{name: "reader " + string(rune('0'+i)), c: c, readOnly: true})
	}
	wc, err := s.write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, conn{name: "writer", c: wc})
	defer func() {
		for _, c := range conns {
			if err := c.c.Close(); err != nil {
				t.Error(err)
			}
		}
	}()

	for _, c := range conns {
		want := map[string]string{
			"journal_mode": "wal",
			"foreign_keys": "1",
			"busy_timeout": "5000",
			"synchronous":  "1", // NORMAL
			"query_only":   "0",
		}
		if c.readOnly {
			want["query_only"] = "1"
		}
		for pragma, w := range want {
			var got string
			if err := c.c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("%s: PRAGMA %s: %v", c.name, pragma, err)
			}
			if strings.ToLower(got) != w {
				t.Errorf("%s: PRAGMA %s = %s, want %s", c.name, pragma, got, w)
			}
		}
	}
	if _, err := conns[0].c.ExecContext(ctx, "DELETE FROM audit_log"); err == nil {
		t.Error("a reader connection accepted a write")
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	s, path := openTestStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)"); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = Open(ctx, path, zaptest.NewLogger(t))
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error %q does not name the database's version", err)
	}
}

func TestOpenPathErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		desc     string
		path     string
		wantText string
		wantIs   error
	}{
		{desc: "missing directory", path: filepath.Join(dir, "missing", "proxy.db"),
			wantText: filepath.Join(dir, "missing") + " does not exist", wantIs: fs.ErrNotExist},
		{desc: "parent is a file", path: filepath.Join(file, "proxy.db"), wantText: "is not a directory"},
		{desc: "empty path", path: "", wantText: "empty database path"},
		{desc: "path is a directory", path: dir, wantText: "database file is not writable"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := Open(context.Background(), tc.path, zaptest.NewLogger(t))
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not contain %q", err, tc.wantText)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q is not %v", err, tc.wantIs)
			}
		})
	}
}

func TestOpenReadOnlyDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// Permissions do not stop root (CI runs as root): a read-only mount does.
		if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_RDONLY, "size=1m"); err != nil {
			t.Skipf("running as root without the right to mount a read-only tmpfs: %v", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	}
	_, err := Open(context.Background(), filepath.Join(dir, "proxy.db"), zaptest.NewLogger(t))
	if err == nil || !strings.Contains(err.Error(), "is not writable") {
		t.Fatalf("Open = %v, want a not-writable error", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s, path := openTestStore(t)
	if _, err := s.SaveBatch(context.Background(), testBatch("n1", "b1", 1, 3, "r1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("WAL holds %d bytes after Close, want it checkpointed", fi.Size())
	}
	if _, err := s.SaveBatch(context.Background(), testBatch("n1", "b1", 2, 1, "")); !errors.Is(err, ErrClosed) {
		t.Errorf("SaveBatch after Close = %v, want ErrClosed", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
}

func TestPing(t *testing.T) {
	s, _ := openTestStore(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
