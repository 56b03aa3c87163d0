package store

import (
	"context"
	"errors"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMaintenanceWindows(t *testing.T) {
	s, _ := openTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{{Id: "panel", Hosts: []string{"panel.test"}}}, t0); err != nil {
		t.Fatal(err)
	}
	audit := func(action string) AuditEntry {
		return AuditEntry{User: "admin", Action: action, ResourceType: "route", ResourceID: "panel", Source: "api"}
	}
	if _, err := s.AddMaintenance(ctx, MaintenanceWindow{Route: "nope", Start: t0, CreatedAt: t0}, audit("maintenance_on")); !errors.Is(err, ErrUnknownRoute) {
		t.Fatalf("unknown route: %v", err)
	}
	w := MaintenanceWindow{Route: "panel", HTML: "<p>x</p>", Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour),
		Allow: []string{"10.0.0.0/8"}, Reason: "upgrade", CreatedAt: t0, CreatedBy: "from 127.0.0.1:1"}
	id, err := s.AddMaintenance(ctx, w, audit("maintenance_scheduled"))
	if err != nil {
		t.Fatal(err)
	}
	open, err := s.OpenMaintenance(ctx)
	if err != nil || len(open) != 1 {
		t.Fatalf("open %v %v", open, err)
	}
	got := open[0]
	if got.ID != id || got.Route != "panel" || got.HTML != w.HTML || !got.Start.Equal(w.Start) || !got.End.Equal(w.End) ||
		len(got.Allow) != 1 || got.Allow[0] != "10.0.0.0/8" || got.Reason != "upgrade" || got.Active || got.CreatedBy != w.CreatedBy {
		t.Fatalf("read back %+v, wrote %+v", got, w)
	}
	// Each change is audited once: a repeated start or end changes nothing and writes nothing.
	for i, step := range []struct {
		do   func() (bool, error)
		want bool
	}{
		{func() (bool, error) { return s.StartMaintenance(ctx, id, audit("maintenance_on")) }, true},
		{func() (bool, error) { return s.StartMaintenance(ctx, id, audit("maintenance_on")) }, false},
		{func() (bool, error) {
			return s.EndMaintenance(ctx, id, t0.Add(2*time.Hour), "schedule", audit("maintenance_off"))
		}, true},
		{func() (bool, error) {
			return s.EndMaintenance(ctx, id, t0.Add(3*time.Hour), "schedule", audit("maintenance_off"))
		}, false},
		{func() (bool, error) { return s.StartMaintenance(ctx, id, audit("maintenance_on")) }, false},
	} {
		if changed, err := step.do(); err != nil || changed != step.want {
			t.Fatalf("step %d: changed %v, %v; want %v", i, changed, err, step.want)
		}
	}
	if open, err := s.OpenMaintenance(ctx); err != nil || len(open) != 0 {
		t.Fatalf("open after the end: %v %v", open, err)
	}
	entries, err := s.QueryAudit(ctx, AuditQuery{Limit: 10, Resource: "panel"})
	if err != nil || len(entries) != 3 {
		t.Fatalf("audit %+v %v: want scheduled, on, off", entries, err)
	}
	if entries[2].Notes != "maintenance window 1" {
		t.Fatalf("notes %q", entries[2].Notes)
	}
	var endedAt int64
	var endedBy string
	if err := s.read.QueryRowContext(ctx, "SELECT ended_at, ended_by FROM maintenance_pages WHERE page_id = ?", id).Scan(&endedAt, &endedBy); err != nil ||
		endedAt != t0.Add(2*time.Hour).Unix() || endedBy != "schedule" {
		t.Fatalf("ended %d by %q: %v", endedAt, endedBy, err)
	}
}
