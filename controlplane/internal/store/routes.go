package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Retention used when a route's policy does not set one (the seeds' defaults, also the column
// defaults in 0001_init.sql).
const (
	defaultRetentionAccessLogs   = 7 * 24 * time.Hour
	defaultRetentionErrorLogs    = 30 * 24 * time.Hour
	defaultRetentionSecurityLogs = 90 * 24 * time.Hour
	defaultRetentionMetrics      = 30 * 24 * time.Hour
)

const (
	upsertServiceSQL = `INSERT INTO services (service_name, port, first_seen, last_seen) VALUES (?, ?, ?, ?)
ON CONFLICT (service_name, port) DO UPDATE SET last_seen = excluded.last_seen
RETURNING service_id`
	// The update runs only when something changed, so updated_at says when the route last changed.
	upsertRouteSQL = `INSERT INTO routes (route_key, domain, hosts, path_prefix, backend_url, site, source_file,
  service_id, active, created_at, updated_at,
  retention_access_logs, retention_error_logs, retention_security_logs, retention_metrics)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)
ON CONFLICT (route_key) DO UPDATE SET
  domain = excluded.domain, hosts = excluded.hosts, path_prefix = excluded.path_prefix,
  backend_url = excluded.backend_url, site = excluded.site, source_file = excluded.source_file,
  service_id = excluded.service_id, active = 1, updated_at = excluded.updated_at,
  retention_access_logs = excluded.retention_access_logs,
  retention_error_logs = excluded.retention_error_logs,
  retention_security_logs = excluded.retention_security_logs,
  retention_metrics = excluded.retention_metrics
WHERE routes.active = 0
  OR routes.domain IS NOT excluded.domain OR routes.hosts IS NOT excluded.hosts
  OR routes.path_prefix IS NOT excluded.path_prefix OR routes.backend_url IS NOT excluded.backend_url
  OR routes.site IS NOT excluded.site OR routes.source_file IS NOT excluded.source_file
  OR routes.service_id IS NOT excluded.service_id
  OR routes.retention_access_logs IS NOT excluded.retention_access_logs
  OR routes.retention_error_logs IS NOT excluded.retention_error_logs
  OR routes.retention_security_logs IS NOT excluded.retention_security_logs
  OR routes.retention_metrics IS NOT excluded.retention_metrics`
	deactivateRoutesSQL = `UPDATE routes SET active = 0, updated_at = ?
WHERE active = 1 AND route_key NOT IN (SELECT value FROM json_each(?))`
)

// SyncRoutes records the routes of an accepted snapshot, in one transaction. Each route is
// inserted or updated by its key (Route.id) and marked active; routes that are no longer in the
// snapshot stay, marked inactive, so stored history keeps its route. A route's backend host and
// port are recorded as a service. now stamps created_at, updated_at and the services' last_seen.
func (s *Store) SyncRoutes(ctx context.Context, routes []*proxyv1.Route, now time.Time) error {
	keys := make([]string, 0, len(routes))
	for i, r := range routes {
		if r == nil {
			return fmt.Errorf("sync routes: route %d is nil", i)
		}
		if r.GetId() == "" {
			return fmt.Errorf("sync routes: route %d (site %q): empty id", i, r.GetSite())
		}
		keys = append(keys, r.GetId())
	}
	keysJSON, err := jsonArray(keys)
	if err != nil {
		return fmt.Errorf("sync routes: %w", err)
	}
	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, r := range routes {
			if err := upsertRoute(ctx, tx, r, now); err != nil {
				return fmt.Errorf("route %s: %w", r.GetId(), err)
			}
		}
		if _, err := tx.ExecContext(ctx, deactivateRoutesSQL, now.Unix(), keysJSON); err != nil {
			return fmt.Errorf("deactivate removed routes: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync routes (%d): %w", len(routes), err)
	}
	return nil
}

func upsertRoute(ctx context.Context, tx *sql.Tx, r *proxyv1.Route, now time.Time) error {
	var serviceID sql.NullInt64
	if name, port, ok := backendService(r.GetBackendUrl()); ok {
		err := tx.QueryRowContext(ctx, upsertServiceSQL, name, port, now.Unix(), now.Unix()).Scan(&serviceID)
		if err != nil {
			return fmt.Errorf("upsert service %s:%d: %w", name, port, err)
		}
	}
	hosts := r.GetHosts()
	var domain string
	if len(hosts) > 0 {
		domain = hosts[0]
	}
	hostsJSON, err := jsonArray(hosts)
	if err != nil {
		return err
	}
	pathPrefix := r.GetPathPrefix()
	if pathPrefix == "" {
		pathPrefix = "/"
	}
	ret := r.GetPolicy().GetDataRetention()
	_, err = tx.ExecContext(ctx, upsertRouteSQL,
		r.GetId(), domain, hostsJSON, pathPrefix, r.GetBackendUrl(), r.GetSite(), r.GetSourceFile(),
		serviceID, now.Unix(), now.Unix(),
		retentionSeconds(ret.GetAccessLogs(), defaultRetentionAccessLogs),
		retentionSeconds(ret.GetErrorLogs(), defaultRetentionErrorLogs),
		retentionSeconds(ret.GetSecurityLogs(), defaultRetentionSecurityLogs),
		retentionSeconds(ret.GetMetrics(), defaultRetentionMetrics))
	if err != nil {
		return fmt.Errorf("upsert route: %w", err)
	}
	return nil
}

// backendService names the service behind a backend URL: its host and port (the scheme's default
// port when none is given). ok is false when the URL has no host.
func backendService(backendURL string) (name string, port int, ok bool) {
	u, err := url.Parse(backendURL)
	if err != nil || u.Hostname() == "" {
		return "", 0, false
	}
	switch p := u.Port(); {
	case p != "":
		n, err := strconv.Atoi(p)
		if err != nil {
			return "", 0, false
		}
		port = n
	case u.Scheme == "https":
		port = 443
	default:
		port = 80
	}
	return u.Hostname(), port, true
}

// retentionSeconds is d in whole seconds, or def when d is unset or shorter than a second.
func retentionSeconds(d *durationpb.Duration, def time.Duration) int64 {
	if v := d.AsDuration(); v >= time.Second { // AsDuration is nil-safe
		return int64(v / time.Second)
	}
	return int64(def / time.Second)
}

// jsonArray encodes ss as a JSON array ("[]" for none).
func jsonArray(ss []string) (string, error) {
	if ss == nil {
		ss = []string{}
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return "", fmt.Errorf("encode JSON array: %w", err)
	}
	return string(b), nil
}
