package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Bans live in rate_limits, one row per ban episode of one address on one route (route_id NULL:
// every route); see migrations/0006_bans.sql. A ban is active while banned_until is in the future.
const (
	selectLatestBanSQL = `SELECT window_start, banned_until, lifted_at, ban_count FROM rate_limits
WHERE ip_address = ? AND route_id IS ? ORDER BY window_start DESC LIMIT 1`
	extendBanSQL = `UPDATE rate_limits SET banned_until = MAX(banned_until, ?), request_count = MAX(request_count, ?)
WHERE ip_address = ? AND route_id IS ? AND window_start = ?`
	// The conflict arises only when a data plane's clock runs ahead of ours: a ban lifted at our
	// "now" can start later by the data plane's time. Then the new report starts the row over.
	insertBanSQL = `INSERT INTO rate_limits (ip_address, route_id, window_start, request_count, banned_until,
  ban_count, reason, node_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (ip_address, route_id, window_start) DO UPDATE SET
  banned_until = excluded.banned_until, request_count = excluded.request_count,
  reason = excluded.reason, node_id = excluded.node_id, lifted_at = NULL`
	selectActiveBansSQL = `SELECT b.rowid, b.ip_address, COALESCE(r.route_key, ''), b.window_start, b.banned_until,
  COALESCE(b.reason, '')
FROM rate_limits b LEFT JOIN routes r ON r.route_id = b.route_id
WHERE b.banned_until > ?`
	liftBanSQL = `UPDATE rate_limits SET banned_until = ?, lifted_at = ? WHERE rowid = ?`
)

// BanAddress is the canonical form of a client address as bans store it: an IPv4-mapped IPv6
// address is its IPv4 address, IPv6 is lower-case and compressed.
func BanAddress(ip string) (string, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", err
	}
	return a.Unmap().String(), nil
}

// banWriter records the bans of one batch with statements prepared once for the batch.
type banWriter struct {
	log                   *zap.Logger
	latest, extend, start *sql.Stmt
}

func (s *Store) newBanWriter(ctx context.Context, tx *sql.Tx) (*banWriter, error) {
	w := &banWriter{log: s.log}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{{&w.latest, selectLatestBanSQL}, {&w.extend, extendBanSQL}, {&w.start, insertBanSQL}} {
		stmt, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare ban statements: %w", err), w.close())
		}
		*p.stmt = stmt
	}
	return w, nil
}

func (w *banWriter) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{w.latest, w.extend, w.start} {
		if stmt != nil {
			errs = append(errs, closeStmt(stmt))
		}
	}
	return errors.Join(errs...)
}

// save records a BANNED event in rate_limits, inside the batch's transaction, so a ban is stored
// before anyone publishes it. The same ban reported twice, or by several data planes, is one row
// whose expiry is the latest reported; a ban decided before an admin lifted it (a late or re-sent
// report) stays lifted. An event that cannot be a ban (no valid address, no end) is logged and
// skipped: refusing the batch would make its data plane re-send it forever.
func (w *banWriter) save(ctx context.Context, nodeID string, ev *proxyv1.SecurityEvent, routeID sql.NullInt64, now time.Time) error {
	addr, err := BanAddress(ev.GetClientIp())
	if err != nil || ev.GetBanUntil() == nil {
		w.log.Warn("ban event without a valid client address or end; not stored as a ban",
			zap.String("node", nodeID), zap.String("route", ev.GetRouteId()), zap.String("request_id", ev.GetRequestId()))
		return nil
	}
	start := now
	if ev.GetTime() != nil {
		start = ev.GetTime().AsTime()
	}
	from, until := start.Unix(), ev.GetBanUntil().AsTime().Unix()
	if until <= from {
		w.log.Warn("ban event that ends before it starts; not stored as a ban",
			zap.String("node", nodeID), zap.String("route", ev.GetRouteId()), zap.String("request_id", ev.GetRequestId()))
		return nil
	}

	var (
		latestStart, latestCount int64
		latestUntil, liftedAt    sql.NullInt64
	)
	err = w.latest.QueryRowContext(ctx, addr, routeID).Scan(&latestStart, &latestUntil, &liftedAt, &latestCount)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("look up ban of %s: %w", addr, err)
	case liftedAt.Valid && from <= liftedAt.Int64:
		return nil // decided before the admin lifted it
	case !liftedAt.Valid && latestUntil.Valid && latestUntil.Int64 >= from:
		if _, err := w.extend.ExecContext(ctx, until, ev.GetCount(), addr, routeID, latestStart); err != nil {
			return fmt.Errorf("extend ban of %s: %w", addr, err)
		}
		return nil
	}
	if _, err := w.start.ExecContext(ctx, addr, routeID, from, ev.GetCount(), until, latestCount+1,
		nullString(ev.GetReason()), nodeID); err != nil {
		return fmt.Errorf("insert ban of %s: %w", addr, err)
	}
	return nil
}

// BanKey names the ban of one address on one route ("" for every route).
type BanKey struct{ IP, Route string }

