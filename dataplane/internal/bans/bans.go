// Package bans is the data plane's ban set: the clients the edge refuses with a 403 before
// anything else of a route runs.
//
// Bans come from two places. The control plane pushes the list of every ban in force (SetBans),
// which replaces the previous list at once: an immutable map behind an atomic pointer, so that
// the request path reads it without a lock. And this data plane decides bans itself (a rate
// limit's ban_after, failed logins): Add applies such a ban at once, and the edge reports it to
// the control plane, which stores it and pushes it back in the list to every data plane.
//
// A local ban is kept beside the pushed list until a pushed list carries it, or until a list
// arrives that was pushed at least LocalGrace after the ban was decided and does not carry it:
// the control plane had time to learn of it and dropped it (an administrator lifted it). A list
// sent just before the control plane learned of the ban does not erase it, and while the control
// plane is unreachable (no list arrives) local bans hold until they expire.
//
// Bans are per client Key (ratelimit.KeyOf): a ban on an IPv6 address covers its /64, as rate
// limits count it. A ban with an empty route id covers every route. Every ban expires at its
// expires_at, checked on each request, without waiting for the next list.
package bans

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/ratelimit"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

const (
	// LocalGrace is how long a local ban survives pushed lists that do not carry it yet.
	LocalGrace = 10 * time.Second
	// DefaultMaxBans bounds the pushed list kept: about 200 bytes a ban with its route id and
	// reason, 13 MB at most.
	DefaultMaxBans = 1 << 16
	// maxLocal bounds the local bans waiting for the control plane. They live for LocalGrace
	// once lists arrive, so this is thousands of bans per second.
	maxLocal      = 1 << 14
	localShards   = 16
	maxLocalShard = maxLocal / localShards
)

// Ban is one ban in force.
type Ban struct {
	// RouteID is the route it covers; empty for every route.
	RouteID string
	// Until is when it ends; zero for never.
	Until  time.Time
	Reason string
}

func (b Ban) active(now time.Time) bool { return b.Until.IsZero() || now.Before(b.Until) }

type key struct {
	client ratelimit.Key
	route  string
}

type list struct {
	version uint64
	bans    map[key]Ban
}

type localBan struct {
	Ban
	decided time.Time
}

type localShard struct {
	mu   sync.RWMutex
	bans map[key]localBan
}

// Set is the ban set. It is safe for concurrent use; Banned takes no lock while there are no
// local bans.
type Set struct {
	now     func() time.Time
	log     *zap.Logger
	maxBans int

	pushed     atomic.Pointer[list]
	localCount atomic.Int64
	local      [localShards]localShard
}

// Options configure a Set; the zero value is fine.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log reports lists with invalid or too many entries; nil means none.
	Log *zap.Logger
	// MaxBans bounds the pushed list; 0 means DefaultMaxBans.
	MaxBans int
}

// New returns an empty Set.
func New(opts Options) *Set {
	s := &Set{now: opts.Now, log: opts.Log, maxBans: opts.MaxBans}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.maxBans <= 0 {
		s.maxBans = DefaultMaxBans
	}
	for i := range s.local {
		s.local[i].bans = map[key]localBan{}
	}
	return s
}

// Banned returns the ban in force on ip for routeID (a ban of that route or of every route).
// The caller checks the whitelist first: a whitelisted client is never refused for a ban.
func (s *Set) Banned(ip netip.Addr, routeID string) (Ban, bool) {
	l := s.pushed.Load()
	hasLocal := s.localCount.Load() > 0
	if (l == nil || len(l.bans) == 0) && !hasLocal {
		return Ban{}, false
	}
	if !ip.IsValid() {
		return Ban{}, false
	}
	k := key{client: ratelimit.KeyOf(ip), route: routeID}
	if l != nil {
		if b, ok := l.find(k, s.now); ok {
			return b, true
		}
	}
	if hasLocal {
		return s.findLocal(k)
	}
	return Ban{}, false
}

