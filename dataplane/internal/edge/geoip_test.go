package edge

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip/geoiptest"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// geoHarness is a Handler served directly (so that each request can come from any address),
// with a GeoIP database and a backend that counts its calls.
type geoHarness struct {
	handler  *Handler
	holder   *Holder
	events   *eventLog
	security *securityLog
	pools    *proxy.Pools
	opts     BuildOptions
	calls    atomic.Int32
	backend  *httptest.Server
}

func newGeoHarness(t *testing.T, logins *geoip.Logins) *geoHarness {
	t.Helper()
	g := &geoHarness{holder: &Holder{}, events: &eventLog{}, security: &securityLog{}, pools: proxy.NewPools(proxy.Options{})}
	var err error
	if g.handler, err = New(Config{Runtimes: g.holder, Events: g.events, Security: g.security}); err != nil {
		t.Fatal(err)
	}
	g.backend = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { g.calls.Add(1) }))
	g.opts = BuildOptions{GeoIP: geoip.NewSource(nil, 0), GeoIPLogins: logins}
	t.Cleanup(func() { g.backend.Close(); g.pools.Close() })
	return g
}

func (g *geoHarness) apply(t *testing.T, database string, routes ...*proxyv1.Route) {
	t.Helper()
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: routes, Edge: &proxyv1.Edge{GeoipDatabase: database}}, g.pools, g.opts)
	if err != nil {
		t.Fatal(err)
	}
	g.holder.Store(rt)
}

// get sends GET path for host from the client address remote; it returns the response and the
// request's event.
func (g *geoHarness) get(t *testing.T, remote, host, path string) (*httptest.ResponseRecorder, *proxyv1.RequestEvent) {
	t.Helper()
	return g.send(t, http.MethodGet, remote, host, path)
}

func (g *geoHarness) send(t *testing.T, method, remote, host, path string) (*httptest.ResponseRecorder, *proxyv1.RequestEvent) {
	t.Helper()
	n := len(g.events.snapshot())
	req := httptest.NewRequest(method, "http://"+host+path, nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, req)
	evs := g.events.wait(t, n+1)
	return rec, evs[n]
}

func writeGeoDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
	geoiptest.Write(t, path, geoiptest.City, geoiptest.Networks)
	return path
}

func TestGeoIPAllowedCountries(t *testing.T) {
	db := writeGeoDB(t)
	g := newGeoHarness(t, nil)
	g.apply(t, db, withPolicy(newRoute("site", g.backend.URL, "/", "site.test"),
		&proxyv1.Policy{Geoip: &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"GB", "DE"}}}))

	tests := []struct {
		desc, remote  string
		status        int
		country, city string
	}{
		{"allowed IPv4", "81.2.69.142:5000", 200, "GB", "London"},
		{"allowed IPv6", "[2a02:ec0::7]:5000", 200, "DE", "Berlin"},
		{"other country", "89.160.20.112:5000", 403, "SE", "Linköping"},
		{"unknown public address", "8.8.8.8:5000", 403, "", ""},
		{"private address", "10.0.0.5:5000", 200, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			before := g.calls.Load()
			rec, ev := g.get(t, tc.remote, "site.test", "/page")
			if rec.Code != tc.status || ev.GetStatus() != int32(tc.status) {
				t.Fatalf("status %d (event %d), want %d", rec.Code, ev.GetStatus(), tc.status)
			}
			if ev.GetCountry() != tc.country || ev.GetCity() != tc.city {
				t.Errorf("event location %q %q, want %q %q", ev.GetCountry(), ev.GetCity(), tc.country, tc.city)
			}
			called := g.calls.Load() != before
			if tc.status == 403 {
				if called {
					t.Error("the backend was called for a refused country")
				}
				if ev.GetBlockedBy() != "geoip" || !strings.Contains(rec.Body.String(), ev.GetRequestId()) {
					t.Errorf("blocked_by %q; page without the request id %s:\n%s", ev.GetBlockedBy(), ev.GetRequestId(), rec.Body)
				}
			} else if !called || ev.GetBlockedBy() != "" {
				t.Errorf("allowed request: backend called %v, blocked_by %q", called, ev.GetBlockedBy())
			}
		})
	}
	sec := g.security.take()
	if len(sec) != 2 {
		t.Fatalf("%d security events, want one per refused client", len(sec))
	}
	if e := sec[0]; e.GetKind() != proxyv1.SecurityKind_SECURITY_KIND_GEO_BLOCKED || e.GetCountry() != "SE" ||
		e.GetClientIp() != "89.160.20.112" || e.GetRule() != "allowed_countries" || e.GetRouteId() != "site" || e.GetRequestId() == "" {
		t.Errorf("security event %v", e)
	}
	// A flood from a refused client: every request refused, one event a minute.
	for range 50 {
		if rec, _ := g.get(t, "89.160.20.112:6000", "site.test", "/"); rec.Code != 403 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if n := len(g.security.take()); n != 0 {
		t.Fatalf("%d more security events for the same client within the minute", n)
	}
}

