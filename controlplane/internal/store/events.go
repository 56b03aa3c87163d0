package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"go.uber.org/zap"
)

// errDuplicateBatch makes the writer roll back a batch that is already stored.
var errDuplicateBatch = errors.New("batch already stored")

const (
	insertBatchSQL = `INSERT INTO event_batches (node_id, boot_id, sequence, received_at, event_count)
VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
	selectRouteSQL = `SELECT route_id, service_id FROM routes WHERE route_key = ?`
	// A route key that no snapshot synced yet (the data plane serves a configuration this database
	// has not seen): keep its events under a new, inactive route until SyncRoutes fills it in.
	insertEventRouteSQL = `INSERT INTO routes (route_key, domain, hosts, backend_url, active, created_at, updated_at)
VALUES (?, ?, ?, ?, 0, ?, ?) RETURNING route_id`
	insertRequestLogsPrefix = `INSERT INTO request_logs (timestamp, timestamp_ms, route_id, service_id, node_id, host,
  method, path, status_code, response_time_ms, client_ip, user_agent, bytes_sent, bytes_received,
  error_message, request_id, backend, protocol, snapshot_version, retry_count, content_encoding,
  bytes_saved_compression, timeout_kind, slow, country, city, blocked_by) VALUES `
	requestLogColumns = 27
	insertDropsSQL    = `INSERT INTO dataplane_drops (timestamp, node_id, boot_id, sequence, dropped_events)
VALUES (?, ?, ?, ?, ?)`
)

// SaveBatch stores an event batch from a data plane in one transaction: its event_batches row, one
// request_logs row per request event, and its dropped_events count if any. It returns stored=false
// and no error when the batch (same node, boot and sequence) was stored before; nothing is stored
// twice, and the caller acknowledges the batch either way.
//
// An event with an empty route_id is stored without a route. An event whose route_id is not in the
// routes table creates an inactive route for it, so no event is lost. An event without a time is
// stamped with the time the batch was received.
func (s *Store) SaveBatch(ctx context.Context, b *proxyv1.EventBatch) (stored bool, err error) {
	if b == nil {
		return false, errors.New("save batch: nil batch")
	}
	if b.GetNodeId() == "" || b.GetBootId() == "" {
		return false, fmt.Errorf("save batch %q/%q/%d: node_id and boot_id are required",
			b.GetNodeId(), b.GetBootId(), b.GetSequence())
	}
	seq, err := toInt64("sequence", b.GetSequence())
	if err == nil {
		_, err = toInt64("dropped_events", b.GetDroppedEvents())
	}
	if err != nil {
		return false, fmt.Errorf("save batch %s/%s/%d: %w", b.GetNodeId(), b.GetBootId(), b.GetSequence(), err)
	}

	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.insertBatch(ctx, tx, b, seq, s.now())
	})
	switch {
	case errors.Is(err, errDuplicateBatch):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("save batch %s/%s/%d: %w", b.GetNodeId(), b.GetBootId(), seq, err)
	}
	return true, nil
}

// routeRef is a route's key columns, cached for the duration of one batch.
type routeRef struct {
	routeID   sql.NullInt64
	serviceID sql.NullInt64
}

func (s *Store) insertBatch(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, seq int64, now time.Time) error {
	res, err := tx.ExecContext(ctx, insertBatchSQL, b.GetNodeId(), b.GetBootId(), seq, now.Unix(),
		len(b.GetRequests())+len(b.GetWebsockets())+len(b.GetSecurity()))
	if err != nil {
		return fmt.Errorf("insert event_batches: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("insert event_batches: %w", err)
	}
	if n == 0 {
		return errDuplicateBatch
	}

	if len(b.GetRequests()) > 0 {
		if err := s.insertRequests(ctx, tx, b, now); err != nil {
			return err
		}
	}

	if err := s.saveWebSockets(ctx, tx, b, now); err != nil {
		return err
	}
	if err := saveCircuits(ctx, tx, b, now); err != nil {
		return err
	}
	if err := savePoolStats(ctx, tx, b, now); err != nil {
		return err
	}
	if err := s.saveSecurity(ctx, tx, b, now); err != nil {
		return err
	}
	if err := saveSystem(ctx, tx, b, now); err != nil {
		return err
	}

	if d := b.GetDroppedEvents(); d > 0 {
		if _, err := tx.ExecContext(ctx, insertDropsSQL, now.Unix(), b.GetNodeId(), b.GetBootId(), seq, int64(d)); err != nil {
			return fmt.Errorf("insert dataplane_drops: %w", err)
		}
	}
	return nil
}

// Request events are inserted requestLogChunks[0] rows per statement (multi-row INSERTs cost
// far less per row than one statement per row), the rest in smaller chunks; each size has its
// statement prepared once (stmtCache). A batch is stored on the idle-priority thread (SaveBatch,
// idlethread), which any other thread preempts at once. Where there is none (no SCHED_IDLE), the
// writer yields the CPU between chunks (yieldCPU; 16 rows are a few hundred µs of work), which
// bounds how long it keeps a data plane on the same core waiting. Neither happens once the events
// are late (behind).
var requestLogChunks = []int{16, 4, 1}

// catchUpAfter is how old a batch's newest event may be when the writer takes it before it is
// stored at normal priority without yielding. A data plane that keeps up sends a batch as soon as it is full or at the latest a
// second after its first event, so its newest event is a few ms old when it arrives; an older one
// means batches are waiting for the writer and the data plane's queue is growing (under
// saturation, yielding, it filled up: 20,000 events, 50 MB of data plane memory). Then storing
// them at full speed matters more than the latency of requests that are queueing anyway.
const catchUpAfter = 250 * time.Millisecond

// behind reports whether a batch whose newest event happened at newest is late enough to be
// stored without yielding.
func behind(newest, now time.Time) bool { return now.Sub(newest) > catchUpAfter }

// insertRequestLogsSQL returns the INSERT of n request_logs rows.
func insertRequestLogsSQL(n int) string {
	row := "(?" + strings.Repeat(", ?", requestLogColumns-1) + ")"
	return insertRequestLogsPrefix + row + strings.Repeat(", "+row, n-1)
}

// writerStatements are the statements the writer prepares once (stmtCache).
func writerStatements() []string {
	qs := append([]string(nil), rollupStatements...)
	for _, n := range requestLogChunks {
		qs = append(qs, insertRequestLogsSQL(n))
	}
	return qs
}

func (s *Store) insertRequests(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, now time.Time) (err error) {
	selectRoute, err := tx.PrepareContext(ctx, selectRouteSQL)
	if err != nil {
		return fmt.Errorf("prepare route lookup: %w", err)
	}
	defer func() { err = errors.Join(err, closeStmt(selectRoute)) }()

	routes := map[string]routeRef{"": {}}
	events := b.GetRequests()
	roll := newRollup(now)
	args := make([]any, 0, requestLogChunks[0]*requestLogColumns)
	polite := len(events) == 0 || !behind(eventNewest(events, now), now)
	for first := 0; first < len(events); {
		n := chunkSize(len(events) - first)
		err := s.offload(polite, func() error {
			args = args[:0]
			for i := first; i < first+n; i++ {
				ev := events[i]
				if ev == nil {
					return fmt.Errorf("request event %d: nil", i)
				}
				ref, ok := routes[ev.GetRouteId()]
				if !ok {
					var err error
					if ref, err = s.resolveRoute(ctx, tx, selectRoute, ev.GetRouteId(), ev.GetHost(), ev.GetBackend(), now); err != nil {
						return fmt.Errorf("request event %d: %w", i, err)
					}
					routes[ev.GetRouteId()] = ref
				}
				t, d := eventTime(ev, now)
				var err error
				if args, err = appendRequestLog(args, b.GetNodeId(), ev, ref, t, d); err != nil {
					return fmt.Errorf("request event %d (%s): %w", i, ev.GetRequestId(), err)
				}
				if ref.routeID.Valid {
					roll.add(ref.routeID.Int64, t, d, ev)
				}
			}
			insert, err := s.stmts.get(ctx, tx, insertRequestLogsSQL(n))
			if err != nil {
				return err
			}
			if _, err := insert.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("insert request_logs (events %d-%d): %w", first, first+n-1, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		first += n
	}
	return s.offload(polite, func() error { return roll.flush(ctx, tx, s.stmts) })
}

// eventNewest returns the time of the batch's last (newest) request event.
func eventNewest(events []*proxyv1.RequestEvent, now time.Time) time.Time {
	t, _ := eventTime(events[len(events)-1], now)
	return t
}

// chunkSize returns the largest prepared chunk size that fits in the remaining events.
func chunkSize(remaining int) int {
	for _, n := range requestLogChunks {
		if n <= remaining {
			return n
		}
	}
	return 1
}

// eventTime returns when an event's request began (the batch's arrival if it carries no time)
// and how long it took.
func eventTime(ev *proxyv1.RequestEvent, now time.Time) (time.Time, time.Duration) {
	t := now
	if ev.GetTime() != nil {
		t = ev.GetTime().AsTime()
	}
	var d time.Duration
	if ev.GetDuration() != nil {
		d = ev.GetDuration().AsDuration()
	}
	return t, d
}

// resolveRoute finds the route of an event by its key, creating an inactive route for an unknown
// key with the event's host and backend.
func (s *Store) resolveRoute(ctx context.Context, tx *sql.Tx, selectRoute *sql.Stmt, key, host, backend string, now time.Time) (routeRef, error) {
	var ref routeRef
	err := selectRoute.QueryRowContext(ctx, key).Scan(&ref.routeID, &ref.serviceID)
	if err == nil {
		return ref, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return ref, fmt.Errorf("look up route %q: %w", key, err)
	}
	var hosts []string
	if host != "" {
		hosts = []string{host}
	}
	hostsJSON, err := jsonArray(hosts)
	if err != nil {
		return ref, fmt.Errorf("create route %q: %w", key, err)
	}
	err = tx.QueryRowContext(ctx, insertEventRouteSQL, key, host, hostsJSON, backend,
		now.Unix(), now.Unix()).Scan(&ref.routeID)
	if err != nil {
		return ref, fmt.Errorf("create route %q: %w", key, err)
	}
	s.log.Info("route created from events; no synced snapshot has it",
		zap.String("route_key", key), zap.String("host", host))
	return ref, nil
}

func appendRequestLog(args []any, nodeID string, ev *proxyv1.RequestEvent, ref routeRef, t time.Time, d time.Duration) ([]any, error) {
	version, err := toInt64("snapshot_version", ev.GetSnapshotVersion())
	if err != nil {
		return args, err
	}
	return append(args,
		t.Unix(), t.UnixMilli(), ref.routeID, ref.serviceID, nodeID, ev.GetHost(),
		ev.GetMethod(), ev.GetPath(), ev.GetStatus(), d.Milliseconds(),
		nullString(ev.GetClientIp()), nullString(ev.GetUserAgent()), ev.GetBytesOut(), ev.GetBytesIn(),
		nullString(ev.GetError()), nullString(ev.GetRequestId()), nullString(ev.GetBackend()),
		nullString(ev.GetProtocol()), version, ev.GetRetryCount(), nullString(ev.GetContentEncoding()),
		ev.GetBytesSavedCompression(), nullString(ev.GetTimeout()), nullString(ev.GetSlow()),
		nullString(ev.GetCountry()), nullString(ev.GetCity()), nullString(ev.GetBlockedBy())), nil
}

// toInt64 converts a protobuf uint64 to SQLite's signed 64-bit integer.
func toInt64(field string, v uint64) (int64, error) {
	if v > math.MaxInt64 {
		return 0, fmt.Errorf("%s %d does not fit in a signed 64-bit integer", field, v)
	}
	return int64(v), nil
}

// nullString stores an empty string as NULL.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func closeStmt(stmt *sql.Stmt) error {
	if err := stmt.Close(); err != nil {
		return fmt.Errorf("close statement: %w", err)
	}
	return nil
}