// ActiveBansOf returns the bans in force at now among keys: what a batch that reported them
// made of them, read back after its commit.
func (s *Store) ActiveBansOf(ctx context.Context, keys []BanKey, now time.Time) (bans []*proxyv1.Ban, err error) {
	stmt, err := s.read.PrepareContext(ctx, selectActiveBansSQL+" AND b.ip_address = ? AND COALESCE(r.route_key, '') = ?")
	if err != nil {
		return nil, fmt.Errorf("active bans of %d keys: %w", len(keys), err)
	}
	defer func() { err = errors.Join(err, closeStmt(stmt)) }()
	for _, k := range keys {
		if err := func() (err error) {
			rows, err := stmt.QueryContext(ctx, now.Unix(), k.IP, k.Route)
			if err != nil {
				return err
			}
			defer func() { err = errors.Join(err, closeRows(rows)) }()
			for rows.Next() {
				b, _, err := scanBan(rows)
				if err != nil {
					return err
				}
				bans = append(bans, b)
			}
			return rows.Err()
		}(); err != nil {
			return nil, fmt.Errorf("active bans of %s %q: %w", k.IP, k.Route, err)
		}
	}
	return bans, nil
}

// ActiveBans returns the bans in force at now, at most limit of them (those that end last), and
// the number of active bans in all.
func (s *Store) ActiveBans(ctx context.Context, now time.Time, limit int) (bans []*proxyv1.Ban, total int, err error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("active bans: limit %d must be positive", limit)
	}
	if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM rate_limits WHERE banned_until > ?", now.Unix()).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count active bans: %w", err)
	}
	rows, err := s.read.QueryContext(ctx, selectActiveBansSQL+" ORDER BY b.banned_until DESC, b.rowid LIMIT ?", now.Unix(), limit)
	if err != nil {
		return nil, 0, fmt.Errorf("active bans: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	for rows.Next() {
		b, _, err := scanBan(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("active bans: %w", err)
		}
		bans = append(bans, b)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("active bans: %w", err)
	}
	return bans, total, nil
}

// LiftBans ends now the active bans of ip (on routeKey only, unless it is empty), keeping their
// rows as history, and writes one audit entry, audit, whose old value lists them; all in one
// transaction. It returns the bans it ended; none is not an error. audit.Action, ResourceType,
// ResourceID and OldValue are filled in.
func (s *Store) LiftBans(ctx context.Context, ip, routeKey string, now time.Time, audit AuditEntry) ([]*proxyv1.Ban, error) {
	ip, err := BanAddress(ip)
	if err != nil {
		return nil, fmt.Errorf("lift bans: %w", err)
	}
	if audit.User == "" {
		return nil, errors.New("lift bans: the audit entry needs a user")
	}
	var lifted []*proxyv1.Ban
	err = s.writer.do(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		lifted = nil
		rows, err := tx.QueryContext(ctx, selectActiveBansSQL+" AND b.ip_address = ? AND (? = '' OR r.route_key = ?) ORDER BY b.rowid",
			now.Unix(), ip, routeKey, routeKey)
		if err != nil {
			return fmt.Errorf("select: %w", err)
		}
		var ids []int64
		for rows.Next() {
			b, id, err := scanBan(rows)
			if err != nil {
				return errors.Join(err, closeRows(rows))
			}
			lifted, ids = append(lifted, b), append(ids, id)
		}
		if err := errors.Join(rows.Err(), closeRows(rows)); err != nil {
			return fmt.Errorf("select: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, liftBanSQL, now.Unix(), now.Unix(), id); err != nil {
				return fmt.Errorf("update: %w", err)
			}
		}
		old, err := bansJSON(lifted)
		if err != nil {
			return err
		}
		audit.Time, audit.Action, audit.ResourceType, audit.OldValue = now, "ban_lifted", "ban", old
		audit.ResourceID = ip
		if routeKey != "" {
			audit.ResourceID = ip + " " + routeKey
		}
		if err := insertAudit(ctx, tx, audit); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lift bans of %s %s: %w", ip, routeKey, err)
	}
	return lifted, nil
}

func scanBan(rows *sql.Rows) (*proxyv1.Ban, int64, error) {
	var (
		id, from, until int64
		b               proxyv1.Ban
	)
	if err := rows.Scan(&id, &b.ClientIp, &b.RouteId, &from, &until, &b.Reason); err != nil {
		return nil, 0, fmt.Errorf("scan ban: %w", err)
	}
	b.BannedAt, b.ExpiresAt = timestamppb.New(time.Unix(from, 0)), timestamppb.New(time.Unix(until, 0))
	return &b, id, nil
}

// bansJSON is how lifted bans appear in the audit log.
func bansJSON(bans []*proxyv1.Ban) (string, error) {
	type ban struct {
		IP        string    `json:"ip"`
		Route     string    `json:"route,omitempty"`
		BannedAt  time.Time `json:"banned_at"`
		ExpiresAt time.Time `json:"expires_at"`
		Reason    string    `json:"reason,omitempty"`
	}
	out := make([]ban, len(bans))
	for i, b := range bans {
		out[i] = ban{b.GetClientIp(), b.GetRouteId(), b.GetBannedAt().AsTime().UTC(), b.GetExpiresAt().AsTime().UTC(), b.GetReason()}
	}
	j, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode lifted bans: %w", err)
	}
	return string(j), nil
}
