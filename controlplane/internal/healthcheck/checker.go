// Package healthcheck runs the control plane's active health checks: for every route of the
// snapshot in force whose health_check is enabled, it requests backend_url + path every interval
// and decides the route's state from the share of successful checks over the sliding minute that
// ends with each check (state.go).
//
// Every check is stored (health_checks) with the state it leaves its route in (health_state).
// Every change of state is pushed to the data planes as a new HealthList (Publisher; the fleet
// sends it on the snapshot stream, and the latest one again on every reconnect), and handed to
// subscribers (Subscribe) for alerting. A reload that adds or removes checked routes publishes a
// new list too; a route whose backend or check changed starts over as unknown.
//
// Bounds: at most Options.MaxConcurrent checks are in flight at once (a slow backend holds its
// slot for at most its timeout); a route keeps at most one minute of checks (interval at least
// 1 s) and its last Options.MaxTransitions transitions.
package healthcheck

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/notify"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Store keeps every check and the current states; *store.Store is one.
type Store interface {
	SaveHealthCheck(ctx context.Context, c store.HealthCheck, st store.HealthState) error
	KeepHealthStates(ctx context.Context, routeIDs []string) error
}

// Publisher hands a health list to every data plane; *fleet.Fleet is one.
type Publisher interface {
	PublishHealth(*proxyv1.HealthList)
}

// Snapshots is where the snapshot in force comes from; *fleet.Fleet is one.
type Snapshots interface {
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// Configs gives the configuration in force, for health_check.method; *reloader.Reloader is one.
type Configs interface {
	Config() *config.Config
}

// Change is a route entering a new state, as alerting sees it. Every route starts as Unknown
// (at start, and when a reload adds it or changes its check), so its first check always makes a
// Change from Unknown; alerting that wants only real transitions skips those.
type Change struct {
	RouteID      string
	Site         string
	BackendURL   string
	From, To     State
	At           time.Time
	SuccessRatio float64 // over the minute ending At
	LastError    string  // of the check that made the change, empty if it succeeded
}

// Transition is one past change of a route's state.
type Transition struct {
	From         State     `json:"from"`
	To           State     `json:"to"`
	At           time.Time `json:"at"`
	SuccessRatio float64   `json:"success_ratio"`
}

// Status is what the checker knows of one checked route.
type Status struct {
	RouteID    string
	Site       string
	BackendURL string
	URL        string // what is requested
	Method     string
	State      State
	// SuccessRatio, Checks and AvgResponseTime are over the minute ending at LastCheck.
	SuccessRatio    float64
	Checks          int
	AvgResponseTime time.Duration
	Since           time.Time // when State began (when checking began, for unknown)
	LastCheck       time.Time // zero before the first check
	LastError       string    // of the latest check, empty if it succeeded
	Transitions     []Transition
}

// Options tune a Checker. Zero values take the defaults.
type Options struct {
	// Now is the clock that stamps checks and decides what is in the sliding minute; default
	// time.Now.
	Now func() time.Time
	// MaxConcurrent bounds the checks in flight at once; default 16.
	MaxConcurrent int
	// MaxTransitions is how many past transitions a route keeps; default 20.
	MaxTransitions int
	// Client sends the checks; default: no proxy, no redirects followed.
	Client *http.Client
}

// Checker is safe for concurrent use.
type Checker struct {
	log    *zap.Logger
	st     Store
	pub    Publisher
	opts   Options
	client *http.Client
	slots  chan struct{} // a check in flight holds one
	hub    *notify.Hub[Change]

	mu      sync.Mutex
	targets map[string]*target // by route id
	version uint64             // of the last list built
	listed  bool               // a list was built at least once

	pubMu     sync.Mutex
	published uint64 // version of the last list published
}

// target is one checked route.
type target struct {
	id, site string
	spec     spec
	win      window

	state       State
	ratio       float64
	avg         time.Duration
	checks      int
	since       time.Time
	lastCheck   time.Time
	lastErr     string
	transitions []Transition // oldest first
}

// New returns a checker with no routes; SetRoutes or Run gives it some.
func New(log *zap.Logger, st Store, pub Publisher, opts Options) *Checker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.MaxTransitions <= 0 {
		opts.MaxTransitions = 20
	}
	client := opts.Client
	if client == nil {
		client = newClient()
	}
	return &Checker{log: log, st: st, pub: pub, opts: opts, client: client,
		slots: make(chan struct{}, opts.MaxConcurrent), hub: notify.NewHub[Change](0), targets: map[string]*target{}}
}

