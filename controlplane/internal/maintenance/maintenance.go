// Package maintenance runs the maintenance windows of routes: the admin API turns them on and
// off (api.go), the schedule starts and ends them at their times, an open circuit breaker shows
// the page too (circuit.go), and every change is pushed to the data planes as a MaintenanceList.
//
// Windows live in maintenance_pages. One is scheduled while its start is ahead, in force from
// its start until its end (or until a DELETE), over afterwards. The schedule arms one timer for
// the next start or end and re-arms it on every change; on startup the open windows are read
// back from the database, so a restart keeps them, and a boundary passed while the control plane
// was down is applied at once. Every start and end, by the API or the schedule, is written to
// the audit log in the transaction that records it.
//
// Precedence on one route: a window in force wins over an open circuit (its page, its end for
// Retry-After, its allow-list); an open circuit shows the default page only while no window is in
// force, and takes over when the window ends with the circuit still open. Of two windows in force
// on one route, the one that started last wins. The global allow-list (global.yaml's
// maintenance.allow) is added to every entry, circuit ones included.
package maintenance

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Reasons of a MaintenanceList entry (proto Maintenance.reason).
const (
	ReasonAdmin    = "admin"        // turned on by POST /api/maintenance without a schedule
	ReasonSchedule = "schedule"     // started by its scheduled_start
	ReasonCircuit  = "circuit_open" // the route's backend has an open circuit breaker
)

// Store keeps the windows; *store.Store is one.
type Store interface {
	AddMaintenance(ctx context.Context, w store.MaintenanceWindow, a store.AuditEntry) (int64, error)
	OpenMaintenance(ctx context.Context) ([]store.MaintenanceWindow, error)
	StartMaintenance(ctx context.Context, id int64, a store.AuditEntry) (bool, error)
	EndMaintenance(ctx context.Context, id int64, at time.Time, by string, a store.AuditEntry) (bool, error)
}

// Publisher hands the list to every data plane; *fleet.Fleet is one.
type Publisher interface {
	PublishMaintenance(l *proxyv1.MaintenanceList)
}

