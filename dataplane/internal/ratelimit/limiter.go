// Package ratelimit counts a route's requests per client and for all clients, refuses those over
// its limits, and decides bans: after ban_after refused requests on a path that asks for it, or
// after ban_after failed logins.
//
// Counting is a sliding window of one minute (window.go): a request is let through when the
// requests let through in the last minute, estimated from two fixed one-minute windows, stay
// within the limit; refused requests are not counted, so a client that keeps trying gets through
// at the limit's rate. A request must fit every limit that applies to it (its path's limit, the
// route's per_ip, the route's global) and is counted in all of them or none. Clients are keyed by
// IPv4 address or IPv6 /64 (Key). Counts are per data plane: a limit of N per minute is N per
// replica. State lives in a Table of fixed size shared by every route, so memory stays bounded
// under a flood of addresses.
package ratelimit

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

const (
	// Window is the period of every rate limit: limits are requests per minute.
	Window = time.Minute
	// BanWindow is the sliding window over which violations count toward ban_after: a client
	// is banned when ban_after of its requests on the path were refused within ten minutes.
	BanWindow = 10 * time.Minute
	// DefaultLoginWindow is failed_logins.window when not set.
	DefaultLoginWindow = 15 * time.Minute
)

var defaultLoginStatuses = []int32{401, 403}

// Limiter enforces one route's rate_limit. It is built once per snapshot; its counters live in
// the shared Table. A Limiter is safe for concurrent use; a nil Limiter limits nothing.
type Limiter struct {
	table     *Table
	now       func() time.Time
	whitelist *Whitelist
	requests  bool // any limit on requests (global, per_ip, paths)

	global        int64 // 0: none
	globalCount   globalWindow
	globalNoticed atomic.Int64

	perIP  limit
	paths  []pathLimit // longest pattern first
	logins *logins
}

type limit struct {
	id   uint64
	max  int64 // 0: none
	rule string
}

type pattern struct {
	base   string // the path, without the final "*"
	prefix bool
}

type pathLimit struct {
	limit
	pattern
	banAfter    int64
	banDuration time.Duration
	alert       bool
}

