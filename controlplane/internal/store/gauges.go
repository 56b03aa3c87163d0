package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// Gauges are the values of the database the control plane's /metrics reports at each scrape.
// Every label they lead to is bounded by the configuration (routes, certificate domains).
type Gauges struct {
	// Health is the health-check state of every checked route (health_state).
	Health []RouteHealth
	// CertDaysLeft is the days left before each monitored certificate expires, by domain;
	// negative once expired.
	CertDaysLeft map[string]float64
	// LastRetentionRun is when the last retention run started (its audit entry); zero if none.
	LastRetentionRun time.Time
	// DBBytes and WALBytes are the sizes of the database file and of its write-ahead log.
	DBBytes, WALBytes int64
}

// RouteHealth is the health state of one route's backend.
type RouteHealth struct {
	Route string // Route.id
	State string // healthy, degraded, down or unknown
}

// ScrapeGauges reads Gauges as of now. Each query reads a table of a few rows per route or an
// index (audit_log's action index), so a scrape stays cheap as the event tables grow.
func (s *Store) ScrapeGauges(ctx context.Context, now time.Time) (g Gauges, err error) {
	rows, err := s.read.QueryContext(ctx, `SELECT r.route_key, h.state FROM health_state h
JOIN routes r ON r.route_id = h.route_id ORDER BY r.route_key`)
	if err != nil {
		return g, fmt.Errorf("gauges: health state: %w", err)
	}
	for rows.Next() {
		var h RouteHealth
		if err := rows.Scan(&h.Route, &h.State); err != nil {
			return g, errors.Join(fmt.Errorf("gauges: health state: scan: %w", err), closeRows(rows))
		}
		g.Health = append(g.Health, h)
	}
	if err := errors.Join(rows.Err(), closeRows(rows)); err != nil {
		return g, fmt.Errorf("gauges: health state: %w", err)
	}

	rows, err = s.read.QueryContext(ctx, `SELECT domain, expires_at FROM certificates ORDER BY domain`)
	if err != nil {
		return g, fmt.Errorf("gauges: certificates: %w", err)
	}
	g.CertDaysLeft = map[string]float64{}
	for rows.Next() {
		var (
			domain  string
			expires int64
		)
		if err := rows.Scan(&domain, &expires); err != nil {
			return g, errors.Join(fmt.Errorf("gauges: certificates: scan: %w", err), closeRows(rows))
		}
		g.CertDaysLeft[domain] = time.Unix(expires, 0).Sub(now).Hours() / 24
	}
	if err := errors.Join(rows.Err(), closeRows(rows)); err != nil {
		return g, fmt.Errorf("gauges: certificates: %w", err)
	}

	var last sql.NullInt64
	if err := s.read.QueryRowContext(ctx, `SELECT MAX(timestamp) FROM audit_log WHERE action = 'retention_run'`).Scan(&last); err != nil {
		return g, fmt.Errorf("gauges: last retention run: %w", err)
	}
	if last.Valid {
		g.LastRetentionRun = time.Unix(last.Int64, 0).UTC()
	}
	if g.DBBytes, err = fileSize(s.path); err != nil {
		return g, fmt.Errorf("gauges: %w", err)
	}
	if g.WALBytes, err = fileSize(s.path + "-wal"); err != nil {
		return g, fmt.Errorf("gauges: %w", err)
	}
	return g, nil
}

// fileSize is the size of the file at path, 0 if there is none (the WAL after a truncating
// checkpoint).
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return fi.Size(), nil
}