// Subscribe returns a channel receiving every change of state from now on, closed when ctx
// ends. Changes a subscriber does not read in time are lost and logged (package notify).
func (c *Checker) Subscribe(ctx context.Context) <-chan Change { return c.hub.Subscribe(ctx) }

// SetRoutes makes the checked routes those of routes with an enabled health check; methods maps
// a route id to its method (Methods). A new route, or one whose backend or check changed, starts
// as unknown; the others keep their state and minute of checks. The state of routes no longer
// checked is deleted from the store. A new list is published when the set changed.
func (c *Checker) SetRoutes(ctx context.Context, routes []*proxyv1.Route, methods map[string]string) {
	now := c.opts.Now()
	c.mu.Lock()
	next := make(map[string]*target, len(c.targets))
	changed := !c.listed
	for _, r := range routes {
		s, ok := specOf(r, methods[r.GetId()])
		if !ok {
			continue
		}
		if t := c.targets[r.GetId()]; t != nil && t.spec == s {
			t.site = r.GetSite()
			next[t.id] = t
			continue
		}
		next[r.GetId()] = &target{id: r.GetId(), site: r.GetSite(), spec: s, state: Unknown, since: now}
		changed = true
	}
	changed = changed || len(next) != len(c.targets)
	c.targets = next
	var list *proxyv1.HealthList
	if changed {
		list = c.listLocked(now)
	}
	ids := make([]string, 0, len(next))
	for id := range next {
		ids = append(ids, id)
	}
	c.mu.Unlock()

	if err := c.st.KeepHealthStates(ctx, ids); err != nil {
		c.log.Error("delete the state of routes no longer checked", zap.Error(err))
	}
	c.publish(list)
}

// Check checks route id once now and records the result. It returns an error when the route
// is not checked or the result could not be stored (the state still changes: the data planes
// need it more than the database does).
func (c *Checker) Check(ctx context.Context, id string) error {
	c.mu.Lock()
	t := c.targets[id]
	c.mu.Unlock()
	if t == nil {
		return fmt.Errorf("check %s: route not checked", id)
	}
	return c.check(ctx, t)
}

func (c *Checker) check(ctx context.Context, t *target) error {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	at := c.opts.Now()
	res := c.probe(ctx, t.spec)
	<-c.slots
	if ctx.Err() != nil {
		return ctx.Err() // stopped or removed: not the backend's fault
	}

	c.mu.Lock()
	if c.targets[t.id] != t {
		c.mu.Unlock()
		return nil // the route was removed or changed while it was checked
	}
	ratio, avg, n := t.win.add(result{at: at, ok: res.err == "", elapsed: res.elapsed})
	t.ratio, t.avg, t.checks, t.lastCheck, t.lastErr = ratio, avg, n, at, res.err
	var change *Change
	var list *proxyv1.HealthList
	if s := stateOf(ratio); s != t.state {
		change = &Change{RouteID: t.id, Site: t.site, BackendURL: t.spec.backend, From: t.state, To: s, At: at, SuccessRatio: ratio, LastError: res.err}
		t.transitions = append(t.transitions, Transition{From: t.state, To: s, At: at, SuccessRatio: ratio})
		if len(t.transitions) > c.opts.MaxTransitions {
			t.transitions = slices.Delete(t.transitions, 0, len(t.transitions)-c.opts.MaxTransitions)
		}
		t.state, t.since = s, at
		list = c.listLocked(at)
	}
	state := store.HealthState{RouteID: t.id, BackendURL: t.spec.backend, State: string(t.state), SuccessRatio: ratio,
		Since: t.since, LastCheck: at, LastError: res.err}
	c.mu.Unlock()

	err := c.st.SaveHealthCheck(ctx, store.HealthCheck{RouteID: t.id, Time: at, Success: res.err == "",
		ResponseTime: res.elapsed, StatusCode: res.status, Error: res.err}, state)
	if change != nil {
		c.publish(list)
		c.log.Info("backend health changed", zap.String("route", t.id), zap.String("backend", t.spec.backend),
			zap.String("from", string(change.From)), zap.String("to", string(change.To)),
			zap.Float64("success_ratio", ratio), zap.String("last_error", res.err))
		if lost := c.hub.Publish(*change); lost > 0 {
			c.log.Warn("health change not delivered to a subscriber that does not keep up", zap.Int("subscribers", lost))
		}
	}
	return err
}

