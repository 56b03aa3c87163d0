package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The audit levels of sites (config.Site.Audit) need to know what a route looked like before a
// reload, also across restarts of the control plane: the routes table keeps it in config_yaml,
// the column 0001_init.sql reserved for a route's configuration. Its text is the caller's (the
// reloader writes JSON, which is YAML too).

const (
	selectRouteConfigsSQL = `SELECT route_key, config_yaml FROM routes WHERE active = 1`
	updateRouteConfigSQL  = `UPDATE routes SET config_yaml = ? WHERE route_key = ?`
)

// RouteConfigs returns the configuration recorded for each active route by RecordRouteConfigs,
// keyed by route key; a route that has none recorded (it predates audit levels) maps to "".
func (s *Store) RouteConfigs(ctx context.Context) (configs map[string]string, err error) {
	rows, err := s.read.QueryContext(ctx, selectRouteConfigsSQL)
	if err != nil {
		return nil, fmt.Errorf("route configs: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	configs = map[string]string{}
	for rows.Next() {
		var key string
		var cfg sql.NullString
		if err := rows.Scan(&key, &cfg); err != nil {
			return nil, fmt.Errorf("route configs: scan: %w", err)
		}
		configs[key] = cfg.String
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route configs: %w", err)
	}
	return configs, nil
}

// RecordRouteConfigs stores each route's configuration (route key → text) and appends the
// audit entries of the change, in one transaction: the entries are written once, with the
// configuration they compare against. Routes must exist (SyncRoutes first); an unknown key is
// an error.
func (s *Store) RecordRouteConfigs(ctx context.Context, configs map[string]string, entries []AuditEntry) error {
	for _, e := range entries {
		if e.User == "" || e.Action == "" || e.ResourceType == "" {
			return fmt.Errorf("record route configs: audit %q: user, action and resource type are required", e.Action)
		}
	}
	err := s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for key, cfg := range configs {
			res, err := tx.ExecContext(ctx, updateRouteConfigSQL, nullString(cfg), key)
			if err != nil {
				return fmt.Errorf("route %s: %w", key, err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				return fmt.Errorf("route %s: not recorded (%d rows, %v)", key, n, err)
			}
		}
		for _, e := range entries {
			if err := insertAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record route configs (%d routes, %d audit entries): %w", len(configs), len(entries), err)
	}
	return nil
}