func TestGeoIPBlockedCountriesAndLocation(t *testing.T) {
	db := writeGeoDB(t)
	g := newGeoHarness(t, nil)
	g.apply(t, db,
		withPolicy(newRoute("site", g.backend.URL, "/", "site.test"), &proxyv1.Policy{Geoip: &proxyv1.GeoIP{Enabled: true, BlockedCountries: []string{"DE"}}}),
		newRoute("plain", g.backend.URL, "/", "plain.test"))

	if rec, ev := g.get(t, "[2a02:ec0::1]:1", "site.test", "/"); rec.Code != 403 || ev.GetCountry() != "DE" {
		t.Fatalf("blocked country: %d %q", rec.Code, ev.GetCountry())
	}
	if sec := g.security.take(); len(sec) != 1 || sec[0].GetRule() != "blocked_countries" || sec[0].GetAction() != "blocked" {
		t.Fatalf("security events %v", sec)
	}
	for _, remote := range []string{"81.2.69.1:1", "8.8.8.8:1"} { // another country, an unknown one
		if rec, _ := g.get(t, remote, "site.test", "/"); rec.Code != 200 {
			t.Fatalf("%s: %d", remote, rec.Code)
		}
	}
	// A route without a GeoIP policy: its events carry the location all the same.
	if rec, ev := g.get(t, "[2a02:ec0::1]:1", "plain.test", "/"); rec.Code != 200 || ev.GetCountry() != "DE" || ev.GetCity() != "Berlin" {
		t.Fatalf("route without geoip: %d %q %q", rec.Code, ev.GetCountry(), ev.GetCity())
	}
}

func TestGeoIPMissingDatabaseIsOff(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.mmdb")
	g := newGeoHarness(t, nil)
	g.apply(t, missing, withPolicy(newRoute("site", g.backend.URL, "/", "site.test"),
		&proxyv1.Policy{Geoip: &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"GB"}}}))
	rec, ev := g.get(t, "89.160.20.112:1", "site.test", "/")
	if rec.Code != 200 || ev.GetCountry() != "" || ev.GetBlockedBy() != "" {
		t.Fatalf("without a database: %d %q %q", rec.Code, ev.GetCountry(), ev.GetBlockedBy())
	}
	// The file appears: the same snapshot starts enforcing once the Source has seen it.
	geoiptest.Write(t, missing, geoiptest.City, geoiptest.Networks)
	g.opts.GeoIP.Check()
	if rec, _ := g.get(t, "89.160.20.112:1", "site.test", "/"); rec.Code != 403 {
		t.Fatalf("after the database appeared: %d", rec.Code)
	}
}

func TestGeoIPUnusualCountry(t *testing.T) {
	db := writeGeoDB(t)
	g := newGeoHarness(t, geoip.NewLogins(0, 2))
	g.apply(t, db, withPolicy(newRoute("vault", g.backend.URL, "/", "vault.test"), &proxyv1.Policy{
		Geoip: &proxyv1.GeoIP{Enabled: true, AlertOnUnusualCountry: true},
		RateLimit: &proxyv1.RateLimit{FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/identity/connect/*"},
			BanAfter: 100, Window: durationpb.New(time.Minute), BanDuration: durationpb.New(time.Minute)}},
	}))
	login := "/identity/connect/token"
	steps := []struct {
		method, remote, path string
		unusual              bool
	}{
		{"POST", "81.2.69.1:1", login, false},    // warm-up
		{"POST", "81.2.69.2:1", login, false},    // warm-up
		{"POST", "89.160.20.1:1", "/", false},    // not a login path
		{"GET", "89.160.20.1:1", login, false},   // not a login: a GET
		{"POST", "81.2.69.3:1", login, false},    // a known country
		{"POST", "89.160.20.1:1", login, true},   // a new one
		{"POST", "89.160.20.9:1", login, false},  // learned
		{"POST", "[2a02:ec0::1]:1", login, true}, // another new one
		{"POST", "10.1.1.1:1", login, false},     // no country
	}
	for i, s := range steps {
		if rec, _ := g.send(t, s.method, s.remote, "vault.test", s.path); rec.Code != 200 {
			t.Fatalf("step %d: %d", i, rec.Code)
		}
		sec := g.security.take()
		if !s.unusual {
			if len(sec) != 0 {
				t.Fatalf("step %d (%s %s): unexpected %v", i, s.remote, s.path, sec)
			}
			continue
		}
		if len(sec) != 1 || sec[0].GetKind() != proxyv1.SecurityKind_SECURITY_KIND_UNUSUAL_COUNTRY || !sec[0].GetAlertWebhook() ||
			sec[0].GetPath() != login || sec[0].GetCountry() == "" {
			t.Fatalf("step %d: %v", i, sec)
		}
	}
}

// BenchmarkCheckGeoIP is the GeoIP step alone for an allowed client of a City database:
// parse the address, look it up, check the lists and the login paths.
func BenchmarkCheckGeoIP(b *testing.B) {
	path := filepath.Join(b.TempDir(), "GeoLite2-City.mmdb")
	geoiptest.Write(b, path, geoiptest.City, geoiptest.Networks)
	pools := proxy.NewPools(proxy.Options{})
	b.Cleanup(pools.Close)
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Edge: &proxyv1.Edge{GeoipDatabase: path},
		Routes: []*proxyv1.Route{withPolicy(newRoute("site", "http://127.0.0.1:1", "/", "site.test"), &proxyv1.Policy{
			Geoip: &proxyv1.GeoIP{Enabled: true, BlockedCountries: []string{"RU", "CN"}, AlertOnUnusualCountry: true, LoginPaths: []string{"/login"}}})}},
		pools, BuildOptions{GeoIP: geoip.NewSource(nil, 0)})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(Config{Runtimes: &Holder{}, Events: &eventLog{}})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://site.test/page", nil)
	x := &exchange{r: req, runtime: rt, route: rt.Match("site.test", "/"), clientIP: "81.2.69.142"}
	b.ReportAllocs()
	for b.Loop() {
		if h.checkGeoIP(x, x.route) || x.country != "GB" {
			b.Fatal("refused")
		}
	}
}
