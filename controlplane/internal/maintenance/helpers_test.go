package maintenance

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)

// Routes of the tests: the panel and the vault share no backend.
const (
	panel = "site/panel.example.org/"
	vault = "site/vault.example.org/"
)

var testRoutes = []*proxyv1.Route{
	{Id: panel, Hosts: []string{"panel.example.org"}, BackendUrl: "http://127.0.0.1:19951"},
	{Id: vault, Hosts: []string{"vault.example.org"}, BackendUrl: "http://127.0.0.1:19952"},
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// set moves the clock to t and fires the timers due.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(t) {
			w.ch <- t
			continue
		}
		kept = append(kept, w)
	}
	c.waiters = kept
}

// env is a store with the test routes, a fleet with a snapshot of them, and a clock at t0.
type env struct {
	st    *store.Store
	fl    *fleet.Fleet
	clock *fakeClock
	path  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy.db")
	e := &env{path: path, clock: &fakeClock{now: t0}}
	e.open(t)
	if err := e.st.SyncRoutes(context.Background(), testRoutes, t0); err != nil {
		t.Fatal(err)
	}
	return e
}

// open (re)opens the database and gives a new fleet: a control plane (re)start.
func (e *env) open(t *testing.T) {
	t.Helper()
	st, err := store.Open(context.Background(), e.path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	e.st, e.fl = st, fleet.New(zaptest.NewLogger(t))
	e.fl.Publish(&proxyv1.Snapshot{Version: 1, Routes: testRoutes})
}

// start runs a manager until the test ends.
func (e *env) start(t *testing.T, opts Options) *Manager {
	t.Helper()
	opts.Clock = e.clock
	m, err := New(context.Background(), zaptest.NewLogger(t), e.st, e.fl, e.fl, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return m
}

// waitList waits until the fleet holds a maintenance list that ok accepts, and returns it.
func (e *env) waitList(t *testing.T, what string, ok func(l *proxyv1.MaintenanceList) bool) *proxyv1.MaintenanceList {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		l, changed := e.fl.Maintenance()
		if l != nil && ok(l) {
			return l
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no maintenance list with %s; last %v", what, l)
		}
	}
}

// routesOf are the route ids of a list, with their reasons.
func routesOf(l *proxyv1.MaintenanceList) map[string]string {
	out := map[string]string{}
	for _, e := range l.GetRoutes() {
		out[e.GetRouteId()] = e.GetReason()
	}
	return out
}

// audits returns the maintenance audit actions on route, oldest first.
func (e *env) audits(t *testing.T, route string) []string {
	t.Helper()
	entries, err := e.st.QueryAudit(context.Background(), store.AuditQuery{Limit: 100, Resource: route})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Action+"/"+entries[i].User+"/"+entries[i].Source)
	}
	return out
}

func zaptestLogger(t *testing.T) *zap.Logger { return zaptest.NewLogger(t) }
