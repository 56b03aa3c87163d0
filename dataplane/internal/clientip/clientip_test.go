package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func mustNew(t testing.TB, trusted ...string) *Resolver {
	t.Helper()
	r, err := New(trusted)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolve(t *testing.T) {
	lb := []string{"10.0.0.0/8", "192.0.2.7", "2001:db8:ffff::/48"}
	testCases := []struct {
		desc    string
		trusted []string
		peer    string
		xff     []string // X-Forwarded-For lines; nil: none
		realIP  []string // X-Real-IP lines
		want    string
		wantFF  string
	}{
		{desc: "no trusted proxies: the peer", peer: "203.0.113.9:5123", xff: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{desc: "no trusted proxies, IPv6 peer", peer: "[2001:db8::1]:443", want: "2001:db8::1"},
		{desc: "spoofed X-Forwarded-For from an untrusted peer is ignored", trusted: lb, peer: "203.0.113.9:5123",
			xff: []string{"10.1.2.3, 198.51.100.1"}, want: "203.0.113.9"},
		{desc: "spoofed X-Real-IP from an untrusted peer is ignored", trusted: lb, peer: "203.0.113.9:5123",
			realIP: []string{"198.51.100.1"}, want: "203.0.113.9"},
		{desc: "one trusted proxy", trusted: lb, peer: "10.0.0.2:40000", xff: []string{"198.51.100.1"},
			want: "198.51.100.1", wantFF: "198.51.100.1, 10.0.0.2"},
		{desc: "the client's own claim left of the client is dropped", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"6.6.6.6, 198.51.100.1"}, want: "198.51.100.1", wantFF: "198.51.100.1, 10.0.0.2"},
		{desc: "a chain through several trusted proxies", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"6.6.6.6,198.51.100.1 , 192.0.2.7,10.9.9.9"}, want: "198.51.100.1",
			wantFF: "198.51.100.1, 192.0.2.7, 10.9.9.9, 10.0.0.2"},
		{desc: "several header lines are one list", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"6.6.6.6, 198.51.100.1", "192.0.2.7", "10.9.9.9"}, want: "198.51.100.1",
			wantFF: "198.51.100.1, 192.0.2.7, 10.9.9.9, 10.0.0.2"},
		{desc: "spoofed trusted address left of the client does not help", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"10.6.6.6, 203.0.113.50"}, want: "203.0.113.50", wantFF: "203.0.113.50, 10.0.0.2"},
		{desc: "all entries trusted: the left-most", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"10.0.0.5, 10.0.0.4"}, want: "10.0.0.5", wantFF: "10.0.0.5, 10.0.0.4, 10.0.0.2"},
		{desc: "ports, brackets and whitespace", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"[2001:db8::5]:1234,\t192.0.2.7:80 ,  "}, want: "2001:db8::5",
			wantFF: "2001:db8::5, 192.0.2.7, 10.0.0.2"},
		{desc: "IPv6 without brackets", trusted: lb, peer: "10.0.0.2:40000", xff: []string{"2001:db8::5"},
			want: "2001:db8::5", wantFF: "2001:db8::5, 10.0.0.2"},
		{desc: "IPv6 trusted proxy", trusted: lb, peer: "[2001:db8:ffff::1]:40000", xff: []string{"198.51.100.1"},
			want: "198.51.100.1", wantFF: "198.51.100.1, 2001:db8:ffff::1"},
		{desc: "IPv4-mapped addresses are IPv4", trusted: lb, peer: "[::ffff:10.0.0.2]:40000",
			xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1", wantFF: "198.51.100.1, 10.0.0.2"},
		{desc: "IPv4-mapped untrusted peer", peer: "[::ffff:203.0.113.9]:1", want: "203.0.113.9"},
		{desc: "garbage stops the walk at the last trusted address", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"198.51.100.1, unknown, 192.0.2.7"}, want: "192.0.2.7", wantFF: "192.0.2.7, 10.0.0.2"},
		{desc: "garbage right-most: the peer", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"198.51.100.1, <script>"}, want: "10.0.0.2"},
		{desc: "a zone is garbage", trusted: lb, peer: "10.0.0.2:40000", xff: []string{"fe80::1%eth0"}, want: "10.0.0.2"},
		{desc: "an IPv4 in brackets is garbage", trusted: lb, peer: "10.0.0.2:40000", xff: []string{"[198.51.100.1]"}, want: "10.0.0.2"},
		{desc: "a bad port is garbage", trusted: lb, peer: "10.0.0.2:40000", xff: []string{"198.51.100.1:99999"}, want: "10.0.0.2"},
		{desc: "only empty elements: the peer", trusted: lb, peer: "10.0.0.2:40000", xff: []string{" , ,", ""}, want: "10.0.0.2"},
		{desc: "X-Real-IP from a trusted peer", trusted: lb, peer: "10.0.0.2:40000", realIP: []string{" 198.51.100.1 "},
			want: "198.51.100.1", wantFF: "198.51.100.1, 10.0.0.2"},
		{desc: "X-Real-IP, its last line", trusted: lb, peer: "10.0.0.2:40000", realIP: []string{"6.6.6.6", "198.51.100.1"},
			want: "198.51.100.1", wantFF: "198.51.100.1, 10.0.0.2"},
		{desc: "X-Forwarded-For wins over X-Real-IP", trusted: lb, peer: "10.0.0.2:40000",
			xff: []string{"198.51.100.1"}, realIP: []string{"6.6.6.6"}, want: "198.51.100.1", wantFF: "198.51.100.1, 10.0.0.2"},
		{desc: "malformed X-Real-IP: the peer", trusted: lb, peer: "10.0.0.2:40000", realIP: []string{"nope"}, want: "10.0.0.2"},
		{desc: "trusted peer without headers: the peer", trusted: lb, peer: "10.0.0.2:40000", want: "10.0.0.2"},
		{desc: "unreadable peer: no address", trusted: lb, peer: "pipe", want: ""},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			r := mustNew(t, tc.trusted...)
			h := http.Header{}
			if tc.xff != nil {
				h["X-Forwarded-For"] = tc.xff
			}
			if tc.realIP != nil {
				h["X-Real-Ip"] = tc.realIP
			}
			c := r.Resolve(tc.peer, h)
			if c.IP != tc.want || c.ForwardedFor != tc.wantFF {
				t.Fatalf("Resolve = %q, ForwardedFor %q; want %q, %q", c.IP, c.ForwardedFor, tc.want, tc.wantFF)
			}
			if tc.want == "" {
				if c.Addr.IsValid() {
					t.Fatalf("Addr = %v, want invalid", c.Addr)
				}
				return
			}
			if c.Addr != netip.MustParseAddr(tc.want) {
				t.Fatalf("Addr = %v, want %s", c.Addr, tc.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	r := mustNew(t, "10.0.0.1", "::ffff:192.168.0.0/112", "2001:db8::/32", "172.16.5.4/12")
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"10.0.0.1", true}, {"10.0.0.2", false}, {"192.168.7.1", true}, {"::ffff:192.168.7.1", true},
		{"2001:db8:1::1", true}, {"2001:db9::1", false}, {"172.31.0.1", true},
	} {
		if got := r.Trusted(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Trusted(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "example.org", "fe80::1%eth0"} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	var none *Resolver
	if none.Trusted(netip.MustParseAddr("10.0.0.1")) || none.Resolve("10.0.0.1:1", http.Header{"X-Real-Ip": {"1.1.1.1"}}).IP != "10.0.0.1" {
		t.Fatal("a nil Resolver trusts someone")
	}
}

func TestHopsBounded(t *testing.T) {
	r := mustNew(t, "10.0.0.0/8")
	xff := strings.Repeat("10.0.0.9, ", 1000) + "10.0.0.8"
	c := r.Resolve("10.0.0.2:1", http.Header{"X-Forwarded-For": {xff}})
	if c.IP != "10.0.0.9" || strings.Count(c.ForwardedFor, ",") != MaxHops {
		t.Fatalf("got %q with %d hops", c.IP, strings.Count(c.ForwardedFor, ","))
	}
}

func TestResolveAllocs(t *testing.T) {
	none := mustNew(t)
	lb := mustNew(t, "10.0.0.0/8")
	h := http.Header{"X-Forwarded-For": {"198.51.100.1"}}
	for _, tc := range []struct {
		desc string
		r    *Resolver
		peer string
		want float64
	}{
		{"no trusted proxies", none, "203.0.113.9:5123", 0},
		{"untrusted peer", lb, "203.0.113.9:5123", 0},
		{"IPv6 peer", lb, "[2001:db8::1]:5123", 0},
		{"through a trusted proxy: ForwardedFor", lb, "10.0.0.2:5123", 1},
	} {
		if n := testing.AllocsPerRun(100, func() { _ = tc.r.Resolve(tc.peer, h) }); n != tc.want {
			t.Errorf("%s: %v allocations, want %v", tc.desc, n, tc.want)
		}
	}
}

func BenchmarkResolve(b *testing.B) {
	lb := mustNew(b, "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32")
	for _, bc := range []struct {
		name string
		r    *Resolver
		peer string
		h    http.Header
	}{
		{"no-trusted", mustNew(b), "203.0.113.9:5123", http.Header{}},
		{"untrusted-peer", lb, "203.0.113.9:5123", http.Header{"X-Forwarded-For": {"6.6.6.6"}}},
		{"two-proxies", lb, "10.0.0.2:5123", http.Header{"X-Forwarded-For": {"198.51.100.1, 192.168.1.1"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.r.Resolve(bc.peer, bc.h)
			}
		})
	}
}

// FuzzResolve checks, for any peer and headers, that Resolve does not panic and that what it
// returns is consistent: IP is Addr's text; from an untrusted peer the client is the peer; the
// chain for the backend starts with the client, ends with the peer, and every address after
// the client in it is a trusted proxy.
func FuzzResolve(f *testing.F) {
	f.Add("10.0.0.2:1", "198.51.100.1, 10.0.0.3", "", "")
	f.Add("203.0.113.9:5", "10.0.0.1", "", "1.1.1.1")
	f.Add("[::ffff:10.0.0.2]:1", "[2001:db8::1]:80,unknown,  ", "1.2.3.4", "x")
	f.Add("10.0.0.2:1", "", "", "::1")
	r := mustNew(f, "10.0.0.0/8", "2001:db8:ffff::/48")
	f.Fuzz(func(t *testing.T, peer, xff1, xff2, realIP string) {
		h := http.Header{}
		if xff1 != "" || xff2 != "" {
			h["X-Forwarded-For"] = []string{xff1, xff2}
		}
		if realIP != "" {
			h["X-Real-Ip"] = []string{realIP}
		}
		c := r.Resolve(peer, h)
		p := Peer(peer)
		if c.Addr.IsValid() != p.Addr.IsValid() {
			t.Fatalf("client %v from peer %v", c.Addr, p.Addr)
		}
		if !c.Addr.IsValid() {
			return
		}
		if c.IP != c.Addr.String() || c.Addr.Is4In6() {
			t.Fatalf("IP %q for Addr %v", c.IP, c.Addr)
		}
		if !r.Trusted(p.Addr) && c != p {
			t.Fatalf("untrusted peer %v gave %+v", p.Addr, c)
		}
		if c.ForwardedFor == "" {
			if c != p {
				t.Fatalf("client %+v is not the peer %+v but has no chain", c, p)
			}
			return
		}
		hops := strings.Split(c.ForwardedFor, ", ")
		if hops[0] != c.IP || hops[len(hops)-1] != p.IP || len(hops) > MaxHops+2 {
			t.Fatalf("chain %q for client %s, peer %s", c.ForwardedFor, c.IP, p.IP)
		}
		for _, hop := range hops[1:] {
			if !r.Trusted(netip.MustParseAddr(hop)) {
				t.Fatalf("chain %q has the untrusted hop %s", c.ForwardedFor, hop)
			}
		}
	})
}
