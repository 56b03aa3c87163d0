package store

import (
	"context"
	"maps"
	"reflect"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestRouteConfigs(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t1 := time.Unix(1_800_000_000, 0)
	a := &proxyv1.Route{Id: "a.example.org/", Site: "a", Hosts: []string{"a.example.org"}, PathPrefix: "/", BackendUrl: "http://a"}
	b := &proxyv1.Route{Id: "b.example.org/", Site: "b", Hosts: []string{"b.example.org"}, PathPrefix: "/", BackendUrl: "http://b"}
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{a, b}, t1); err != nil {
		t.Fatal(err)
	}
	got, err := s.RouteConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a.example.org/": "", "b.example.org/": ""}; !maps.Equal(got, want) {
		t.Fatalf("before any record: %v, want %v", got, want)
	}

	entry := AuditEntry{Time: t1, User: "system", Action: "route_added", ResourceType: "route", ResourceID: "a.example.org/", Source: "startup"}
	if err := s.RecordRouteConfigs(ctx, map[string]string{"a.example.org/": `{"audit":"full"}`}, []AuditEntry{entry}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RouteConfigs(ctx); got["a.example.org/"] != `{"audit":"full"}` || got["b.example.org/"] != "" {
		t.Fatalf("after a record: %v", got)
	}
	entries, _ := s.AuditEntries(ctx, 10, "")
	for i := range entries {
		entries[i].ID, entries[i].Hash = 0, "" // set by the store
	}
	if !reflect.DeepEqual(entries, []AuditEntry{entry}) {
		t.Fatalf("audit = %+v", entries)
	}

	// An unknown route fails the whole transaction: no entry without its record.
	bad := AuditEntry{User: "system", Action: "route_added", ResourceType: "route", ResourceID: "c.example.org/"}
	if err := s.RecordRouteConfigs(ctx, map[string]string{"c.example.org/": "{}"}, []AuditEntry{bad}); err == nil {
		t.Fatal("an unknown route was recorded")
	}
	if got, _ := s.AuditEntries(ctx, 10, ""); len(got) != 1 {
		t.Fatalf("a failed record wrote audit entries: %+v", got)
	}
	if err := s.RecordRouteConfigs(ctx, nil, []AuditEntry{{Action: "route_added"}}); err == nil {
		t.Fatal("an entry without user and resource type was accepted")
	}

	// Removed routes are inactive: no longer listed.
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{b}, t1.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RouteConfigs(ctx); !maps.Equal(got, map[string]string{"b.example.org/": ""}) {
		t.Fatalf("after a removal: %v", got)
	}
}
