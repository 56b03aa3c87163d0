package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

const (
	insertCircuitEventSQL = `INSERT INTO circuit_breaker_events (timestamp, node_id, service_id, backend, from_state,
  to_state, failures, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	upsertCircuitStateSQL = `INSERT INTO circuit_breaker_state (service_id, state, failure_count, last_failure, opened_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT(service_id) DO UPDATE SET state = excluded.state, failure_count = excluded.failure_count,
  last_failure = COALESCE(excluded.last_failure, circuit_breaker_state.last_failure),
  opened_at = CASE WHEN excluded.state = 'open' THEN excluded.opened_at ELSE circuit_breaker_state.opened_at END`
	insertPoolStatsSQL = `INSERT INTO pool_stats (timestamp, node_id, backend, active, idle, requests, reused,
  average_connection_age_ms, max_conns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// saveCircuits stores a batch's circuit-breaker changes, and the latest state per service.
func saveCircuits(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, now time.Time) error {
	for i, ev := range b.GetCircuits() {
		t := now
		if ev.GetTime() != nil {
			t = ev.GetTime().AsTime()
		}
		svc, err := serviceID(ctx, tx, ev.GetBackend(), t)
		if err != nil {
			return fmt.Errorf("circuit event %d: %w", i, err)
		}
		if _, err := tx.ExecContext(ctx, insertCircuitEventSQL, t.Unix(), b.GetNodeId(), svc, ev.GetBackend(),
			ev.GetFrom(), ev.GetTo(), ev.GetFailures(), nullString(ev.GetReason())); err != nil {
			return fmt.Errorf("insert circuit_breaker_events: %w", err)
		}
		if !svc.Valid {
			continue
		}
		var lastFailure, openedAt sql.NullInt64
		if ev.GetTo() == "open" {
			lastFailure = sql.NullInt64{Int64: t.Unix(), Valid: true}
			openedAt = lastFailure
		}
		if _, err := tx.ExecContext(ctx, upsertCircuitStateSQL, svc, ev.GetTo(), ev.GetFailures(), lastFailure, openedAt); err != nil {
			return fmt.Errorf("upsert circuit_breaker_state: %w", err)
		}
	}
	return nil
}

// serviceID finds or creates the service row of a backend URL; NULL when the URL names no host.
func serviceID(ctx context.Context, tx *sql.Tx, backend string, now time.Time) (sql.NullInt64, error) {
	name, port, ok := backendService(backend)
	if !ok {
		return sql.NullInt64{}, nil
	}
	var id int64
	if err := tx.QueryRowContext(ctx, upsertServiceSQL, name, port, now.Unix(), now.Unix()).Scan(&id); err != nil {
		return sql.NullInt64{}, fmt.Errorf("upsert service %s:%d: %w", name, port, err)
	}
	return sql.NullInt64{Int64: id, Valid: true}, nil
}

// savePoolStats stores a batch's connection-pool reports.
func savePoolStats(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, now time.Time) error {
	for i, p := range b.GetPools() {
		t := now
		if p.GetTime() != nil {
			t = p.GetTime().AsTime()
		}
		if _, err := tx.ExecContext(ctx, insertPoolStatsSQL, t.Unix(), b.GetNodeId(), p.GetBackend(), p.GetActive(),
			p.GetIdle(), p.GetRequests(), p.GetReused(), p.GetAverageConnectionAge().AsDuration().Milliseconds(), p.GetMaxConns()); err != nil {
			return fmt.Errorf("pool stats %d: %w", i, err)
		}
	}
	return nil
}

// CircuitState is the latest breaker state stored for a service.
type CircuitState struct {
	Service  string
	Port     int
	State    string
	Failures int64
}

// CircuitStates returns the latest breaker state of every service that reported one.
func (s *Store) CircuitStates(ctx context.Context) (states []CircuitState, err error) {
	rows, err := s.read.QueryContext(ctx, `SELECT sv.service_name, sv.port, c.state, c.failure_count
FROM circuit_breaker_state c JOIN services sv ON sv.service_id = c.service_id ORDER BY sv.service_name, sv.port`)
	if err != nil {
		return nil, fmt.Errorf("circuit states: %w", err)
	}
	defer func() {
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
	}()
	for rows.Next() {
		var c CircuitState
		if err := rows.Scan(&c.Service, &c.Port, &c.State, &c.Failures); err != nil {
			return nil, fmt.Errorf("circuit states: %w", err)
		}
		states = append(states, c)
	}
	return states, rows.Err()
}
