package adminhttp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/healthcheck"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/ui"
)

// healthAPI serves the admin handler over a real checker (a real backend, checked at a moved
// clock: 6 successes, then 2 failures) and a real certificate monitor, both on a real store.
func healthAPI(t *testing.T) http.Handler {
	t.Helper()
	ctx := context.Background()
	var failing atomic.Bool
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(be.Close)
	st := openStore(t)
	log := zaptest.NewLogger(t)
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	hc := func() *proxyv1.Policy {
		return &proxyv1.Policy{HealthCheck: &proxyv1.HealthCheck{Enabled: true, Interval: durationpb.New(10 * time.Second),
			Timeout: durationpb.New(5 * time.Second), Path: "/health", ExpectedStatus: 200}}
	}
	routes := []*proxyv1.Route{
		{Id: "gpanel.example.org/", Site: "gpanel", BackendUrl: be.URL, Policy: hc()},
		{Id: "vault.example.org/", Site: "vault", BackendUrl: be.URL, Policy: hc()},
	}
	if err := st.SyncRoutes(ctx, routes, t0); err != nil {
		t.Fatal(err)
	}
	var now atomic.Pointer[time.Time]
	clock := func() time.Time { return *now.Load() }
	now.Store(&t0)
	fl := fleet.New(log)
	checker := healthcheck.New(log, st, fl, healthcheck.Options{Now: clock})
	checker.SetRoutes(ctx, routes, map[string]string{"vault.example.org/": "HEAD"}) // health_check.method
	for i := range 8 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		now.Store(&at)
		failing.Store(i >= 6)
		if err := checker.Check(ctx, "gpanel.example.org/"); err != nil {
			t.Fatal(err)
		}
	}

	monitor, err := certmon.New(ctx, log, st, certmon.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	cert := func(name string, left time.Duration) *proxyv1.Certificate {
		at := clock()
		return &proxyv1.Certificate{Name: name, DnsNames: []string{name, "www." + name}, Issuer: "CN=R11,O=Let's Encrypt,C=US",
			NotBefore: timestamppb.New(at.Add(left - 90*24*time.Hour)), NotAfter: timestamppb.New(at.Add(left)),
			CertFile: "/etc/letsencrypt/live/" + name + "/fullchain.pem", KeyFile: "/etc/letsencrypt/live/" + name + "/privkey.pem",
			Sha256Fingerprint: fmt.Sprintf("%x", sha256.Sum256([]byte(name)))}
	}
	if err := monitor.Evaluate(ctx, []*proxyv1.Certificate{
		cert("gpanel.example.org", 61*24*time.Hour), cert("vault.example.org", 12*24*time.Hour+3*time.Hour), cert("old.example.org", -2*24*time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	return Handler(Config{Health: fakeHealth{started: true}, Fleet: fl, Config: fakeStatus{loaded: true}, Dashboard: ui.Dashboard(),
		BackendHealth: checker, Certificates: monitor})
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Host = "localhost:8080"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	t.Logf("GET %s → %d\n%s", target, w.Code, w.Body)
	return w
}

func TestHealthAPI(t *testing.T) {
	h := healthAPI(t)
	w := get(t, h, "/api/health")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	var resp struct {
		Routes []struct {
			RouteID           string     `json:"route_id"`
			Site              string     `json:"site"`
			Method            string     `json:"method"`
			State             string     `json:"state"`
			SuccessRatio      float64    `json:"success_ratio"`
			Checks            int        `json:"checks_last_minute"`
			AvgResponseTimeMS float64    `json:"avg_response_time_ms"`
			Since             time.Time  `json:"since"`
			LastCheck         *time.Time `json:"last_check"`
			LastError         string     `json:"last_error"`
			Transitions       []struct {
				From, To string
				At       time.Time
			} `json:"transitions"`
		} `json:"routes"`
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	g, v := resp.Routes[0], resp.Routes[1]
	// At t0+70s the minute holds the checks of 20..70 s: 4 successes, 2 failures.
	if g.RouteID != "gpanel.example.org/" || g.State != "degraded" || g.SuccessRatio != 0.667 || g.Checks != 6 ||
		!g.Since.Equal(t0.Add(60*time.Second)) || !g.LastCheck.Equal(t0.Add(70*time.Second)) || g.LastError != "status 503, want 200" ||
		len(g.Transitions) != 2 || g.Transitions[0].To != "degraded" || g.Transitions[1].From != "unknown" || g.AvgResponseTimeMS <= 0 {
		t.Fatalf("gpanel: %+v", g)
	}
	if v.State != "unknown" || v.LastCheck != nil || v.Method != "HEAD" || len(v.Transitions) != 0 {
		t.Fatalf("vault: %+v", v)
	}
	if resp.Summary["degraded"] != 1 || resp.Summary["unknown"] != 1 || resp.Summary["healthy"] != 0 {
		t.Fatalf("summary %v", resp.Summary)
	}
}

func TestCertsAPI(t *testing.T) {
	h := healthAPI(t)
	type certs struct {
		WarnDays     *int `json:"warn_days"`
		Certificates []struct {
			Domain   string   `json:"domain"`
			DaysLeft int      `json:"days_left"`
			Level    string   `json:"level"`
			SANs     []string `json:"sans"`
			Issuer   string   `json:"issuer"`
		} `json:"certificates"`
	}
	for _, tc := range []struct {
		query   string
		domains []string
		levels  []string
		days    []int
	}{
		{"", []string{"old.example.org", "vault.example.org", "gpanel.example.org"}, []string{"expired", "urgent", "ok"}, []int{-2, 12, 61}},
		{"?warn_days=30", []string{"old.example.org", "vault.example.org"}, []string{"expired", "urgent"}, []int{-2, 12}},
		{"?warn_days=12", []string{"old.example.org", "vault.example.org"}, []string{"expired", "urgent"}, []int{-2, 12}},
		{"?warn_days=0", []string{"old.example.org"}, []string{"expired"}, []int{-2}},
	} {
		w := get(t, h, "/api/certs"+tc.query)
		var resp certs
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %d %v", tc.query, w.Code, err)
		}
		if len(resp.Certificates) != len(tc.domains) || (tc.query == "") != (resp.WarnDays == nil) {
			t.Fatalf("%s: %+v", tc.query, resp)
		}
		for i, c := range resp.Certificates {
			if c.Domain != tc.domains[i] || c.Level != tc.levels[i] || c.DaysLeft != tc.days[i] || len(c.SANs) != 2 || c.Issuer == "" {
				t.Fatalf("%s: certificate %d = %+v", tc.query, i, c)
			}
		}
	}
	for _, bad := range []string{"?warn_days=abc", "?warn_days=-1", "?warn_days=", "?warn_days=99999999", "?warn_days=1.5"} {
		w := get(t, h, "/api/certs"+bad)
		var e map[string]string
		if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &e) != nil || e["error"] == "" {
			t.Fatalf("%s: %d %s", bad, w.Code, w.Body)
		}
	}
}
