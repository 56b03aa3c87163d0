// Package bans is the control plane's ban registry: the list of bans in force on every data plane.
//
// A ban is decided at the edge by one data plane and reported in an event batch. The store writes
// it into rate_limits in the batch's own transaction, so a ban is stored before it is published;
// once the batch is committed, the registry reads the reported bans back from SQLite (what the
// store made of them: new, extended, or left lifted) and publishes the whole list as a new
// BanList, which the fleet pushes to every data plane. SQLite is the truth: the registry loads
// every active ban at start, so a restarted control plane sends the same bans again.
//
// Rules:
//   - bursts are coalesced: a flood of bans becomes one new list per Options.Coalesce (longer for
//     long lists), not one per ban;
//   - a list is published only when it changed, and its version is greater than every version
//     published before, across restarts too (seeded from the clock in milliseconds), so a data
//     plane can tell a newer list from an older one;
//   - a ban leaves the list at its expiry (a new list is published then) or when an admin lifts
//     it; a lift is stored with its audit entry before the new list is published, and is
//     published at once, without waiting for the coalescing delay;
//   - memory is bounded: the list holds at most Options.MaxBans bans, those ending last.
package bans

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Store is where bans are kept: the control plane's database.
type Store interface {
	ActiveBans(ctx context.Context, now time.Time, limit int) (bans []*proxyv1.Ban, total int, err error)
	ActiveBansOf(ctx context.Context, keys []store.BanKey, now time.Time) ([]*proxyv1.Ban, error)
	LiftBans(ctx context.Context, ip, routeKey string, now time.Time, audit store.AuditEntry) ([]*proxyv1.Ban, error)
}

// Publisher hands a ban list to every data plane; *fleet.Fleet is one.
type Publisher interface {
	PublishBans(*proxyv1.BanList)
}

// ErrBadAddress is returned by Lift for a client address that is not an IP address.
var ErrBadAddress = errors.New("not an IP address")