func (s *Set) findLocal(k key) (Ban, bool) {
	sh := &s.local[shardOf(k.client)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for _, route := range [2]string{k.route, ""} {
		k.route = route
		if b, ok := sh.bans[k]; ok && b.active(s.now()) {
			return b.Ban, true
		}
	}
	return Ban{}, false
}

func (l *list) find(k key, now func() time.Time) (Ban, bool) {
	if len(l.bans) == 0 {
		return Ban{}, false
	}
	if b, ok := l.bans[k]; ok && b.active(now()) {
		return b, true
	}
	k.route = ""
	if b, ok := l.bans[k]; ok && b.active(now()) {
		return b, true
	}
	return Ban{}, false
}

// Add applies a ban this data plane decided, at once. It reports false when the ban cannot be
// kept locally (an invalid address, or too many local bans waiting for the control plane); the
// ban still holds once the control plane pushes it back.
func (s *Set) Add(ip netip.Addr, routeID string, until time.Time, reason string) bool {
	if !ip.IsValid() {
		return false
	}
	now := s.now()
	k := key{client: ratelimit.KeyOf(ip), route: routeID}
	sh := &s.local[shardOf(k.client)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.bans[k]; !ok && len(sh.bans) >= maxLocalShard {
		for bk, b := range sh.bans {
			if !b.active(now) {
				delete(sh.bans, bk)
				s.localCount.Add(-1)
			}
		}
		if len(sh.bans) >= maxLocalShard {
			return false
		}
	}
	if _, ok := sh.bans[k]; !ok {
		s.localCount.Add(1)
	}
	sh.bans[k] = localBan{Ban: Ban{RouteID: routeID, Until: until, Reason: reason}, decided: now}
	return true
}

// SetBans replaces the pushed list with bl, the control plane's list of every ban in force, and
// forgets the local bans it carries or that it dropped (see the package doc). Entries with an
// address that does not parse, or already expired, are skipped; a list longer than MaxBans is
// cut, keeping the bans that end last.
func (s *Set) SetBans(bl *proxyv1.BanList) {
	now := s.now()
	l := &list{version: bl.GetVersion(), bans: make(map[key]Ban, min(len(bl.GetBans()), s.maxBans))}
	invalid, cut := 0, 0
	for _, b := range bl.GetBans() {
		ip := ratelimit.ParseClient(b.GetClientIp())
		if !ip.IsValid() {
			invalid++
			continue
		}
		ban := Ban{RouteID: b.GetRouteId(), Reason: b.GetReason()}
		if b.GetExpiresAt() != nil {
			ban.Until = b.GetExpiresAt().AsTime()
		}
		if !ban.active(now) {
			continue
		}
		k := key{client: ratelimit.KeyOf(ip), route: ban.RouteID}
		if old, ok := l.bans[k]; ok && (old.Until.IsZero() || (!ban.Until.IsZero() && old.Until.After(ban.Until))) {
			continue // the longer of two bans of the same client and route
		}
		if _, ok := l.bans[k]; !ok && len(l.bans) >= s.maxBans {
			if !s.replaceShortest(l, k, ban) {
				cut++
			}
			continue
		}
		l.bans[k] = ban
	}
	if invalid > 0 || cut > 0 {
		s.log.Warn("ban list entries skipped", zap.Uint64("version", l.version),
			zap.Int("invalid_address", invalid), zap.Int("over_limit", cut), zap.Int("max_bans", s.maxBans))
	}
	s.pushed.Store(l)
	s.pruneLocal(l, now)
}

// replaceShortest puts ban in place of the list's ban that ends first, if ban ends later. Lists
// over the limit are an anomaly (the control plane bounds its own), so a scan is fine.
func (s *Set) replaceShortest(l *list, k key, ban Ban) bool {
	var shortest key
	var until time.Time
	found := false
	for bk, b := range l.bans {
		if !b.Until.IsZero() && (!found || b.Until.Before(until)) {
			shortest, until, found = bk, b.Until, true
		}
	}
	if !found || (!ban.Until.IsZero() && !ban.Until.After(until)) {
		return false
	}
	delete(l.bans, shortest)
	l.bans[k] = ban
	return true
}

func (s *Set) pruneLocal(l *list, now time.Time) {
	for i := range s.local {
		sh := &s.local[i]
		sh.mu.Lock()
		for k, b := range sh.bans {
			_, carried := l.bans[k]
			if carried || !b.active(now) || now.Sub(b.decided) >= LocalGrace {
				delete(sh.bans, k)
				s.localCount.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

// Version is the version of the last pushed list, 0 before the first.
func (s *Set) Version() uint64 {
	if l := s.pushed.Load(); l != nil {
		return l.version
	}
	return 0
}

// Len counts the bans held: pushed and local, expired ones included until they are dropped.
func (s *Set) Len() int {
	n := int(s.localCount.Load())
	if l := s.pushed.Load(); l != nil {
		n += len(l.bans)
	}
	return n
}

func shardOf(k ratelimit.Key) int { return int(k.Hash() % localShards) }
