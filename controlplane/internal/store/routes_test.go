package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

type routeRow struct {
	routeID     int64
	domain      string
	hosts       string
	pathPrefix  string
	backendURL  string
	site        string
	sourceFile  string
	service     string // name:port, "" for none
	active      bool
	createdAt   int64
	updatedAt   int64
	retainLogs  int64
	retainError int64
}

func readRoute(t *testing.T, s *Store, key string) routeRow {
	t.Helper()
	var (
		r       routeRow
		service sql.NullString
	)
	err := s.read.QueryRowContext(context.Background(), `SELECT r.route_id, r.domain, r.hosts, r.path_prefix,
  r.backend_url, r.site, r.source_file, s.service_name || ':' || s.port, r.active, r.created_at, r.updated_at,
  r.retention_access_logs, r.retention_error_logs
FROM routes r LEFT JOIN services s ON s.service_id = r.service_id WHERE r.route_key = ?`, key).Scan(
		&r.routeID, &r.domain, &r.hosts, &r.pathPrefix, &r.backendURL, &r.site, &r.sourceFile, &service,
		&r.active, &r.createdAt, &r.updatedAt, &r.retainLogs, &r.retainError)
	if err != nil {
		t.Fatalf("route %s: %v", key, err)
	}
	r.service = service.String
	return r
}

func TestSyncRoutes(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t1 := time.Unix(1_800_000_000, 0)
	panel := &proxyv1.Route{
		Id: "panel/gpanel.example.org/", Site: "panel", SourceFile: "/etc/proxy/sites-available/panel.yaml",
		Hosts: []string{"gpanel.example.org", "panel.example.org"}, PathPrefix: "/",
		BackendUrl: "http://pterodactyl_panel:80",
		Policy: &proxyv1.Policy{DataRetention: &proxyv1.DataRetention{
			AccessLogs: durationpb.New(3 * 24 * time.Hour),
		}},
	}
	vault := &proxyv1.Route{
		Id: "vault/vault.example.org/", Site: "vault", SourceFile: "/etc/proxy/sites-available/vault.yaml",
		Hosts: []string{"vault.example.org"}, BackendUrl: "https://vaultwarden",
	}
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{panel, vault}, t1); err != nil {
		t.Fatal(err)
	}
	got := readRoute(t, s, panel.Id)
	want := routeRow{
		routeID: got.routeID, domain: "gpanel.example.org", hosts: `["gpanel.example.org","panel.example.org"]`,
		pathPrefix: "/", backendURL: "http://pterodactyl_panel:80", site: "panel", sourceFile: panel.SourceFile,
		service: "pterodactyl_panel:80", active: true, createdAt: t1.Unix(), updatedAt: t1.Unix(),
		retainLogs: 3 * 86400, retainError: 30 * 86400,
	}
	if got != want {
		t.Errorf("panel route\n got %+v\nwant %+v", got, want)
	}
	if v := readRoute(t, s, vault.Id); v.service != "vaultwarden:443" || v.pathPrefix != "/" || !v.active {
		t.Errorf("vault route %+v: want service vaultwarden:443, path /, active", v)
	}

	// The same snapshot again changes nothing, not even updated_at.
	t2 := t1.Add(time.Hour)
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{panel, vault}, t2); err != nil {
		t.Fatal(err)
	}
	if r := readRoute(t, s, panel.Id); r.updatedAt != t1.Unix() {
		t.Errorf("unchanged route: updated_at = %d, want %d", r.updatedAt, t1.Unix())
	}

	// vault leaves the configuration, panel moves to another backend.
	t3 := t2.Add(time.Hour)
	panel.BackendUrl = "http://pterodactyl_panel:8080"
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{panel}, t3); err != nil {
		t.Fatal(err)
	}
	p := readRoute(t, s, panel.Id)
	if p.routeID != got.routeID || p.service != "pterodactyl_panel:8080" || p.createdAt != t1.Unix() || p.updatedAt != t3.Unix() {
		t.Errorf("changed route %+v: want same id %d, new service, created %d, updated %d", p, got.routeID, t1.Unix(), t3.Unix())
	}
	if v := readRoute(t, s, vault.Id); v.active || v.updatedAt != t3.Unix() {
		t.Errorf("removed route %+v: want inactive, updated at %d", v, t3.Unix())
	}

	// It comes back: active again, same row.
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{panel, vault}, t3.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if v := readRoute(t, s, vault.Id); !v.active {
		t.Errorf("returning route %+v: want active", v)
	}
}

func TestSyncRoutesEmptySnapshotDeactivatesAll(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	if err := s.SyncRoutes(ctx, []*proxyv1.Route{{Id: "a"}, {Id: "b"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncRoutes(ctx, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	var active int
	if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM routes WHERE active = 1").Scan(&active); err != nil || active != 0 {
		t.Fatalf("active routes = %d, %v; want 0", active, err)
	}
}

func TestSyncRoutesRejectsInvalidRoutes(t *testing.T) {
	testCases := []struct {
		desc   string
		routes []*proxyv1.Route
	}{
		{desc: "nil route", routes: []*proxyv1.Route{{Id: "a"}, nil}},
		{desc: "empty id", routes: []*proxyv1.Route{{Id: "a"}, {Site: "b"}}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openTestStore(t)
			if err := s.SyncRoutes(ctx, tc.routes, time.Now()); err == nil {
				t.Fatal("SyncRoutes succeeded")
			}
			var n int
			if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM routes").Scan(&n); err != nil || n != 0 {
				t.Fatalf("routes = %d, %v; want none stored", n, err)
			}
		})
	}
}

func TestBackendService(t *testing.T) {
	testCases := []struct {
		url      string
		wantName string
		wantPort int
		wantOK   bool
	}{
		{url: "http://panel:8080", wantName: "panel", wantPort: 8080, wantOK: true},
		{url: "http://panel", wantName: "panel", wantPort: 80, wantOK: true},
		{url: "https://vault/base", wantName: "vault", wantPort: 443, wantOK: true},
		{url: "http://[::1]:9000", wantName: "::1", wantPort: 9000, wantOK: true},
		{url: "", wantOK: false},
		{url: "not a url", wantOK: false},
	}
	for _, tc := range testCases {
		t.Run(tc.url, func(t *testing.T) {
			name, port, ok := backendService(tc.url)
			if name != tc.wantName || port != tc.wantPort || ok != tc.wantOK {
				t.Errorf("backendService(%q) = %q, %d, %v; want %q, %d, %v", tc.url, name, port, ok, tc.wantName, tc.wantPort, tc.wantOK)
			}
		})
	}
}
