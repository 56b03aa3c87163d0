package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

const (
	insertSecurityEventSQL = `INSERT INTO security_events (timestamp, timestamp_ms, node_id, kind, route_id, client_ip,
  path, request_id, action, rule, pattern, snippet, count, ban_until, country, reason, alert_webhook)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertWAFBlockSQL = `INSERT INTO waf_blocks (timestamp, ip_address, route_id, path, rule_triggered, pattern_matched,
  request_snippet, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	insertViolationSQL = `INSERT INTO rate_limit_violations (ip_address, route_id, path, timestamp, request_count, action)
VALUES (?, ?, ?, ?, ?, ?)`
)

// securityKind is the stored name of a SecurityKind: its enum name without the prefix, lower-case.
func securityKind(k proxyv1.SecurityKind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "SECURITY_KIND_"))
}

// saveSecurity stores a batch's security events in security_events, and the WAF matches and rate
// limit violations also in the seed's waf_blocks and rate_limit_violations; bans also in
// rate_limits (bans.go).
func (s *Store) saveSecurity(ctx context.Context, tx *sql.Tx, b *proxyv1.EventBatch, now time.Time) (err error) {
	if len(b.GetSecurity()) == 0 {
		return nil
	}
	selectRoute, err := tx.PrepareContext(ctx, selectRouteSQL)
	if err != nil {
		return fmt.Errorf("prepare route lookup: %w", err)
	}
	defer selectRoute.Close()
	routes := map[string]routeRef{"": {}}
	var bans *banWriter // prepared at the batch's first ban
	defer func() {
		if bans != nil {
			err = errors.Join(err, bans.close())
		}
	}()
	for i, ev := range b.GetSecurity() {
		if ev == nil {
			return fmt.Errorf("security event %d: nil", i)
		}
		ref, ok := routes[ev.GetRouteId()]
		if !ok {
			if ref, err = s.resolveRoute(ctx, tx, selectRoute, ev.GetRouteId(), "", "", now); err != nil {
				return fmt.Errorf("security event %d: %w", i, err)
			}
			routes[ev.GetRouteId()] = ref
		}
		if err := saveSecurityEvent(ctx, tx, b.GetNodeId(), ev, ref, now); err != nil {
			return fmt.Errorf("security event %d (%s): %w", i, ev.GetRequestId(), err)
		}
		if ev.GetKind() == proxyv1.SecurityKind_SECURITY_KIND_BANNED {
			if bans == nil {
				if bans, err = s.newBanWriter(ctx, tx); err != nil {
					return err
				}
			}
			if err := bans.save(ctx, b.GetNodeId(), ev, ref.routeID, now); err != nil {
				return fmt.Errorf("security event %d (%s): %w", i, ev.GetRequestId(), err)
			}
		}
	}
	return nil
}

func saveSecurityEvent(ctx context.Context, tx *sql.Tx, nodeID string, ev *proxyv1.SecurityEvent, ref routeRef, now time.Time) error {
	t := now
	if ev.GetTime() != nil {
		t = ev.GetTime().AsTime()
	}
	var banUntil sql.NullInt64
	if ev.GetBanUntil() != nil {
		banUntil = sql.NullInt64{Int64: ev.GetBanUntil().AsTime().Unix(), Valid: true}
	}
	kind := securityKind(ev.GetKind())
	if _, err := tx.ExecContext(ctx, insertSecurityEventSQL, t.Unix(), t.UnixMilli(), nodeID, kind, ref.routeID,
		nullString(ev.GetClientIp()), nullString(ev.GetPath()), nullString(ev.GetRequestId()),
		nullString(ev.GetAction()), nullString(ev.GetRule()), nullString(ev.GetPattern()),
		nullString(ev.GetSnippet()), ev.GetCount(), banUntil, nullString(ev.GetCountry()),
		nullString(ev.GetReason()), ev.GetAlertWebhook()); err != nil {
		return fmt.Errorf("insert security_events: %w", err)
	}
	switch ev.GetKind() {
	case proxyv1.SecurityKind_SECURITY_KIND_WAF:
		if _, err := tx.ExecContext(ctx, insertWAFBlockSQL, t.Unix(), ev.GetClientIp(), ref.routeID, ev.GetPath(),
			ev.GetRule(), nullString(ev.GetPattern()), nullString(ev.GetSnippet()), nullString(ev.GetAction())); err != nil {
			return fmt.Errorf("insert waf_blocks: %w", err)
		}
	case proxyv1.SecurityKind_SECURITY_KIND_THROTTLED, proxyv1.SecurityKind_SECURITY_KIND_BANNED,
		proxyv1.SecurityKind_SECURITY_KIND_FAILED_LOGIN:
		if !ref.routeID.Valid { // rate_limit_violations.route_id is NOT NULL; security_events has it
			return nil
		}
		if _, err := tx.ExecContext(ctx, insertViolationSQL, ev.GetClientIp(), ref.routeID, ev.GetPath(), t.Unix(),
			ev.GetCount(), kind); err != nil {
			return fmt.Errorf("insert rate_limit_violations: %w", err)
		}
	}
	return nil
}
