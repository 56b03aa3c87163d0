package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// checkedTables are the tables the restore tests compare.
var checkedTables = []string{"request_logs", "services", "metrics", "security_events"}

// newDB creates a database with the real schema (the store runs its migrations) and returns its
// path and a second connection to write to it, as another writer would.
func newDB(t testing.TB, dir string) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(dir, "proxy.db")
	st, err := store.Open(context.Background(), path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path, openDB(t, path)
}

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// tableSums returns each checked table's row count and a checksum of its rows.
func tableSums(t testing.TB, db *sql.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, tb := range checkedTables {
		rows, err := db.Query("SELECT * FROM " + tb + " ORDER BY rowid")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		h := sha256.New()
		n := 0
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(h, "%v\n", vals)
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		out[tb] = fmt.Sprintf("%d rows %x", n, h.Sum(nil)[:8])
	}
	return out
}

// writeSome inserts, updates and deletes rows in several tables, in one transaction.
func writeSome(db *sql.DB, r *rand.Rand, at time.Time) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, a no-op
	ts := at.Unix()
	for range 1 + r.IntN(20) {
		if _, err := tx.Exec(`INSERT INTO request_logs (timestamp, timestamp_ms, node_id, host, method, path, status_code,
			response_time_ms, client_ip, user_agent, bytes_sent) VALUES (?, ?, 'dp1', 'gpanel.example.org', 'GET', ?, ?, ?, '203.0.113.0', 'Mozilla/5.0', ?)`,
			ts, ts*1000+int64(r.IntN(1000)), fmt.Sprintf("/p/%d", r.IntN(500)), []int{200, 200, 200, 304, 404, 502}[r.IntN(6)], r.IntN(900), r.IntN(40000)); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`UPDATE request_logs SET status_code = 500 WHERE log_id = (SELECT log_id FROM request_logs ORDER BY random() LIMIT 1)`); err != nil {
		return err
	}
	if r.IntN(4) == 0 {
		if _, err := tx.Exec(`DELETE FROM request_logs WHERE log_id IN (SELECT log_id FROM request_logs ORDER BY log_id LIMIT 5)`); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(`INSERT INTO services (service_name, port, first_seen, last_seen) VALUES (?, 80, ?, ?)
		ON CONFLICT(service_name, port) DO UPDATE SET last_seen = excluded.last_seen, total_requests = total_requests + 1`,
		fmt.Sprintf("app%d", r.IntN(30)), ts, ts); err != nil {
		return err
	}
	if _, err := tx.Exec(`INSERT INTO metrics (timestamp, status_code, response_time_ms, bytes_sent, bytes_received) VALUES (?, 200, ?, ?, ?)`,
		ts, r.IntN(500), r.IntN(9000), r.IntN(900)); err != nil {
		return err
	}
	if r.IntN(2) == 0 {
		if _, err := tx.Exec(`INSERT INTO security_events (timestamp, timestamp_ms, node_id, kind, client_ip, path) VALUES (?, ?, 'dp1', 'waf', '198.51.100.0', '/wp-login.php')`,
			ts, ts*1000); err != nil {
			return err
		}
	}
	if r.IntN(3) == 0 {
		if _, err := tx.Exec(`DELETE FROM metrics WHERE metric_id = (SELECT min(metric_id) FROM metrics)`); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// clock is a fake clock the tests advance.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// newKey writes a new identity into dir and loads it.
func newKey(t testing.TB, dir, name string) *Key {
	t.Helper()
	path := filepath.Join(dir, name)
	if _, err := GenerateKey(path); err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var nopLog = zap.NewNop()
