package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"
)

// PoolStat is the latest connection-pool report of one backend by one data plane.
type PoolStat struct {
	NodeID  string    `json:"node_id"`
	Backend string    `json:"backend"`
	Time    time.Time `json:"time"` // of the latest report
	Active  int64     `json:"active"`
	Idle    int64     `json:"idle"`
	// MaxConns is the pool's bound, 0 when unbounded.
	MaxConns int64 `json:"max_conns"`
	// AvgConnectionAgeMS is the average age of the pool's connections at the latest report.
	AvgConnectionAgeMS int64 `json:"avg_connection_age_ms"`
	// Requests and Reused sum the reports since the window began; ReuseRate is Reused/Requests
	// (0 without requests).
	Requests  int64   `json:"requests"`
	Reused    int64   `json:"reused"`
	ReuseRate float64 `json:"reuse_rate"`
}

// PoolStats returns, for every (data plane, backend) that reported since since, its latest
// report and the requests and reuses summed over the reports since then, sorted by backend and
// node. It reads the window through idx_pool_stats_timestamp.
func (s *Store) PoolStats(ctx context.Context, since time.Time) (stats []PoolStat, err error) {
	// SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum.
	const q = `SELECT node_id, backend, MAX(timestamp), active, idle, COALESCE(max_conns, 0),
  COALESCE(average_connection_age_ms, 0), SUM(requests), SUM(reused)
FROM pool_stats WHERE timestamp >= ? GROUP BY node_id, backend ORDER BY backend, node_id`
	rows, err := s.read.QueryContext(ctx, q, since.Unix())
	if err != nil {
		return nil, fmt.Errorf("pool stats: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	stats = []PoolStat{}
	for rows.Next() {
		var (
			p  PoolStat
			ts int64
		)
		if err := rows.Scan(&p.NodeID, &p.Backend, &ts, &p.Active, &p.Idle, &p.MaxConns, &p.AvgConnectionAgeMS,
			&p.Requests, &p.Reused); err != nil {
			return nil, fmt.Errorf("pool stats: scan: %w", err)
		}
		p.Time = time.Unix(ts, 0).UTC()
		if p.Requests > 0 {
			p.ReuseRate = float64(p.Reused) / float64(p.Requests)
		}
		stats = append(stats, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pool stats: %w", err)
	}
	return stats, nil
}

// WebSocketConn is one WebSocket connection as the API lists it.
type WebSocketConn struct {
	Route       string    `json:"route"`
	NodeID      string    `json:"node_id"`
	RequestID   string    `json:"request_id"`
	ClientIP    string    `json:"client_ip"` // masked by the data plane
	Host        string    `json:"host"`
	Path        string    `json:"path"`
	ConnectedAt time.Time `json:"connected_at"`
	// DurationS is how long it has been open at the time of the query.
	DurationS     int64 `json:"duration_s"`
	BytesSent     int64 `json:"bytes_sent"`
	BytesReceived int64 `json:"bytes_received"`
}

// WebSocketReport is the WebSocket view of a day.
type WebSocketReport struct {
	Active int64 `json:"active"`
	// Peak is the most connections open at once since the window began, and PeakAt when.
	Peak   int64      `json:"peak"`
	PeakAt *time.Time `json:"peak_at,omitempty"`
	// Closed counts the connections that ended in the window; AvgDurationS is their average.
	Closed       int64   `json:"closed"`
	AvgDurationS float64 `json:"avg_duration_s"`
	// LongLived are the open connections older than the long-lived threshold, oldest first.
	LongLived []WebSocketConn `json:"long_lived"`
}

// maxLongLived bounds the long-lived list.
const maxLongLived = 100

// WebSockets reports the connections: open now, the peak and average duration since since, and
// the open ones connected before longBefore. It reads the open connections through idx_ws_active
// and the ended ones through idx_ws_disconnected.
func (s *Store) WebSockets(ctx context.Context, now, since, longBefore time.Time) (rep WebSocketReport, err error) {
	// Every connection open at some time in [since, now]: still open, or ended after since.
	rows, err := s.read.QueryContext(ctx, `SELECT w.connected_at, w.disconnected_at, COALESCE(w.duration_seconds, 0),
  COALESCE(r.route_key, ''), COALESCE(w.node_id, ''), COALESCE(w.request_id, ''), w.client_ip, COALESCE(w.host, ''),
  COALESCE(w.path, ''), COALESCE(w.bytes_sent, 0), COALESCE(w.bytes_received, 0)
FROM websocket_connections w LEFT JOIN routes r ON r.route_id = w.route_id
WHERE w.disconnected_at IS NULL OR w.disconnected_at >= ?`, since.Unix())
	if err != nil {
		return rep, fmt.Errorf("websockets: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	type edge struct {
		at    int64
		delta int64
	}
	var (
		edges    []edge
		duration int64
	)
	rep.LongLived = []WebSocketConn{}
	for rows.Next() {
		var (
			c            WebSocketConn
			from         int64
			to           sql.NullInt64
			durationSecs int64
		)
		if err := rows.Scan(&from, &to, &durationSecs, &c.Route, &c.NodeID, &c.RequestID, &c.ClientIP, &c.Host,
			&c.Path, &c.BytesSent, &c.BytesReceived); err != nil {
			return rep, fmt.Errorf("websockets: scan: %w", err)
		}
		edges = append(edges, edge{max(from, since.Unix()), 1})
		if to.Valid {
			edges = append(edges, edge{to.Int64, -1})
			rep.Closed++
			duration += durationSecs
			continue
		}
		rep.Active++
		if from < longBefore.Unix() {
			c.ConnectedAt = time.Unix(from, 0).UTC()
			c.DurationS = now.Unix() - from
			rep.LongLived = append(rep.LongLived, c)
		}
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("websockets: %w", err)
	}
	if rep.Closed > 0 {
		rep.AvgDurationS = float64(duration) / float64(rep.Closed)
	}
	// Sweep the opens and closes in time order; at equal times closes come first, so a connection
	// that ended when another began is not counted with it.
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta
	})
	var open int64
	for _, e := range edges {
		open += e.delta
		if open > rep.Peak {
			rep.Peak = open
			at := time.Unix(e.at, 0).UTC()
			rep.PeakAt = &at
		}
	}
	sort.Slice(rep.LongLived, func(i, j int) bool { return rep.LongLived[i].ConnectedAt.Before(rep.LongLived[j].ConnectedAt) })
	if len(rep.LongLived) > maxLongLived {
		rep.LongLived = rep.LongLived[:maxLongLived]
	}
	return rep, nil
}

// ActiveBan is a ban in force, as the security view lists it.
type ActiveBan struct {
	ClientIP    string    `json:"client_ip"` // the real address; the API masks it
	Route       string    `json:"route"`     // empty: every route
	BannedAt    time.Time `json:"banned_at"`
	BannedUntil time.Time `json:"banned_until"`
	Reason      string    `json:"reason"`
	NodeID      string    `json:"node_id"`
}

// Attacker is a client address with the security events it caused.
type Attacker struct {
	ClientIP string `json:"client_ip"` // the real address; the API masks it
	Events   int64  `json:"events"`
}

// SecurityReport is the security view of a period.
type SecurityReport struct {
	ActiveBans []ActiveBan `json:"active_bans"`
	// Violations counts rate-limit violations, WAFBlocks WAF matches (blocked or logged) by action.
	Violations int64   `json:"violations"`
	WAFBlocks  []Count `json:"waf_blocks"`
	WAFRules   []Count `json:"waf_rules"` // the most frequent rules, at most 10
	// Events counts security events by kind (throttled, banned, waf, geo_blocked, ...).
	Events []Count `json:"events"`
	// TopAttackers are the addresses with the most security events, most first, at most
	// maxAttackers; an address's events are those of every kind.
	TopAttackers []Attacker `json:"top_attackers"`
}

// maxAttackers bounds the attackers the store returns; the API merges them after masking.
const maxAttackers = 100

// Security reports the bans in force at now and what the security policies did since since.
// Every count reads an index on its table's timestamp.
func (s *Store) Security(ctx context.Context, now, since time.Time) (rep SecurityReport, err error) {
	rep.ActiveBans, err = s.activeBans(ctx, now)
	if err != nil {
		return rep, err
	}
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM rate_limit_violations WHERE timestamp >= ?`,
		since.Unix()).Scan(&rep.Violations); err != nil {
		return rep, fmt.Errorf("security: violations: %w", err)
	}
	if rep.WAFBlocks, err = s.counts(ctx, "security: waf blocks", `SELECT COALESCE(action, ''), COUNT(*) FROM waf_blocks
WHERE timestamp >= ? GROUP BY 1 ORDER BY 2 DESC, 1`, since.Unix()); err != nil {
		return rep, err
	}
	if rep.WAFRules, err = s.counts(ctx, "security: waf rules", `SELECT rule_triggered, COUNT(*) FROM waf_blocks
WHERE timestamp >= ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10`, since.Unix()); err != nil {
		return rep, err
	}
	if rep.Events, err = s.counts(ctx, "security: events", `SELECT kind, COUNT(*) FROM security_events
INDEXED BY idx_security_events_timestamp WHERE timestamp >= ? GROUP BY 1 ORDER BY 2 DESC, 1`, since.Unix()); err != nil {
		return rep, err
	}
	top, err := s.counts(ctx, "security: attackers", `SELECT client_ip, COUNT(*) FROM security_events
INDEXED BY idx_security_events_timestamp WHERE timestamp >= ? AND client_ip IS NOT NULL AND client_ip <> ''
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?`, since.Unix(), maxAttackers)
	if err != nil {
		return rep, err
	}
	rep.TopAttackers = make([]Attacker, 0, len(top))
	for _, c := range top {
		rep.TopAttackers = append(rep.TopAttackers, Attacker{ClientIP: c.Key, Events: c.Count})
	}
	return rep, nil
}

func (s *Store) activeBans(ctx context.Context, now time.Time) (bans []ActiveBan, err error) {
	rows, err := s.read.QueryContext(ctx, `SELECT b.ip_address, COALESCE(r.route_key, ''), b.window_start, b.banned_until,
  COALESCE(b.reason, ''), COALESCE(b.node_id, '')
FROM rate_limits b LEFT JOIN routes r ON r.route_id = b.route_id
WHERE b.banned_until > ? ORDER BY b.banned_until DESC, b.ip_address`, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("security: active bans: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()
	bans = []ActiveBan{}
	for rows.Next() {
		var (
			b          ActiveBan
			from, till int64
		)
		if err := rows.Scan(&b.ClientIP, &b.Route, &from, &till, &b.Reason, &b.NodeID); err != nil {
			return nil, fmt.Errorf("security: active bans: scan: %w", err)
		}
		b.BannedAt, b.BannedUntil = time.Unix(from, 0).UTC(), time.Unix(till, 0).UTC()
		bans = append(bans, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("security: active bans: %w", err)
	}
	return bans, nil
}