// Options are what a Limiter needs besides its policy.
type Options struct {
	// RouteID keys the route's counters in the Table (with the limits' values, so that a
	// changed limit starts from zero and an unchanged one keeps counting across snapshots).
	RouteID string
	// Table holds the counters; required.
	Table *Table
	// Whitelist is the global whitelist (Edge.whitelist); the route's own is added to it.
	Whitelist []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New compiles a route's rate_limit (nil: no limits, only the global whitelist) and checks it.
func New(rl *proxyv1.RateLimit, opts Options) (*Limiter, error) {
	if opts.Table == nil {
		return nil, errors.New("rate_limit: no counter table")
	}
	l := &Limiter{table: opts.Table, now: opts.Now}
	if l.now == nil {
		l.now = time.Now
	}
	var err error
	if l.whitelist, err = NewWhitelist(opts.Whitelist, rl.GetWhitelist()); err != nil {
		return nil, err
	}
	if l.global = rl.GetGlobal(); l.global < 0 || l.global > globalMax {
		return nil, fmt.Errorf("global: %d is not between 0 and %d", l.global, globalMax)
	}
	if p := rl.GetPerIp(); p < 0 || p > globalMax {
		return nil, fmt.Errorf("per_ip: %d is not between 0 and %d", p, globalMax)
	}
	l.perIP = limit{id: limitID(opts.RouteID, "per_ip", rl.GetPerIp()), max: rl.GetPerIp(), rule: "per_ip"}
	for _, p := range rl.GetPaths() {
		pl, err := newPathLimit(opts.RouteID, p)
		if err != nil {
			return nil, fmt.Errorf("paths %q: %w", p.GetPath(), err)
		}
		l.paths = append(l.paths, pl)
	}
	// The most specific pattern wins: the longest, and an exact path before a prefix as long.
	slices.SortStableFunc(l.paths, func(a, b pathLimit) int {
		if len(a.base) != len(b.base) {
			return len(b.base) - len(a.base)
		}
		switch {
		case a.prefix == b.prefix:
			return 0
		case b.prefix:
			return -1
		default:
			return 1
		}
	})
	if fl := rl.GetFailedLogins(); len(fl.GetPaths()) > 0 {
		if l.logins, err = newLogins(opts.RouteID, fl); err != nil {
			return nil, fmt.Errorf("failed_logins: %w", err)
		}
	}
	l.requests = l.global > 0 || l.perIP.max > 0 || len(l.paths) > 0
	return l, nil
}

func newPathLimit(routeID string, p *proxyv1.RateLimitPath) (pathLimit, error) {
	pat, err := parsePattern(p.GetPath())
	if err != nil {
		return pathLimit{}, err
	}
	pl := pathLimit{pattern: pat, banAfter: p.GetBanAfter(), banDuration: p.GetBanDuration().AsDuration(), alert: p.GetAlertWebhook()}
	if p.GetPerIp() < 1 || p.GetPerIp() > globalMax {
		return pathLimit{}, fmt.Errorf("per_ip: %d is not between 1 and %d", p.GetPerIp(), globalMax)
	}
	if pl.banAfter < 0 {
		return pathLimit{}, fmt.Errorf("ban_after: %d is negative", pl.banAfter)
	}
	if pl.banAfter > 0 && pl.banDuration <= 0 {
		return pathLimit{}, errors.New("ban_after needs a positive ban_duration")
	}
	pl.limit = limit{id: limitID(routeID, "path", p.GetPerIp(), p.GetPath()), max: p.GetPerIp(), rule: p.GetPath()}
	return pl, nil
}

func parsePattern(p string) (pattern, error) {
	base, prefix := strings.CutSuffix(p, "*")
	if base == "" && prefix {
		base = "/" // "*": every path
	}
	if !strings.HasPrefix(base, "/") || strings.Contains(base, "*") {
		return pattern{}, fmt.Errorf("%q is not a path starting with / with an optional final *", p)
	}
	return pattern{base: base, prefix: prefix}, nil
}

func (p pattern) match(urlPath string) bool {
	if p.prefix {
		return strings.HasPrefix(urlPath, p.base)
	}
	return urlPath == p.base
}

// limitID names a limit's counters in the Table: the same route, rule and values give the same
// id in every snapshot.
func limitID(routeID, kind string, n int64, more ...any) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", routeID, kind, n)
	for _, m := range more {
		fmt.Fprintf(h, "\x00%v", m)
	}
	return h.Sum64()
}

// cleanPath is the path the backend will see, for matching: "//auth/x" and "/a/../auth/x" must
// not escape the limit of "/auth/*". Only such unusual paths are cleaned (cleaning allocates).
func cleanPath(p string) string {
	if strings.Contains(p, "//") || strings.Contains(p, "/.") {
		trailing := strings.HasSuffix(p, "/")
		p = path.Clean("/" + p)
		if trailing && p != "/" {
			p += "/"
		}
	}
	return p
}

// Whitelisted reports whether ip is on the route's or the global whitelist: never limited,
// never banned, and no ban blocks it.
func (l *Limiter) Whitelisted(ip netip.Addr) bool { return l != nil && l.whitelist.Contains(ip) }

// Ban is a ban a Limiter decided.
type Ban struct {
	Until    time.Time
	Duration time.Duration
	Count    int64  // violations or failed logins that led to it
	Rule     string // the path pattern, or "failed_logins"
	Reason   string
	// AlertWebhook: the policy asked for a webhook on the ban.
	AlertWebhook bool
}

// Decided reports whether b is a ban (the zero Ban is none).
func (b Ban) Decided() bool { return !b.Until.IsZero() }

// Decision is the verdict on one request.
type Decision struct {
	Allowed bool
	// Rule is the limit that refused the request: "global", "per_ip" or a path pattern.
	Rule  string
	Limit int64
	// Count is the requests let through in the sliding window when the request was refused.
	Count int64
	// RetryAfter is the seconds until the limit lets a request through again (at least 1).
	RetryAfter int64
	// Notify is set for the first refusal of a client (of any client, for "global") under a
	// limit in a fixed window: report it once, not for every request of a flood.
	Notify bool
	// Ban is set when this refusal was the violation that decided a ban.
	Ban Ban
}

var allowed = Decision{Allowed: true}

