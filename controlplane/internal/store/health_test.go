package store

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestSaveHealthCheckAndState(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t0 := time.Unix(1_800_000_000, 0)
	routes := []*proxyv1.Route{
		{Id: "a.example.org/", Site: "a", Hosts: []string{"a.example.org"}, PathPrefix: "/", BackendUrl: "http://app-a:8080"},
		{Id: "b.example.org/", Site: "b", Hosts: []string{"b.example.org"}, PathPrefix: "/", BackendUrl: "http://app-b:8080"},
	}
	if err := s.SyncRoutes(ctx, routes, t0); err != nil {
		t.Fatal(err)
	}
	ok := HealthCheck{RouteID: "a.example.org/", Time: t0, Success: true, ResponseTime: 12 * time.Millisecond, StatusCode: 200}
	healthy := HealthState{RouteID: "a.example.org/", BackendURL: "http://app-a:8080", State: "healthy", SuccessRatio: 1, Since: t0, LastCheck: t0}
	if err := s.SaveHealthCheck(ctx, ok, healthy); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(10 * time.Second)
	failed := HealthCheck{RouteID: "a.example.org/", Time: t1, ResponseTime: 5 * time.Second, Error: "timeout after 5s"}
	degraded := HealthState{RouteID: "a.example.org/", BackendURL: "http://app-a:8080", State: "degraded", SuccessRatio: 0.5, Since: t1, LastCheck: t1, LastError: "timeout after 5s"}
	if err := s.SaveHealthCheck(ctx, failed, degraded); err != nil {
		t.Fatal(err)
	}
	b := HealthState{RouteID: "b.example.org/", BackendURL: "http://app-b:8080", State: "down", Since: t1, LastCheck: t1, LastError: "status 503, want 200"}
	if err := s.SaveHealthCheck(ctx, HealthCheck{RouteID: "b.example.org/", Time: t1, StatusCode: 503, Error: "status 503, want 200"}, b); err != nil {
		t.Fatal(err)
	}

	states, err := s.HealthStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []HealthState{degraded, b}; !reflect.DeepEqual(states, want) {
		t.Fatalf("states =\n%+v\nwant\n%+v", states, want)
	}
	type row struct {
		ts      int64
		success bool
		ms      int64
		status  any
		errMsg  any
	}
	rows, err := s.read.QueryContext(ctx, `SELECT h.timestamp, h.success, h.response_time_ms, h.status_code, h.error_message
FROM health_checks h JOIN routes r USING (route_id) WHERE r.route_key = 'a.example.org/' ORDER BY h.timestamp`)
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.ts, &r.success, &r.ms, &r.status, &r.errMsg); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	want := []row{{t0.Unix(), true, 12, int64(200), nil}, {t1.Unix(), false, 5000, nil, "timeout after 5s"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("checks =\n%+v\nwant\n%+v", got, want)
	}

	// A route that is not recorded is refused, not silently dropped.
	err = s.SaveHealthCheck(ctx, HealthCheck{RouteID: "nope/", Time: t1}, HealthState{RouteID: "nope/", State: "down"})
	if !errors.Is(err, ErrUnknownRoute) {
		t.Fatalf("unknown route: err = %v, want ErrUnknownRoute", err)
	}

	// Routes no longer checked lose their state.
	if err := s.KeepHealthStates(ctx, []string{"b.example.org/"}); err != nil {
		t.Fatal(err)
	}
	if states, err = s.HealthStates(ctx); err != nil || len(states) != 1 || states[0].RouteID != "b.example.org/" {
		t.Fatalf("after keep: %+v, %v", states, err)
	}
	if err := s.KeepHealthStates(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if states, err = s.HealthStates(ctx); err != nil || len(states) != 0 {
		t.Fatalf("after keeping none: %+v, %v", states, err)
	}
}

func TestSaveCertificates(t *testing.T) {
	ctx := context.Background()
	s, _ := openTestStore(t)
	t0 := time.Unix(1_800_000_000, 0)
	a := Certificate{Domain: "a.example.org", CertPath: "/certs/live/a.example.org/fullchain.pem", KeyPath: "/certs/live/a.example.org/privkey.pem",
		NotBefore: t0.Add(-60 * 24 * time.Hour), ExpiresAt: t0.Add(20 * 24 * time.Hour), SANs: []string{"a.example.org", "www.a.example.org"},
		Issuer: "CN=R11,O=Let's Encrypt,C=US", Level: "warning", LastChecked: t0}
	b := Certificate{Domain: "b.example.org", CertPath: "/certs/b.crt", KeyPath: "/certs/b.key", NotBefore: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour),
		SANs: []string{}, Issuer: "CN=mkcert", Level: "ok", LastChecked: t0}
	if err := s.SaveCertificates(ctx, []Certificate{a, b}); err != nil {
		t.Fatal(err)
	}
	// Renewed a, b removed: upsert by domain, b's row goes.
	t1 := t0.Add(time.Hour)
	a.ExpiresAt, a.Level, a.LastChecked = t1.Add(90*24*time.Hour), "ok", t1
	if err := s.SaveCertificates(ctx, []Certificate{a}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Certificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []Certificate{a}) {
		t.Fatalf("certificates =\n%+v\nwant\n%+v", got, []Certificate{a})
	}
	var n int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1", n, err)
	}
	if err := s.SaveCertificates(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Certificates(ctx); err != nil || len(got) != 0 {
		t.Fatalf("after none: %+v, %v", got, err)
	}
}
