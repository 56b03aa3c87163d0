package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkObservabilityQueries fills request_logs with BENCH_LOG_ROWS rows (default 1,000,000)
// over 30 days and 20 routes, 2% of them failed, and pool_stats, security_events and
// dataplane_metrics with a month of reports, then times each query the log, error, pool,
// WebSocket, security and data-plane views make, reporting p50 and p95 per query.
func BenchmarkObservabilityQueries(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("BENCH_LOG_ROWS"); s != "" {
		var err error
		if rows, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "proxy.db"), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	now := time.Now().Truncate(time.Second)
	start := now.Add(-30 * 24 * time.Hour).Unix()
	span := int64(30 * 24 * 3600)
	fill := []string{
		`WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 20)
		 INSERT INTO routes (route_key, domain, created_at, updated_at) SELECT 'route-' || i, 'r' || i || '.example.org', 0, 0 FROM r`,
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
		 INSERT INTO request_logs (timestamp, timestamp_ms, route_id, node_id, host, method, path, status_code,
		   response_time_ms, request_id, error_message)
		 SELECT %d + i * %d / %d, (%d + i * %d / %d) * 1000, 1 + i %% 20, 'node-' || (i %% 3), 'h', 'GET', '/p/' || (i %% 500),
		   CASE WHEN i %% 50 = 0 THEN 502 WHEN i %% 7 = 0 THEN 404 ELSE 200 END, i %% 300, 'req-' || i,
		   CASE WHEN i %% 50 = 0 THEN 'dial tcp: connection refused' END FROM n`,
			rows, start, span, rows, start, span, rows),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 86400)
		 INSERT INTO pool_stats (timestamp, node_id, backend, active, idle, requests, reused)
		 SELECT %d + i * 30, 'node-' || (i %% 3), 'http://b' || (i %% 20) || ':80', 2, 3, 100, 90 FROM n`, start),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
		 INSERT INTO security_events (timestamp, timestamp_ms, node_id, kind, route_id, client_ip)
		 SELECT %d + i * 25, 0, 'n', CASE WHEN i %% 3 = 0 THEN 'waf' ELSE 'throttled' END, 1 + i %% 20, '203.0.' || (i %% 250) || '.' || (i %% 7) FROM n`, start),
		fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 518400)
		 INSERT INTO dataplane_metrics (node_id, timestamp, uptime_s, active_connections, goroutines, heap_bytes, rss_bytes,
		   requests_total, events_dropped_total, event_queue_length, event_queue_capacity, websockets_active,
		   snapshot_version, bans_active)
		 SELECT 'node-' || (i %% 3), %d + i * 5, i, 1, 1, 1, 1, i, 0, 0, 1, 0, 1, 0 FROM n`, start),
		`ANALYZE`,
	}
	for _, q := range fill {
		if _, err := s.write.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	queries := []struct {
		name string
		run  func() error
	}{
		{"logs newest", func() error { _, err := s.QueryLogs(ctx, LogQuery{Limit: 100}); return err }},
		{"logs request_id", func() error {
			_, err := s.QueryLogs(ctx, LogQuery{RequestID: fmt.Sprintf("req-%d", rows/2), Limit: 100})
			return err
		}},
		{"logs route+5xx", func() error {
			_, err := s.QueryLogs(ctx, LogQuery{Route: "route-1", Status: StatusFilter{Class: 5}, Limit: 100})
			return err
		}},
		{"logs status 502 since 7d", func() error {
			_, err := s.QueryLogs(ctx, LogQuery{Status: StatusFilter{Code: 502}, Since: now.Add(-7 * 24 * time.Hour), Limit: 100})
			return err
		}},
		{"logs status 418 (none)", func() error {
			_, err := s.QueryLogs(ctx, LogQuery{Status: StatusFilter{Code: 418}, Limit: 100})
			return err
		}},
		{"logs route+418 (none)", func() error {
			_, err := s.QueryLogs(ctx, LogQuery{Route: "route-2", Status: StatusFilter{Code: 418}, Limit: 100})
			return err
		}},
		{"errors 30d", func() error {
			_, err := s.Errors(ctx, ErrorQuery{Since: now.Add(-30 * 24 * time.Hour), Limit: 100})
			return err
		}},
		{"errors 24h", func() error {
			_, err := s.Errors(ctx, ErrorQuery{Since: now.Add(-24 * time.Hour), Limit: 100})
			return err
		}},
		{"errors 24h route", func() error {
			_, err := s.Errors(ctx, ErrorQuery{Route: "route-3", Since: now.Add(-24 * time.Hour), Limit: 100})
			return err
		}},
		{"pools 1h", func() error { _, err := s.PoolStats(ctx, now.Add(-time.Hour)); return err }},
		{"websockets", func() error {
			_, err := s.WebSockets(ctx, now, now.Add(-24*time.Hour), now.Add(-time.Hour))
			return err
		}},
		{"security 24h", func() error { _, err := s.Security(ctx, now, now.Add(-24*time.Hour)); return err }},
		{"dataplanes system", func() error { _, err := s.LatestSystemMetrics(ctx); return err }},
	}
	b.ResetTimer()
	for _, q := range queries {
		var took []time.Duration
		for range 20 {
			t0 := time.Now()
			if err := q.run(); err != nil {
				b.Fatalf("%s: %v", q.name, err)
			}
			took = append(took, time.Since(t0))
		}
		slices.Sort(took)
		b.Logf("%-26s p50 %8s  p95 %8s", q.name, took[len(took)/2].Round(10*time.Microsecond), took[len(took)*95/100].Round(10*time.Microsecond))
	}
}
