package reloader

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func route(id, backend string, perIP int64) *proxyv1.Route {
	r := &proxyv1.Route{Id: id, Site: "s", Hosts: []string{strings.TrimSuffix(id, "/")}, PathPrefix: "/", BackendUrl: backend}
	if perIP > 0 {
		r.Policy = &proxyv1.Policy{RateLimit: &proxyv1.RateLimit{PerIp: perIP}}
	}
	return r
}

func record(t *testing.T, level string, r *proxyv1.Route) string {
	t.Helper()
	j, err := protojson.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(routeRecord{Audit: level, Route: j})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// summary is "action id level notes-suffix [old] [new]" per entry, for comparison.
func summary(entries []store.AuditEntry) []string {
	var out []string
	for _, e := range entries {
		s := e.Action + " " + e.ResourceID + " " + strings.SplitN(e.Notes, ": ", 2)[1]
		if strings.Contains(e.Notes, "audit full") {
			s += " old=" + map[bool]string{true: "yes", false: "no"}[e.OldValue != ""] + " new=" + map[bool]string{true: "yes", false: "no"}[e.NewValue != ""]
		}
		out = append(out, s)
	}
	return out
}

func TestRouteChanges(t *testing.T) {
	a := route("a.test/", "http://a", 0)
	tests := []struct {
		desc        string
		prev        map[string]string
		routes      []*proxyv1.Route
		levels      map[string]string
		wantEntries []string
		wantRecords []string
	}{
		{desc: "standard: recorded, not audited", prev: map[string]string{},
			routes: []*proxyv1.Route{a}, levels: map[string]string{"a.test/": "standard"},
			wantRecords: []string{"a.test/"}},
		{desc: "enhanced: added", prev: map[string]string{},
			routes: []*proxyv1.Route{a}, levels: map[string]string{"a.test/": "enhanced"},
			wantEntries: []string{"route_added a.test/ new route of site s"}, wantRecords: []string{"a.test/"}},
		{desc: "full: added with the new configuration", prev: map[string]string{},
			routes: []*proxyv1.Route{a}, levels: map[string]string{"a.test/": "full"},
			wantEntries: []string{"route_added a.test/ new route of site s old=no new=yes"}, wantRecords: []string{"a.test/"}},
		{desc: "unchanged: nothing", prev: map[string]string{"a.test/": record(t, "full", a)},
			routes: []*proxyv1.Route{route("a.test/", "http://a", 0)}, levels: map[string]string{"a.test/": "full"}},
		{desc: "enhanced: changed fields named", prev: map[string]string{"a.test/": record(t, "enhanced", a)},
			routes: []*proxyv1.Route{route("a.test/", "http://b", 30)}, levels: map[string]string{"a.test/": "enhanced"},
			wantEntries: []string{"route_changed a.test/ changed backend_url, policy.rate_limit of site s"}, wantRecords: []string{"a.test/"}},
		{desc: "full: changed with both configurations", prev: map[string]string{"a.test/": record(t, "full", a)},
			routes: []*proxyv1.Route{route("a.test/", "http://b", 0)}, levels: map[string]string{"a.test/": "full"},
			wantEntries: []string{"route_changed a.test/ changed backend_url of site s old=yes new=yes"}, wantRecords: []string{"a.test/"}},
		{desc: "lowering the level is audited at the old level", prev: map[string]string{"a.test/": record(t, "full", a)},
			routes: []*proxyv1.Route{route("a.test/", "http://b", 0)}, levels: map[string]string{"a.test/": "standard"},
			wantEntries: []string{"route_changed a.test/ changed backend_url of site s old=yes new=yes"}, wantRecords: []string{"a.test/"}},
		{desc: "a level change alone is recorded, not audited", prev: map[string]string{"a.test/": record(t, "standard", a)},
			routes: []*proxyv1.Route{a}, levels: map[string]string{"a.test/": "full"}, wantRecords: []string{"a.test/"}},
		{desc: "removed at its recorded level", prev: map[string]string{"a.test/": record(t, "enhanced", a), "b.test/": record(t, "standard", a)},
			levels: map[string]string{}, wantEntries: []string{"route_removed a.test/ removed from site s"}},
		{desc: "no record yet (before audit levels): recorded, not audited", prev: map[string]string{"a.test/": ""},
			routes: []*proxyv1.Route{a}, levels: map[string]string{"a.test/": "full"}, wantRecords: []string{"a.test/"}},
		{desc: "an unreadable record is replaced", prev: map[string]string{"a.test/": "{not json"},
			routes: []*proxyv1.Route{a}, levels: map[string]string{"a.test/": "full"}, wantRecords: []string{"a.test/"}},
	}
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			records, entries, err := routeChanges(tc.prev, tc.routes, tc.levels, 7, "file_watcher", now)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(summary(entries), "\n"), strings.Join(tc.wantEntries, "\n"); got != want {
				t.Errorf("entries:\n%s\nwant\n%s", got, want)
			}
			var ids []string
			for id := range records {
				ids = append(ids, id)
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantRecords, ",") {
				t.Errorf("records %v, want %v", ids, tc.wantRecords)
			}
			for _, e := range entries {
				if e.User != "system" || e.ResourceType != "route" || e.Source != "file_watcher" || !e.Time.Equal(now) || !strings.HasPrefix(e.Notes, "version 7, ") {
					t.Errorf("entry %+v", e)
				}
			}
		})
	}
}

