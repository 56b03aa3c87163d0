// Package bans is the control plane's ban registry: the list of bans in force on every data plane.
//
// A ban is decided at the edge by one data plane and reported in an event batch. The store writes
// it into rate_limits in the batch's own transaction, so a ban is stored before it is published;
// the registry then re-reads the active bans from SQLite and publishes them as a new BanList,
// which the fleet pushes to every data plane. SQLite is the only truth: the registry's list is
// what it read last, so a restarted control plane sends the same bans again.
//
// Rules:
//   - bursts are coalesced: a flood of bans becomes one new list per Options.Coalesce, not one
//     per ban;
//   - a list is published only when it differs from the previous one, and its version is greater
//     than every version published before, across restarts too (seeded from the clock in
//     milliseconds), so a data plane can tell a newer list from an older one;
//   - a ban leaves the list at its expiry (a new list is published then) or when an admin lifts
//     it; a lift is stored with its audit entry before the new list is published, and is
//     published at once, without waiting for the coalescing delay.
package bans

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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
	// default 100 ms.
	Coalesce time.Duration
	// MaxBans bounds the list sent to the data planes (those ending last are kept); default
	// 100,000, about 7 MB on the wire.
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

	refreshMu sync.Mutex // one refresh at a time, so lists are published in the order they were read
	mu        sync.Mutex
	current   *proxyv1.BanList
	nextEnd   time.Time     // earliest expiry in current; zero when empty
	wake      chan struct{} // closed and replaced when nextEnd may have moved earlier
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
	r := &Registry{log: log, st: st, pub: pub, opts: opts, reported: make(chan struct{}, 1), wake: make(chan struct{})}
	if err := r.refresh(ctx); err != nil {
		return nil, fmt.Errorf("load bans: %w", err)
	}
	log.Info("bans loaded", zap.Int("active", len(r.List())))
	return r, nil
}

// List returns the bans in force, as last published. The caller must not modify them.
func (r *Registry) List() []*proxyv1.Ban {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current.GetBans()
}

// Reported tells the registry that a stored batch held a ban. It never blocks.
func (r *Registry) Reported() {
	select {
	case r.reported <- struct{}{}:
	default: // a refresh is already due; it will read this ban too
	}
}

// Lift ends the bans of ip now (on routeID only, unless it is empty), records who did it in the
// audit log, and publishes the list without them. It returns how many bans it ended.
func (r *Registry) Lift(ctx context.Context, ip, routeID, source, notes string) (int, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return 0, fmt.Errorf("lift ban of %q: %w", ip, ErrBadAddress)
	}
	lifted, err := r.st.LiftBans(ctx, addr.Unmap().String(), routeID, r.opts.Now(),
		store.AuditEntry{User: "admin", Source: source, Notes: notes})
	if err != nil {
		return 0, err
	}
	if len(lifted) == 0 {
		return 0, nil
	}
	r.log.Info("bans lifted", zap.String("client_ip", addr.String()), zap.String("route", routeID),
		zap.Int("lifted", len(lifted)), zap.String("source", source))
	if err := r.refresh(ctx); err != nil {
		// Stored: Run's next refresh (at the latest the next expiry or report) publishes it.
		r.log.Error("publish bans after a lift; retrying", zap.Error(err))
		r.Reported()
	}
	return len(lifted), nil
}

// Run publishes reported bans (coalesced) and expiries until ctx ends.
func (r *Registry) Run(ctx context.Context) error {
	var retry <-chan time.Time
	for {
		r.mu.Lock()
		nextEnd, wake := r.nextEnd, r.wake
		r.mu.Unlock()
		expiry := time.NewTimer(time.Hour)
		if nextEnd.IsZero() {
			expiry.Stop()
		} else {
			expiry.Reset(max(nextEnd.Sub(r.opts.Now()), 0))
		}
		woken, err := r.wait(ctx, wake, expiry.C, retry)
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

// wait blocks until something may change the list: a report (then it lets the rest of the burst
// arrive), an expiry or a retry; woken says only the earliest expiry moved. err is ctx's.
func (r *Registry) wait(ctx context.Context, wake <-chan struct{}, expiry, retry <-chan time.Time) (woken bool, err error) {
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-wake:
		return true, nil
	case <-expiry:
	case <-retry:
	case <-r.reported:
		t := time.NewTimer(r.opts.Coalesce)
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

// refresh reads the active bans and publishes them if they changed.
func (r *Registry) refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	now := r.opts.Now()
	bans, total, err := r.st.ActiveBans(ctx, now, r.opts.MaxBans)
	if err != nil {
		return err
	}
	if total > len(bans) {
		r.log.Warn("more active bans than a list may carry; those ending first are left out",
			zap.Int("active", total), zap.Int("sent", len(bans)))
	}
	var nextEnd time.Time
	for _, b := range bans {
		if end := b.GetExpiresAt().AsTime(); nextEnd.IsZero() || end.Before(nextEnd) {
			nextEnd = end
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.current
	if prev != nil && sameBans(prev.GetBans(), bans) {
		return nil
	}
	version := uint64(now.UnixMilli())
	if prev != nil && version <= prev.GetVersion() {
		version = prev.GetVersion() + 1
	}
	l := &proxyv1.BanList{Version: version, Bans: bans}
	r.current, r.nextEnd = l, nextEnd
	close(r.wake)
	r.wake = make(chan struct{})
	r.pub.PublishBans(l)
	r.log.Info("ban list published", zap.Uint64("ban_list_version", version), zap.Int("bans", len(bans)))
	return nil
}

// sameBans reports whether two lists, in the store's order, hold the same bans.
func sameBans(a, b []*proxyv1.Ban) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
