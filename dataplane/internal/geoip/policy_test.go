package geoip

import (
	"net/netip"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestPolicyCheck(t *testing.T) {
	public := netip.MustParseAddr("81.2.69.1")
	tests := []struct {
		desc    string
		pb      *proxyv1.GeoIP
		addr    netip.Addr
		country string
		want    Verdict
	}{
		{"disabled", &proxyv1.GeoIP{AllowedCountries: []string{"DE"}}, public, "GB", Pass},
		{"allowed", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE", "GB"}}, public, "GB", Pass},
		{"not allowed", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE"}}, public, "GB", NotAllowed},
		{"unknown public address with an allow list", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE"}}, public, "", NotAllowed},
		{"private address with an allow list", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE"}}, netip.MustParseAddr("192.168.1.9"), "", Pass},
		{"loopback IPv6", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE"}}, netip.MustParseAddr("::1"), "", Pass},
		{"unique local IPv6", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE"}}, netip.MustParseAddr("fd00::1"), "", Pass},
		{"tailscale", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE"}}, netip.MustParseAddr("100.101.1.2"), "", Pass},
		{"blocked", &proxyv1.GeoIP{Enabled: true, BlockedCountries: []string{"RU", "GB"}}, public, "GB", Blocked},
		{"not blocked", &proxyv1.GeoIP{Enabled: true, BlockedCountries: []string{"RU"}}, public, "GB", Pass},
		{"unknown with a block list", &proxyv1.GeoIP{Enabled: true, BlockedCountries: []string{"RU"}}, public, "", Pass},
		{"allowed and not blocked", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE", "GB"}, BlockedCountries: []string{"RU"}}, public, "DE", Pass},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := NewPolicy(tc.pb, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Check(tc.addr, tc.country); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewPolicyRefuses(t *testing.T) {
	tests := []struct {
		desc string
		pb   *proxyv1.GeoIP
	}{
		{"lower-case code", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"de"}}},
		{"three letters", &proxyv1.GeoIP{Enabled: true, BlockedCountries: []string{"DEU"}}},
		{"both lists", &proxyv1.GeoIP{Enabled: true, AllowedCountries: []string{"DE"}, BlockedCountries: []string{"DE"}}},
		{"login path without slash", &proxyv1.GeoIP{Enabled: true, AlertOnUnusualCountry: true, LoginPaths: []string{"login"}}},
		{"star inside a login path", &proxyv1.GeoIP{Enabled: true, AlertOnUnusualCountry: true, LoginPaths: []string{"/a*/b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := NewPolicy(tc.pb, nil, NewLogins(WarmUpTime, WarmUpLogins).For("r")); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestUnusual(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	logins := NewLogins(WarmUpTime, WarmUpLogins)
	logins.now = func() time.Time { return start }
	pb := &proxyv1.GeoIP{Enabled: true, AlertOnUnusualCountry: true}
	p, err := NewPolicy(pb, []string{"/login", "/api/auth/*"}, logins.For("r"))
	if err != nil {
		t.Fatal(err)
	}
	// Warm-up: WarmUpLogins logins from DE and GB, during the first hour.
	for i := range WarmUpLogins {
		c := "DE"
		if i%4 == 0 {
			c = "GB"
		}
		if p.Unusual("POST", "/login", c, start.Add(time.Minute)) {
			t.Fatalf("login %d reported during warm-up", i)
		}
	}
	after := start.Add(WarmUpTime)
	steps := []struct {
		path, country string
		want          bool
	}{
		{"/login", "DE", false},
		{"/api/auth/token", "GB", false},
		{"/", "US", false},          // not a login path
		{"/login/x", "US", false},   // exact path only
		{"/login", "", false},       // unknown country
		{"/api/auth/x", "US", true}, // new after the warm-up
		{"/login", "US", false},     // reported once, then learned
		{"/login", "FR", true},
	}
	for _, s := range steps {
		if got := p.Unusual("POST", s.path, s.country, after); got != s.want {
			t.Errorf("%s from %q: %v, want %v", s.path, s.country, got, s.want)
		}
	}
	// A new snapshot with the same route keeps the memory; another route has its own.
	p2, _ := NewPolicy(pb, []string{"/login"}, logins.For("r"))
	if p2.Unusual("POST", "/login", "US", after) {
		t.Error("the memory did not survive a rebuild")
	}
	other, _ := NewPolicy(pb, []string{"/login"}, logins.For("other"))
	for range WarmUpLogins + 1 {
		if other.Unusual("POST", "/login", "JP", after) {
			t.Error("another route's warm-up did not count its own logins")
		}
	}
	if other.Unusual("GET", "/login", "US", after.Add(WarmUpTime)) {
		t.Error("a GET of the login page counted as a login")
	}
	if !other.Unusual("PUT", "/login", "US", after.Add(WarmUpTime)) {
		t.Error("another route learned this route's countries")
	}
	logins.Retain(map[string]bool{"other": true})
	if len(logins.routes) != 1 {
		t.Errorf("Retain kept %d routes", len(logins.routes))
	}
}

func TestUnusualDefaultLoginPaths(t *testing.T) {
	logins := NewLogins(0, 0)
	p, err := NewPolicy(&proxyv1.GeoIP{Enabled: true, AlertOnUnusualCountry: true}, nil, logins.For("r"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if p.Unusual("POST", "/", "US", now) || p.Unusual("POST", "/login/help", "US", now) {
		t.Fatal("not a login path")
	}
	if !p.Unusual("POST", "/identity/connect/token", "US", now) {
		t.Fatal("the Vaultwarden token endpoint is a default login path")
	}
}

func TestGate(t *testing.T) {
	g := NewGate()
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	if !g.Allow("81.2.69.1", now) {
		t.Fatal("first event refused")
	}
	if g.Allow("81.2.69.1", now.Add(30*time.Second)) {
		t.Fatal("second event in the same minute allowed")
	}
	if !g.Allow("81.2.69.2", now) {
		t.Fatal("another client refused")
	}
	if !g.Allow("81.2.69.1", now.Add(time.Minute)) {
		t.Fatal("next minute refused")
	}
	// A million clients: at most one event each per minute, in a table of fixed size.
	allowed := 0
	for i := range 1_000_000 {
		c := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		if g.Allow(c, now) {
			allowed++
		}
		if g.Allow(c, now) {
			t.Fatalf("client %s allowed twice in a row", c)
		}
	}
	if allowed != 1_000_000 {
		t.Fatalf("%d of a million distinct clients got their first event", allowed)
	}
}