func TestRouteChangesRedactRequestHeaders(t *testing.T) {
	secret := func(v string) *proxyv1.Route {
		r := route("a.test/", "http://a", 0)
		r.Policy = &proxyv1.Policy{Headers: &proxyv1.Headers{Request: &proxyv1.HeaderOps{Add: map[string]string{"Authorization": v}}}}
		return r
	}
	now := time.Unix(1_800_000_000, 0)
	levels := map[string]string{"a.test/": "full"}
	live := secret("Bearer s3cret")
	records, entries, err := routeChanges(map[string]string{}, []*proxyv1.Route{live}, levels, 1, "startup", now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(records["a.test/"], "s3cret") || strings.Contains(entries[0].NewValue, "s3cret") {
		t.Fatalf("a request header value was recorded: %s / %s", records["a.test/"], entries[0].NewValue)
	}
	if live.GetPolicy().GetHeaders().GetRequest().GetAdd()["Authorization"] != "Bearer s3cret" {
		t.Fatal("the live route was modified")
	}
	_, entries, err = routeChanges(records, []*proxyv1.Route{secret("Bearer other")}, levels, 2, "file_watcher", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !strings.Contains(entries[0].Notes, "changed policy.headers") || strings.Contains(entries[0].OldValue+entries[0].NewValue, "Bearer") {
		t.Fatalf("a changed secret: %+v", entries)
	}
	if _, entries, _ := routeChanges(records, []*proxyv1.Route{secret("Bearer s3cret")}, levels, 2, "file_watcher", now); len(entries) != 0 {
		t.Fatalf("an unchanged secret was audited: %+v", entries)
	}
}

// Through the reloader and a real store: each tier audits its routes at its level, also for
// a change made while the control plane was stopped.
func TestAuditLevelsThroughReloads(t *testing.T) {
	e := newEnv(t)
	e.write("sites/community.yaml", "tier: public\nhost: community.test\nbackend: http://community:80\n")
	e.write("sites/vault.yaml", "tier: private\nhost: vault.test\nbackend: http://vault:80\n")
	e.write("sites/panel.yaml", "tier: admin\nhost: panel.test\nbackend: http://panel:80\n")
	ctx := context.Background()
	r, st, _ := e.open()
	if _, _, errs := r.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}
	e.write("sites/community.yaml", "tier: public\nhost: community.test\nbackend: http://community:81\n")
	e.write("sites/vault.yaml", "tier: private\nhost: vault.test\nbackend: http://vault:81\n")
	e.write("sites/panel.yaml", "tier: admin\nhost: panel.test\nbackend: http://panel:80\nrate_limit: {per_ip: 5}\n")
	if _, _, errs := r.Reload(ctx, "file_watcher"); errs != nil {
		t.Fatal(errs)
	}

	// Stopped; the admin site is removed and the vault changed meanwhile; restarted.
	st.Close()
	e.write("sites/panel.yaml", "enabled: false\ntier: admin\nhost: panel.test\nbackend: http://panel:80\n")
	e.write("sites/vault.yaml", "tier: private\nhost: vault.test\nbackend: http://vault:82\n")
	r, st, _ = e.open()
	if _, _, errs := r.Reload(ctx, "startup"); errs != nil {
		t.Fatal(errs)
	}

	got, err := st.AuditEntries(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := len(got) - 1; i >= 0; i-- { // oldest first
		a := got[i]
		if strings.HasPrefix(a.Action, "config_file_") {
			continue // fileaudit_test.go
		}
		if a.ResourceType != "route" {
			lines = append(lines, a.Action+" "+a.Source)
			continue
		}
		lines = append(lines, a.Action+" "+a.ResourceID+" "+a.Notes+" old="+short(a.OldValue)+" new="+short(a.NewValue))
	}
	want := []string{
		"config_reload startup",
		"route_added panel.test/ version 1, audit full: new route of site panel old= new=http://panel:80",
		"route_added vault.test/ version 1, audit enhanced: new route of site vault old= new=",
		"config_reload file_watcher",
		"route_changed panel.test/ version 2, audit full: changed policy.rate_limit of site panel old=http://panel:80 new=http://panel:80",
		"route_changed vault.test/ version 2, audit enhanced: changed backend_url of site vault old= new=",
		"config_reload startup",
		"route_changed vault.test/ version 3, audit enhanced: changed backend_url of site vault old= new=",
		"route_removed panel.test/ version 3, audit full: removed from site panel old=http://panel:80 new=",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// short gives the backend of a recorded route's JSON, or "".
func short(v string) string {
	if v == "" {
		return ""
	}
	var r proxyv1.Route
	if err := protojson.Unmarshal([]byte(v), &r); err != nil {
		return "unreadable: " + err.Error()
	}
	return r.GetBackendUrl()
}