// Snapshots gives the snapshot in force, to map a circuit's backend to its routes; *fleet.Fleet
// is one.
type Snapshots interface {
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// Clock is the schedule's time; tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Options tune a Manager; the zero value is the real clock and no global allow-list.
type Options struct {
	Clock Clock
	// Global returns the global configuration in force, for maintenance.allow; nil: none.
	Global func() *config.Global
}

// retryAfterError is how soon a failed database write is tried again.
const retryAfterError = 10 * time.Second

// recheck is the longest Run waits between two builds of the list: the global allow-list is
// stored by the reloader just after it publishes the snapshot that wakes Run, so a change of it
// alone is picked up by the next build at the latest.
const recheck = 15 * time.Second

// Manager is safe for concurrent use.
type Manager struct {
	log    *zap.Logger
	store  Store
	pub    Publisher
	snaps  Snapshots
	clock  Clock
	global func() *config.Global
	wake   chan struct{} // a change to apply and publish; buffered 1

	opMu    sync.Mutex // serialises database changes and publishing
	windows []store.MaintenanceWindow
	last    *proxyv1.MaintenanceList
	version uint64

	circuits circuits
}

// New reads the open windows back from the database. Nothing is published before Run.
func New(ctx context.Context, log *zap.Logger, st Store, pub Publisher, snaps Snapshots, opts Options) (*Manager, error) {
	m := &Manager{log: log, store: st, pub: pub, snaps: snaps, clock: opts.Clock, global: opts.Global,
		wake: make(chan struct{}, 1), circuits: circuits{open: map[string]map[string]struct{}{}}}
	if m.clock == nil {
		m.clock = realClock{}
	}
	ws, err := st.OpenMaintenance(ctx)
	if err != nil {
		return nil, fmt.Errorf("load maintenance windows: %w", err)
	}
	m.windows = ws
	log.Info("maintenance windows loaded", zap.Int("open", len(ws)))
	return m, nil
}

// Run applies the schedule and publishes the list until ctx ends: now, at every start and end,
// after every change through the API or of a circuit, and when the snapshot changes.
func (m *Manager) Run(ctx context.Context) error {
	for {
		next := m.apply(ctx)
		_, snapChanged := m.snaps.Current()
		wait := recheck
		if !next.IsZero() {
			wait = min(max(next.Sub(m.clock.Now()), 0), recheck)
		}
		timer := m.clock.After(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-m.wake:
		case <-timer:
		case <-snapChanged:
			m.circuits.prune(m.backends())
		}
	}
}

// poke makes Run apply and publish again; it never blocks.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// apply starts and ends the windows whose time has come, publishes the list if it changed, and
// returns when it must run next (zero: no boundary ahead).
func (m *Manager) apply(ctx context.Context) time.Time {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	now := m.clock.Now()
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	kept := m.windows[:0]
	for _, w := range m.windows {
		if !w.End.IsZero() && !now.Before(w.End) {
			if _, err := m.store.EndMaintenance(ctx, w.ID, w.End, "schedule", m.audit(w, "maintenance_off", "schedule", "system", "")); err != nil {
				m.log.Error("end maintenance window", zap.Int64("id", w.ID), zap.String("route", w.Route), zap.Error(err))
				soonest(now.Add(retryAfterError))
				kept = append(kept, w)
				continue
			}
			m.log.Info("maintenance window ended", zap.Int64("id", w.ID), zap.String("route", w.Route))
			continue
		}
		if !w.Active && !w.Start.After(now) {
			if _, err := m.store.StartMaintenance(ctx, w.ID, m.audit(w, "maintenance_on", "schedule", "system", "")); err != nil {
				m.log.Error("start maintenance window", zap.Int64("id", w.ID), zap.String("route", w.Route), zap.Error(err))
				soonest(now.Add(retryAfterError))
			} else {
				w.Active = true
				m.log.Info("maintenance window started", zap.Int64("id", w.ID), zap.String("route", w.Route))
			}
		}
		if !w.Active {
			soonest(w.Start)
		}
		if !w.End.IsZero() {
			soonest(w.End)
		}
		kept = append(kept, w)
	}
	m.windows = kept
	m.publishLocked()
	return next
}

// publishLocked builds the list and publishes it when it differs from the last one.
func (m *Manager) publishLocked() {
	l := m.buildLocked()
	if m.last != nil && proto.Equal(&proxyv1.MaintenanceList{Routes: m.last.GetRoutes()}, l) {
		return
	}
	m.version++
	l.Version = m.version
	m.last = l
	m.pub.PublishMaintenance(l)
	m.log.Info("maintenance list published", zap.Uint64("version", l.Version), zap.Int("routes", len(l.Routes)))
}

// buildLocked is the list of the windows in force and the open circuits, sorted by route.
func (m *Manager) buildLocked() *proxyv1.MaintenanceList {
	global := m.globalAllow()
	byRoute := map[string]*store.MaintenanceWindow{}
	for i := range m.windows {
		w := &m.windows[i]
		if !w.Active {
			continue
		}
		if prev := byRoute[w.Route]; prev == nil || w.Start.After(prev.Start) || (w.Start.Equal(prev.Start) && w.ID > prev.ID) {
			byRoute[w.Route] = w
		}
	}
	l := &proxyv1.MaintenanceList{}
	for route, w := range byRoute {
		e := &proxyv1.Maintenance{RouteId: route, Html: w.HTML, Allow: union(w.Allow, global), Reason: ReasonAdmin}
		if w.Start.After(w.CreatedAt) {
			e.Reason = ReasonSchedule
		}
		if !w.End.IsZero() {
			e.EndsAt = timestamppb.New(w.End)
		}
		l.Routes = append(l.Routes, e)
	}
	for _, route := range m.circuits.routes(m.snaps) {
		if byRoute[route] == nil {
			l.Routes = append(l.Routes, &proxyv1.Maintenance{RouteId: route, Allow: union(nil, global), Reason: ReasonCircuit})
		}
	}
	slices.SortFunc(l.Routes, func(a, b *proxyv1.Maintenance) int {
		switch {
		case a.RouteId < b.RouteId:
			return -1
		case a.RouteId > b.RouteId:
			return 1
		}
		return 0
	})
	return l
}

func (m *Manager) globalAllow() []string {
	if m.global == nil {
		return nil
	}
	g := m.global()
	if g == nil {
		return nil
	}
	out := make([]string, 0, len(g.Maintenance.Allow))
	for _, p := range g.Maintenance.Allow {
		out = append(out, p.String())
	}
	return out
}

// union is a then the entries of b not in a.
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// backends are the backend URLs of the snapshot in force.
func (m *Manager) backends() map[string]bool {
	snap, _ := m.snaps.Current()
	out := make(map[string]bool, len(snap.GetRoutes()))
	for _, r := range snap.GetRoutes() {
		out[r.GetBackendUrl()] = true
	}
	return out
}

// canonicalPrefix parses an allow entry: a CIDR or a single address.
func canonicalPrefix(s string) (string, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("allow %q is neither a CIDR nor an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}