// Allow counts a request of ip for urlPath against the route's limits and says whether it may
// pass. Whitelisted clients always pass and are not counted.
func (l *Limiter) Allow(ip netip.Addr, urlPath string) Decision {
	if l == nil || !l.requests || l.whitelist.Contains(ip) {
		return allowed
	}
	t := l.now()
	now := t.UnixMilli()
	w := Window.Milliseconds()
	k, e := now/w, now%w
	key := KeyOf(ip)
	var pl *pathLimit
	if len(l.paths) > 0 {
		urlPath = cleanPath(urlPath)
		for i := range l.paths {
			if l.paths[i].match(urlPath) {
				pl = &l.paths[i]
				break
			}
		}
	}
	if pl != nil {
		if d := l.take(key, &pl.limit, pl, t, k, e); !d.Allowed {
			return d
		}
	}
	if l.perIP.max > 0 {
		if d := l.take(key, &l.perIP, nil, t, k, e); !d.Allowed {
			if pl != nil {
				l.refund(key, pl.id, k)
			}
			return d
		}
	}
	if l.global > 0 {
		before, ok := l.globalCount.take(k, e, w, l.global)
		if !ok {
			if pl != nil {
				l.refund(key, pl.id, k)
			}
			if l.perIP.max > 0 {
				l.refund(key, l.perIP.id, k)
			}
			d := Decision{Rule: "global", Limit: l.global, Count: estimate(before.prev, before.cur, e, w),
				RetryAfter: seconds(wait(before.prev, before.cur, e, w, l.global))}
			d.Notify = l.globalNoticed.Swap(k+1) != k+1
			return d
		}
	}
	return allowed
}

// take counts a request under one per-client limit, or refuses it and counts a violation toward
// the path's ban.
func (l *Limiter) take(key Key, lim *limit, pl *pathLimit, t time.Time, k, e int64) Decision {
	w := Window.Milliseconds()
	sh, en := l.table.acquire(slot{client: key, limit: lim.id})
	defer sh.mu.Unlock()
	en.hits.roll(k)
	if fits(en.hits.prev, en.hits.cur, e, w, lim.max) {
		en.hits.cur++
		return allowed
	}
	d := Decision{Rule: lim.rule, Limit: lim.max, Count: estimate(en.hits.prev, en.hits.cur, e, w),
		RetryAfter: seconds(wait(en.hits.prev, en.hits.cur, e, w, lim.max))}
	if en.noticed != k+1 {
		en.noticed, d.Notify = k+1, true
	}
	if pl == nil || pl.banAfter == 0 {
		return d
	}
	bw := BanWindow.Milliseconds()
	if n, ban := strike(&en.strikes, t.UnixMilli(), bw, pl.banAfter); ban {
		d.Ban = Ban{Until: t.Add(pl.banDuration), Duration: pl.banDuration, Count: n, Rule: pl.rule,
			Reason: fmt.Sprintf("rate limit on %s: %d violations in %v", pl.rule, n, BanWindow), AlertWebhook: pl.alert}
	}
	return d
}

// strike counts one violation (or failure) in c, a sliding window of w ms, and reports whether
// it reached banAfter; if it did, c starts again from zero (the ban is the consequence).
func strike(c *window, now, w, banAfter int64) (int64, bool) {
	k, e := now/w, now%w
	c.roll(k)
	c.cur++
	// the violations in the sliding window, rounded up: prev × (W − e) / W + cur
	n := (int64(c.prev)*(w-e)+w-1)/w + int64(c.cur)
	if int64(c.prev)*(w-e)+int64(c.cur)*w < banAfter*w {
		return n, false
	}
	*c = window{start: k}
	return n, true
}

// refund takes back a request counted by take when a later limit refused it.
func (l *Limiter) refund(key Key, id uint64, k int64) {
	sh, en := l.table.lookup(slot{client: key, limit: id})
	if en != nil && en.hits.start == k && en.hits.cur > 0 {
		en.hits.cur--
	}
	sh.mu.Unlock()
}

// seconds rounds a wait in ms up to whole seconds, at least 1 (Retry-After's unit).
func seconds(ms int64) int64 { return max(1, (ms+999)/1000) }
