package ratelimit

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestParseClient(t *testing.T) {
	cases := []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"192.0.2.1:443", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"2001:db8::1", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1"},
		{"", "invalid IP"},
		{"@", "invalid IP"},
		{"example.org:80", "invalid IP"},
		{"192.0.2.1:", "invalid IP"},
		{"1.2.3.4.5", "invalid IP"},
	}
	for _, tc := range cases {
		if got := ParseClient(tc.in).String(); got != tc.want {
			t.Errorf("ParseClient(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestKeyOf(t *testing.T) {
	cases := []struct{ ip, key string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"0.0.0.0", "0.0.0.0/32"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"::", "::/64"},
		{"::1", "::/64"},
		{"::ffff:0:0", "0.0.0.0/32"},
	}
	for _, tc := range cases {
		if got := KeyOf(netip.MustParseAddr(tc.ip)).String(); got != tc.key {
			t.Errorf("KeyOf(%s) = %s, want %s", tc.ip, got, tc.key)
		}
	}
	if k := KeyOf(netip.Addr{}); k.String() != "unknown" || k == KeyOf(netip.MustParseAddr("::")) {
		t.Errorf("the unknown key %v collides", k)
	}
}

// FuzzKey feeds any string through the key handling of the request path: parsing never panics,
// a parsed address falls in its key's network, equal networks give equal keys, IPv4 and IPv6
// never share a key, and the limiter and whitelist accept whatever comes out.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:443", "fe80::1%eth0", "::ffff:1.2.3.4", "", "[]", "[::1", "1.2.3.4:99999", "10.0.0.0/8"} {
		f.Add(s)
	}
	table := NewTable(numShards * 4)
	c := &clock{t: t0}
	l, err := New(&proxyv1.RateLimit{PerIp: 3, Global: 100, Paths: []*proxyv1.RateLimitPath{{Path: "/a/*", PerIp: 1}}},
		Options{RouteID: "f", Table: table, Now: c.Now, Whitelist: []string{"10.0.0.0/8", "2001:db8::/48"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip := ParseClient(s)
		k := KeyOf(ip)
		if !ip.IsValid() {
			if k != unknownKey {
				t.Fatalf("%q: invalid address with key %v", s, k)
			}
		} else {
			if ip.Zone() != "" || ip.Is4In6() {
				t.Fatalf("%q: parsed as %v, with a zone or mapped", s, ip)
			}
			p := k.Prefix()
			if !p.Contains(ip) {
				t.Fatalf("%q: key %v does not contain %v", s, p, ip)
			}
			if KeyOf(p.Addr()) != k || KeyOf(netip.AddrFrom16(ip.As16())) != k {
				t.Fatalf("%q: same network, different keys", s)
			}
			if ip.Is4() != p.Addr().Is4() {
				t.Fatalf("%q: key %v of another family", s, p)
			}
			if ParseClient(ip.String()) != ip {
				t.Fatalf("%q: %v does not parse back", s, ip)
			}
		}
		c.add(time.Second)
		d := l.Allow(ip, s)
		if !d.Allowed && (d.RetryAfter < 1 || d.RetryAfter > 120) {
			t.Fatalf("%q: Retry-After %d", s, d.RetryAfter)
		}
		if w, err := NewWhitelist([]string{s}); err == nil && w.Len() == 1 {
			if a := ParseClient(s); a.IsValid() && !w.Contains(a) {
				t.Fatalf("whitelist %q does not contain its own address", s)
			}
		}
	})
}

// benchClock is a clock for benchmarks that advances 20 µs a call, so that the millions of
// requests of a benchmark stay under a limit of 4 million a minute; it costs what time.Now does.
func benchClock() func() time.Time {
	var ns atomic.Int64
	return func() time.Time { return t0.Add(time.Duration(ns.Add(20_000))) }
}

func BenchmarkAllow(b *testing.B) {
	table := NewTable(0)
	l, err := New(&proxyv1.RateLimit{Global: globalMax, PerIp: globalMax, Paths: []*proxyv1.RateLimitPath{
		{Path: "/auth/*", PerIp: globalMax}, {Path: "/api/*", PerIp: globalMax},
	}}, Options{RouteID: "bench", Table: table, Whitelist: []string{"10.0.0.0/8"}, Now: benchClock()})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, path, ip string }{
		{"per_ip+global", "/index.html", "203.0.113.7"},
		{"path+per_ip+global", "/auth/login", "203.0.113.7"},
		{"ipv6", "/auth/login", "2001:db8:1:2::7"},
		{"whitelisted", "/auth/login", "10.1.2.3"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ip := netip.MustParseAddr(bc.ip)
			b.ReportAllocs()
			for b.Loop() {
				if !l.Allow(ip, bc.path).Allowed {
					b.Fatal("refused")
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				l.Allow(netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)}), "/auth/x")
			}
		})
	})
}