// Options tune a Registry. Zero values take the defaults.
type Options struct {
	// Coalesce is how long the registry waits after a reported ban for more before it publishes;
	// default 100 ms. It grows with the list (one Coalesce per 10,000 bans, at most 1 s), so a
	// flood does not send megabytes to every data plane ten times a second.
	Coalesce time.Duration
	// MaxBans bounds the list sent to the data planes (those ending last are kept) and the
	// registry's memory; default 100,000, about 7.5 MB on the wire.
	MaxBans int
	// RetryEvery is how soon a failed read of the database is tried again; default 1 s.
	RetryEvery time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Registry is safe for concurrent use. Run must be running for reported bans and expiries to be
// published.
type Registry struct {
	log  *zap.Logger
	st   Store
	pub  Publisher
	opts Options

	reported chan struct{} // a stored batch held a ban; buffered 1, so reports coalesce

	pendingMu sync.Mutex
	pending   map[store.BanKey]struct{} // reported, not yet read back; nil after an overflow
	overflow  bool                      // too many reported: read every active ban instead

	refreshMu sync.Mutex // one refresh at a time; guards active and full too
	active    map[store.BanKey]*proxyv1.Ban
	full      bool // active holds every ban in force (none was left out for MaxBans)

	mu      sync.Mutex
	current *proxyv1.BanList
	nextEnd time.Time     // earliest expiry in current; zero when empty
	wake    chan struct{} // closed and replaced when nextEnd may have moved earlier
}

// New loads the active bans and publishes them, so the first data plane to connect gets them.
func New(ctx context.Context, log *zap.Logger, st Store, pub Publisher, opts Options) (*Registry, error) {
	if opts.Coalesce <= 0 {
		opts.Coalesce = 100 * time.Millisecond
	}
	if opts.MaxBans <= 0 {
		opts.MaxBans = 100_000
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Registry{log: log, st: st, pub: pub, opts: opts, reported: make(chan struct{}, 1),
		pending: make(map[store.BanKey]struct{}), wake: make(chan struct{})}
	if err := r.reload(ctx); err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	log.Info("bans loaded", zap.Int("active", len(r.List())))
	return r, nil
}

// List returns the bans in force, as last published, those ending last first. The caller must
// not modify them.
func (r *Registry) List() []*proxyv1.Ban {
	r.mu.Lock()
	bans := slices.Clone(r.current.GetBans())
	r.mu.Unlock()
	slices.SortFunc(bans, laterFirst) // here, not per list: the data planes need no order
	return bans
}

// Reported tells the registry that a stored batch held bans of these addresses and routes. It
// never blocks.
func (r *Registry) Reported(keys ...store.BanKey) {
	r.requeue(keys, false) // bounded: past MaxBans keys, every active ban is read instead
	select {
	case r.reported <- struct{}{}:
	default: // a refresh is already due; it will read these too
	}
}

// Lift ends the bans of ip now (on routeID only, unless it is empty), records who did it in the
// audit log, and publishes the list without them. It returns how many bans it ended.
func (r *Registry) Lift(ctx context.Context, ip, routeID, source, notes string) (int, error) {
	addr, err := store.BanAddress(ip)
	if err != nil {
		return 0, fmt.Errorf("lift ban of %q: %w", ip, ErrBadAddress)
	}
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	now := r.opts.Now()
	lifted, err := r.st.LiftBans(ctx, addr, routeID, now, store.AuditEntry{User: "admin", Source: source, Notes: notes})
	if err != nil {
		return 0, err
	}
	if len(lifted) == 0 {
		return 0, nil
	}
	r.log.Info("bans lifted", zap.String("client_ip", addr), zap.String("route", routeID),
		zap.Int("lifted", len(lifted)), zap.String("source", source))
	if !r.full {
		// Bans left out for MaxBans may fit now: read them all. Stored already; if this read
		// fails, Run's next refresh publishes it.
		if err := r.reloadLocked(ctx); err != nil {
			r.log.Error("publish bans after a lift; retrying", zap.Error(err))
			r.Reported()
		}
		return len(lifted), nil
	}
	for _, b := range lifted {
		delete(r.active, store.BanKey{IP: b.GetClientIp(), Route: b.GetRouteId()})
	}
	r.publishLocked(now, true)
	return len(lifted), nil
}

// Run publishes reported bans (coalesced) and expiries until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	var retry <-chan time.Time
	for {
		r.mu.Lock()
		nextEnd, wake, size := r.nextEnd, r.wake, len(r.current.GetBans())
		r.mu.Unlock()
		expiry := time.NewTimer(time.Hour)
		if nextEnd.IsZero() {
			expiry.Stop()
		} else {
			expiry.Reset(max(nextEnd.Sub(r.opts.Now()), 0))
		}
		woken, err := r.wait(ctx, wake, expiry.C, retry, r.coalesce(size))
		expiry.Stop()
		if err != nil {
			return nil
		}
		if woken {
			continue
		}
		retry = nil
		if err := r.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Error("read active bans; retrying", zap.Error(err), zap.Duration("retry_in", r.opts.RetryEvery))
			retry = time.After(r.opts.RetryEvery)
		}
	}
}

// coalesce is how long to gather reports before publishing a list of size bans.
func (r *Registry) coalesce(size int) time.Duration {
	return min(r.opts.Coalesce*time.Duration(1+size/10_000), max(r.opts.Coalesce, time.Second))
}

// wait blocks until something may change the list: a report (then it lets the rest of the burst
// arrive for delay), an expiry or a retry; woken says only the earliest expiry moved. err is
// ctx's.
func (r *Registry) wait(ctx context.Context, wake <-chan struct{}, expiry, retry <-chan time.Time, delay time.Duration) (woken bool, err error) {
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-wake:
		return true, nil
	case <-expiry:
	case <-retry:
	case <-r.reported:
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		select { // the burst's later reports are read by this refresh too
		case <-r.reported:
		default:
		}
	}
	return false, nil
}

// reload reads every active ban and publishes them if they changed.
func (r *Registry) reload(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	return r.reloadLocked(ctx)
}

