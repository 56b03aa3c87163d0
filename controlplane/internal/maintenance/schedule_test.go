package maintenance

import (
	"context"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestScheduleStartsAndEndsWindows(t *testing.T) {
	e := newEnv(t)
	m := e.start(t, Options{})
	ctx := context.Background()
	e.waitList(t, "the first, empty list", func(l *proxyv1.MaintenanceList) bool { return len(l.GetRoutes()) == 0 })

	w, err := m.Add(ctx, Request{Route: panel, ScheduledStart: t0.Add(time.Hour).Format(time.RFC3339),
		ScheduledEnd: t0.Add(2 * time.Hour).Format(time.RFC3339), HTML: "<h1>Upgrade</h1>", Allow: []string{"192.0.2.1"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if w.Active || !w.Start.Equal(t0.Add(time.Hour)) || !slices.Equal(w.Allow, []string{"192.0.2.1/32"}) {
		t.Fatalf("window %+v: want scheduled at t0+1h, allow 192.0.2.1/32", w)
	}
	// Before its start: not in the list.
	e.clock.set(t0.Add(59 * time.Minute))
	if l, _ := e.fl.Maintenance(); len(l.GetRoutes()) != 0 {
		t.Fatalf("before the start: %v", l)
	}
	// At its start: pushed, with its end for Retry-After.
	e.clock.set(t0.Add(time.Hour))
	l := e.waitList(t, "the panel", func(l *proxyv1.MaintenanceList) bool { return routesOf(l)[panel] == ReasonSchedule })
	got := l.GetRoutes()[0]
	if got.GetHtml() != "<h1>Upgrade</h1>" || !got.GetEndsAt().AsTime().Equal(t0.Add(2*time.Hour)) || !slices.Equal(got.GetAllow(), []string{"192.0.2.1/32"}) {
		t.Fatalf("entry %v", got)
	}
	if ws := m.Windows(); len(ws) != 1 || !ws[0].Active {
		t.Fatalf("windows %+v: want the one active", ws)
	}
	// At its end: gone from the list and from the open windows.
	e.clock.set(t0.Add(2 * time.Hour))
	e.waitList(t, "no route", func(l *proxyv1.MaintenanceList) bool { return len(l.GetRoutes()) == 0 })
	if ws := m.Windows(); len(ws) != 0 {
		t.Fatalf("windows %+v after the end", ws)
	}
	open, err := e.st.OpenMaintenance(ctx)
	if err != nil || len(open) != 0 {
		t.Fatalf("open windows in the database %v %v", open, err)
	}
	want := []string{"maintenance_scheduled/admin/api", "maintenance_on/system/schedule", "maintenance_off/system/schedule"}
	if a := e.audits(t, panel); !slices.Equal(a, want) {
		t.Fatalf("audit %v, want %v", a, want)
	}
}

func TestRestartReloadsWindows(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m, err := New(ctx, zaptestLogger(t), e.st, e.fl, e.fl, Options{Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	// Three windows, before the control plane runs: one in force now, one ahead, one that ends
	// while the control plane is down.
	for _, r := range []Request{
		{Route: panel},
		{Route: vault, ScheduledStart: t0.Add(time.Hour).Format(time.RFC3339)},
		{Route: panel, ScheduledEnd: t0.Add(30 * time.Minute).Format(time.RFC3339), Reason: "short"},
	} {
		if _, err := m.Add(ctx, r, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// Restart 45 minutes later: the short window ended at 30, the panel stays, the vault is ahead.
	e.open(t)
	e.clock.set(t0.Add(45 * time.Minute))
	m = e.start(t, Options{})
	l := e.waitList(t, "the panel only", func(l *proxyv1.MaintenanceList) bool {
		r := routesOf(l)
		return len(r) == 1 && r[panel] == ReasonAdmin
	})
	if l.GetRoutes()[0].GetEndsAt() != nil {
		t.Fatalf("the open-ended window won: %v", l)
	}
	if ws := m.Windows(); len(ws) != 2 {
		t.Fatalf("windows %+v, want the panel's and the vault's", ws)
	}
	e.clock.set(t0.Add(time.Hour))
	e.waitList(t, "both", func(l *proxyv1.MaintenanceList) bool {
		return routesOf(l)[vault] == ReasonSchedule && routesOf(l)[panel] == ReasonAdmin
	})
}

func TestCircuitShowsTheMaintenancePage(t *testing.T) {
	e := newEnv(t)
	m := e.start(t, Options{})
	ctx := context.Background()
	batch := func(node, to string, seq uint64) *proxyv1.EventBatch {
		return &proxyv1.EventBatch{NodeId: node, BootId: "b", Sequence: seq,
			Circuits: []*proxyv1.CircuitEvent{{Backend: "http://127.0.0.1:19951", From: "closed", To: to}}}
	}
	m.ObserveBatch(batch("dp-1", "open", 1), true, 0, nil)
	e.waitList(t, "the panel's circuit", func(l *proxyv1.MaintenanceList) bool { return routesOf(l)[panel] == ReasonCircuit })
	if got := m.CircuitOpen(); !slices.Equal(got, []string{panel}) {
		t.Fatalf("circuit open %v", got)
	}
	// A window in force wins over the circuit; when it ends, the circuit page is back.
	if _, err := m.Add(ctx, Request{Route: panel, HTML: "<p>planned</p>"}, "test"); err != nil {
		t.Fatal(err)
	}
	e.waitList(t, "the admin window", func(l *proxyv1.MaintenanceList) bool { return routesOf(l)[panel] == ReasonAdmin })
	if _, err := m.End(ctx, panel, "test"); err != nil {
		t.Fatal(err)
	}
	e.waitList(t, "the circuit again", func(l *proxyv1.MaintenanceList) bool { return routesOf(l)[panel] == ReasonCircuit })
	// Two data planes: the page stays until both closed.
	m.ObserveBatch(batch("dp-2", "open", 1), true, 0, nil)
	m.ObserveBatch(batch("dp-1", "closed", 2), true, 0, nil)
	m.ObserveBatch(batch("dp-1", "closed", 3), false, 0, nil) // a re-sent batch changes nothing
	time.Sleep(50 * time.Millisecond)
	if l, _ := e.fl.Maintenance(); routesOf(l)[panel] != ReasonCircuit {
		t.Fatalf("one node still open, list %v", l)
	}
	m.ObserveBatch(batch("dp-2", "closed", 2), true, 0, nil)
	e.waitList(t, "no route", func(l *proxyv1.MaintenanceList) bool { return len(l.GetRoutes()) == 0 })
	// A backend no route has is ignored (and not remembered).
	m.ObserveBatch(&proxyv1.EventBatch{NodeId: "dp-1", Circuits: []*proxyv1.CircuitEvent{{Backend: "http://elsewhere", To: "open"}}}, true, 0, nil)
	if got := m.CircuitOpen(); len(got) != 0 {
		t.Fatalf("circuit open %v", got)
	}
}

func TestGlobalAllowChangeIsPickedUp(t *testing.T) {
	e := newEnv(t)
	var global atomic.Pointer[config.Global]
	global.Store(&config.Global{})
	m := e.start(t, Options{Global: global.Load})
	if _, err := m.Add(context.Background(), Request{Route: panel}, "test"); err != nil {
		t.Fatal(err)
	}
	e.waitList(t, "the panel", func(l *proxyv1.MaintenanceList) bool { return routesOf(l)[panel] == ReasonAdmin })
	global.Store(&config.Global{Maintenance: config.Maintenance{Allow: config.PrefixList{netip.MustParsePrefix("10.0.0.0/8")}}})
	e.clock.set(t0.Add(recheck))
	e.waitList(t, "the new global allow-list", func(l *proxyv1.MaintenanceList) bool {
		return len(l.GetRoutes()) == 1 && slices.Equal(l.GetRoutes()[0].GetAllow(), []string{"10.0.0.0/8"})
	})
}