// listLocked builds the next list of every checked route.
func (c *Checker) listLocked(now time.Time) *proxyv1.HealthList {
	version := max(uint64(now.UnixMilli()), c.version+1) // grows across restarts too
	c.version, c.listed = version, true
	l := &proxyv1.HealthList{Version: version, Backends: make([]*proxyv1.BackendHealth, 0, len(c.targets))}
	for _, t := range c.targets {
		l.Backends = append(l.Backends, &proxyv1.BackendHealth{RouteId: t.id, BackendUrl: t.spec.backend, State: string(t.state),
			SuccessRatio: t.ratio, Since: timestamppb.New(t.since), LastError: t.lastErr})
	}
	slices.SortFunc(l.Backends, func(a, b *proxyv1.BackendHealth) int { return strings.Compare(a.GetRouteId(), b.GetRouteId()) })
	return l
}

// publish hands l to the data planes unless a newer list went out already (lists are built
// under mu but published after it, and two checks may finish at once).
func (c *Checker) publish(l *proxyv1.HealthList) {
	if l == nil {
		return
	}
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if l.GetVersion() <= c.published {
		return
	}
	c.published = l.GetVersion()
	c.pub.PublishHealth(l)
}

// Statuses describes every checked route, by route id.
func (c *Checker) Statuses() []Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Status, 0, len(c.targets))
	for _, t := range c.targets {
		tr := slices.Clone(t.transitions)
		slices.Reverse(tr)
		out = append(out, Status{RouteID: t.id, Site: t.site, BackendURL: t.spec.backend, URL: t.spec.url, Method: t.spec.method,
			State: t.state, SuccessRatio: t.ratio, Checks: t.checks, AvgResponseTime: t.avg, Since: t.since,
			LastCheck: t.lastCheck, LastError: t.lastErr, Transitions: tr})
	}
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.RouteID, b.RouteID) })
	return out
}

// Run checks the routes of the snapshot in force until ctx ends, following every new snapshot:
// each checked route has its own loop, one check every interval, the first right away.
func (c *Checker) Run(ctx context.Context, snaps Snapshots, cfgs Configs) error {
	running := map[*target]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	for {
		snap, changed := snaps.Current()
		var cfg *config.Config
		if cfgs != nil {
			cfg = cfgs.Config()
		}
		c.SetRoutes(ctx, snap.GetRoutes(), Methods(cfg))
		c.mu.Lock()
		live := make(map[*target]bool, len(c.targets))
		for _, t := range c.targets {
			live[t] = true
		}
		c.mu.Unlock()
		for t, cancel := range running {
			if !live[t] {
				cancel()
				delete(running, t)
			}
		}
		for t := range live {
			if running[t] == nil {
				tctx, cancel := context.WithCancel(ctx)
				running[t] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.loop(tctx, t)
				}()
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil
		}
	}
}

// loop checks t every interval until ctx ends.
func (c *Checker) loop(ctx context.Context, t *target) {
	tick := time.NewTicker(t.spec.interval)
	defer tick.Stop()
	for {
		if err := c.check(ctx, t); err != nil && ctx.Err() == nil {
			c.log.Error("record health check", zap.String("route", t.id), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