func (r *Registry) reloadLocked(ctx context.Context) error {
	now := r.opts.Now()
	bans, total, err := r.st.ActiveBans(ctx, now, r.opts.MaxBans)
	if err != nil {
		return err
	}
	r.full = total <= len(bans)
	if !r.full {
		r.log.Warn("more active bans than a list may carry; those ending first are left out",
			zap.Int("active", total), zap.Int("sent", len(bans)))
	}
	active := make(map[store.BanKey]*proxyv1.Ban, len(bans))
	changed := len(bans) != len(r.active)
	for _, b := range bans {
		k := store.BanKey{IP: b.GetClientIp(), Route: b.GetRouteId()}
		active[k] = b
		changed = changed || !proto.Equal(r.active[k], b)
	}
	r.active = active
	r.publishLocked(now, changed || r.current == nil)
	return nil
}

// refresh reads back the reported bans (every active ban after an overflow) and publishes the
// list if it changed, expired bans left out.
func (r *Registry) refresh(ctx context.Context) error {
	r.pendingMu.Lock()
	keys, overflow := r.pending, r.overflow
	r.pending, r.overflow = make(map[store.BanKey]struct{}), false
	r.pendingMu.Unlock()

	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if overflow || !r.full {
		if err := r.reloadLocked(ctx); err != nil {
			r.requeue(nil, true)
			return err
		}
		return nil
	}
	now := r.opts.Now()
	changed := false
	if len(keys) > 0 {
		list := make([]store.BanKey, 0, len(keys))
		for k := range keys {
			list = append(list, k)
		}
		bans, err := r.st.ActiveBansOf(ctx, list, now)
		if err != nil {
			r.requeue(list, false)
			return err
		}
		fresh := make(map[store.BanKey]*proxyv1.Ban, len(bans))
		for _, b := range bans {
			fresh[store.BanKey{IP: b.GetClientIp(), Route: b.GetRouteId()}] = b
		}
		for _, k := range list {
			old, had := r.active[k]
			b, has := fresh[k]
			switch {
			case has && !proto.Equal(old, b):
				r.active[k], changed = b, true
			case had && !has:
				delete(r.active, k)
				changed = true
			}
		}
		if len(r.active) > r.opts.MaxBans {
			return r.reloadLocked(ctx) // keeps those ending last
		}
	}
	r.publishLocked(now, changed)
	return nil
}

// requeue keeps keys (all: every active ban) to be read by the next refresh, which Run retries.
func (r *Registry) requeue(keys []store.BanKey, all bool) {
	r.pendingMu.Lock()
	defer r.pendingMu.Unlock()
	if r.overflow {
		return
	}
	for _, k := range keys {
		r.pending[k] = struct{}{}
	}
	if all || len(r.pending) > r.opts.MaxBans {
		r.pending, r.overflow = nil, true
	}
}

// publishLocked drops expired bans and publishes the list if that or the caller changed it.
func (r *Registry) publishLocked(now time.Time, changed bool) {
	bans := make([]*proxyv1.Ban, 0, len(r.active))
	var nextEnd int64 // ends are whole seconds (rate_limits.banned_until)
	for k, b := range r.active {
		end := b.GetExpiresAt().GetSeconds()
		if end <= now.Unix() {
			delete(r.active, k)
			changed = true
			continue
		}
		if nextEnd == 0 || end < nextEnd {
			nextEnd = end
		}
		bans = append(bans, b)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if !changed {
		return
	}
	prev := r.current
	version := uint64(now.UnixMilli())
	if prev != nil && version <= prev.GetVersion() {
		version = prev.GetVersion() + 1
	}
	l := &proxyv1.BanList{Version: version, Bans: bans}
	r.current, r.nextEnd = l, time.Time{}
	if nextEnd != 0 {
		r.nextEnd = time.Unix(nextEnd, 0)
	}
	close(r.wake)
	r.wake = make(chan struct{})
	r.pub.PublishBans(l)
	r.log.Info("ban list published", zap.Uint64("ban_list_version", version), zap.Int("bans", len(bans)))
}

// laterFirst orders bans by end, latest first, then by address and route. Ends are whole
// seconds (rate_limits.banned_until).
func laterFirst(a, b *proxyv1.Ban) int {
	if c := cmp.Compare(b.GetExpiresAt().GetSeconds(), a.GetExpiresAt().GetSeconds()); c != 0 {
		return c
	}
	if c := strings.Compare(a.GetClientIp(), b.GetClientIp()); c != 0 {
		return c
	}
	return strings.Compare(a.GetRouteId(), b.GetRouteId())
}
