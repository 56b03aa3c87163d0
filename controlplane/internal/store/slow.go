package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// SlowEndpoint is the slow requests of one endpoint: a route, a method and a path pattern.
type SlowEndpoint struct {
	RouteKey string
	Method   string
	Pattern  string // the path with ids replaced by ":id" (PathPattern)
	Count    int64
	Warning  int64 // over the route's warning threshold
	Critical int64 // over its critical threshold
	AvgMS    float64
	P95MS    float64
	P99MS    float64
	MaxMS    float64
}

// maxSlowRows bounds the rows one SlowRequests call reads: slow requests are few by definition,
// but a backend that is slow for everything must not make the call read a month of traffic.
const maxSlowRows = 100_000

// SlowRequests returns the endpoints of the requests the data planes flagged slow (over their
// route's slow_request thresholds) in [from, to), the most frequent first. It reads the slow rows of
// request_logs through their partial index, the newest maxSlowRows at most; truncated says whether
// older ones were left out.
func (s *Store) SlowRequests(ctx context.Context, from, to time.Time, routeID int64) (_ []SlowEndpoint, truncated bool, err error) {
	// INDEXED BY: the planner would otherwise pick idx_logs_route_timestamp for one route and
	// read every request of the route to find its few slow ones.
	index, where := "idx_logs_slow", ""
	args := []any{from.Unix(), to.Unix()}
	if routeID != 0 {
		index, where = "idx_logs_slow_route", " AND l.route_id = ?"
		args = append(args, routeID)
	}
	q := `SELECT l.route_id, l.method, l.path, l.response_time_ms, l.slow FROM request_logs l INDEXED BY ` + index + `
WHERE l.slow IS NOT NULL AND l.route_id IS NOT NULL AND l.timestamp >= ? AND l.timestamp < ?` + where
	q += " ORDER BY l.timestamp DESC LIMIT ?"
	args = append(args, maxSlowRows+1)
	ids, err := s.RouteIDs(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("slow requests: %w", err)
	}
	keys := make(map[int64]string, len(ids))
	for k, id := range ids {
		keys[id] = k
	}
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("slow requests: %w", err)
	}
	defer func() { err = errors.Join(err, closeRows(rows)) }()

	type key struct {
		route           int64
		method, pattern string
	}
	patterns := map[string]string{} // a path's pattern, computed once per call
	type acc struct {
		SlowEndpoint
		times []float64
	}
	byKey := map[key]*acc{}
	n := 0
	for rows.Next() {
		if n++; n > maxSlowRows {
			truncated = true
			break
		}
		var (
			route, ms           int64
			method, path, level string
		)
		if err := rows.Scan(&route, &method, &path, &ms, &level); err != nil {
			return nil, false, fmt.Errorf("slow requests: scan: %w", err)
		}
		pattern, ok := patterns[path]
		if !ok {
			pattern = PathPattern(path)
			if len(patterns) < maxSlowRows/10 {
				patterns[path] = pattern
			}
		}
		k := key{route, method, pattern}
		a := byKey[k]
		if a == nil {
			a = &acc{SlowEndpoint: SlowEndpoint{RouteKey: keys[route], Method: method, Pattern: pattern}}
			byKey[k] = a
		}
		a.Count++
		if level == "critical" {
			a.Critical++
		} else {
			a.Warning++
		}
		a.times = append(a.times, float64(ms))
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("slow requests: %w", err)
	}
	out := make([]SlowEndpoint, 0, len(byKey))
	for _, a := range byKey {
		slices.Sort(a.times)
		var sum float64
		for _, t := range a.times {
			sum += t
		}
		a.AvgMS = sum / float64(len(a.times))
		a.P95MS, a.P99MS, a.MaxMS = rank(a.times, 0.95), rank(a.times, 0.99), a.times[len(a.times)-1]
		out = append(out, a.SlowEndpoint)
	}
	slices.SortFunc(out, func(a, b SlowEndpoint) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.RouteKey+" "+a.Method+" "+a.Pattern, b.RouteKey+" "+b.Method+" "+b.Pattern)
	})
	return out, truncated, nil
}

// rank returns the q-th quantile of sorted values (nearest rank).
func rank(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// maxPatternSegments bounds a pattern's length; deeper paths end in "/…".
const maxPatternSegments = 8

// PathPattern turns a request path into its endpoint's pattern: the query is dropped and every
// segment that looks like an identifier (digits, a UUID, a long hex or random-looking token, an
// e-mail address) becomes ":id", so /api/servers/42/status and /api/servers/43/status are one
// endpoint, and personal ids in paths are not repeated in the answer.
func PathPattern(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if path == "" || path == "/" {
		return "/"
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(segs) > maxPatternSegments {
		segs = append(segs[:maxPatternSegments], "…")
	}
	for i, seg := range segs {
		if isIDSegment(seg) {
			segs[i] = ":id"
		}
	}
	return "/" + strings.Join(segs, "/")
}

func isIDSegment(seg string) bool {
	if seg == "" || seg == "…" {
		return false
	}
	if len(seg) > 32 || strings.ContainsAny(seg, "@%=") {
		return true
	}
	var digits, hex, other int
	for i := 0; i < len(seg); i++ {
		switch c := seg[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			hex++
		case c == '-' || c == '_' || c == '.':
		default:
			other++
		}
	}
	switch {
	case digits == len(seg): // 42
		return true
	case other == 0 && digits > 0 && len(seg) >= 8: // deadbeef01, a UUID
		return true
	case digits >= 4 && digits*2 >= len(seg)-strings.Count(seg, "-"): // 2024-11-03, v1234x5678
		return true
	}
	return false
}
