package ratelimit

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// t0 is the start of a fixed one-minute window (and of a ten-minute one).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for the tests; nothing sleeps.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time      { return c.t }
func (c *clock) at(ms int64)         { c.t = t0.Add(time.Duration(ms) * time.Millisecond) }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }

func newLimiter(t testing.TB, rl *proxyv1.RateLimit, c *clock, whitelist ...string) *Limiter {
	t.Helper()
	l, err := New(rl, Options{RouteID: "r1", Table: NewTable(1024), Whitelist: whitelist, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
)

// TestWindowEdges checks the sliding window against its definition (window.go) to the
// millisecond: a request at t = kW + e passes iff prev × (W − e) / W + cur + 1 <= limit.
func TestWindowEdges(t *testing.T) {
	type step struct {
		at        int64 // ms after t0
		n         int   // requests sent at that instant
		allowed   int   // how many of them pass
		retry     int64 // Retry-After of the first refused one (0: not checked)
		wantCount int64 // Count of the first refused one (-1: not checked)
	}
	cases := []struct {
		desc  string
		steps []step
	}{
		{"limit then refused, all within one window", []step{
			{at: 0, n: 5, allowed: 5},
			{at: 0, n: 1, allowed: 0, retry: 72, wantCount: 5},
			{at: 59_999, n: 1, allowed: 0, retry: 13, wantCount: 5},
		}},
		{"a full previous window weighs fully at the start of the next", []step{
			{at: 59_999, n: 5, allowed: 5},
			{at: 60_000, n: 1, allowed: 0, retry: 12, wantCount: 5},
			{at: 71_999, n: 1, allowed: 0, retry: 1, wantCount: 4},
			{at: 72_000, n: 1, allowed: 1},
			{at: 72_000, n: 1, allowed: 0, retry: 12},
			{at: 84_000, n: 2, allowed: 1},
		}},
		{"the previous window's share shrinks over the window", []step{
			{at: 0, n: 5, allowed: 5},
			{at: 60_000 + 30_000, n: 3, allowed: 2}, // 5 × 30/60 + 2 <= 5, and a third would make 5.5
			{at: 60_000 + 35_999, n: 1, allowed: 0}, // 5 × 24.001/60 + 2 + 1 > 5
			{at: 60_000 + 36_000, n: 2, allowed: 1}, // 5 × 24/60 + 2 + 1 = 5
			{at: 60_000 + 47_999, n: 1, allowed: 0},
			{at: 60_000 + 48_000, n: 2, allowed: 1}, // 5 × 12/60 + 3 + 1 = 5
		}},
		{"a window idle for a whole window forgets everything", []step{
			{at: 0, n: 5, allowed: 5},
			{at: 120_000, n: 6, allowed: 5},
		}},
		{"refused requests are not counted", []step{
			{at: 0, n: 50, allowed: 5},
			{at: 72_000, n: 2, allowed: 1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := &clock{}
			l := newLimiter(t, &proxyv1.RateLimit{PerIp: 5}, c)
			for i, s := range tc.steps {
				c.at(s.at)
				got, first := 0, Decision{Allowed: true}
				for range s.n {
					d := l.Allow(ip1, "/")
					if d.Allowed {
						got++
					} else if first.Allowed {
						first = d
					}
				}
				if got != s.allowed {
					t.Fatalf("step %d at %d ms: %d of %d allowed, want %d", i, s.at, got, s.n, s.allowed)
				}
				if s.retry != 0 && first.RetryAfter != s.retry {
					t.Errorf("step %d: Retry-After %d, want %d", i, first.RetryAfter, s.retry)
				}
				if s.wantCount > 0 && first.Count != s.wantCount {
					t.Errorf("step %d: count %d, want %d", i, first.Count, s.wantCount)
				}
				if !first.Allowed && first.Rule != "per_ip" {
					t.Errorf("step %d: rule %q", i, first.Rule)
				}
			}
		})
	}
}

// TestRetryAfterIsExact checks that Retry-After is the first whole second at which a request
// passes: one millisecond before it, the request is still refused.
func TestRetryAfterIsExact(t *testing.T) {
	for _, limit := range []int64{1, 2, 3, 5, 7, 100} {
		for _, start := range []int64{0, 1, 17_345, 59_999} {
			c := &clock{}
			l := newLimiter(t, &proxyv1.RateLimit{PerIp: limit}, c)
			c.at(start)
			for range limit {
				if !l.Allow(ip1, "/").Allowed {
					t.Fatalf("limit %d: refused under the limit", limit)
				}
			}
			d := l.Allow(ip1, "/")
			if d.Allowed {
				t.Fatalf("limit %d: over the limit allowed", limit)
			}
			// Find the true first passing millisecond by probing a copy of the state.
			first := int64(-1)
			for ms := start; ms <= start+3*60_000; ms++ {
				k, e := ms/60_000, ms%60_000
				cw := window{start: start / 60_000, cur: uint32(limit)}
				cw.roll(k)
				if fits(cw.prev, cw.cur, e, 60_000, limit) {
					first = ms
					break
				}
			}
			if want := max(1, (first-start+999)/1000); d.RetryAfter != want {
				t.Errorf("limit %d start %d: Retry-After %d, want %d (first pass at %d ms)", limit, start, d.RetryAfter, want, first)
			}
			c.at(first - 1)
			if l.Allow(ip1, "/").Allowed {
				t.Errorf("limit %d start %d: allowed 1 ms before the first passing instant %d", limit, start, first)
			}
			c.at(first)
			if !l.Allow(ip1, "/").Allowed {
				t.Errorf("limit %d start %d: refused at the first passing instant %d", limit, start, first)
			}
		}
	}
}

func TestManyIPsAndPaths(t *testing.T) {
	c := &clock{}
	l := newLimiter(t, &proxyv1.RateLimit{PerIp: 10, Paths: []*proxyv1.RateLimitPath{
		{Path: "/auth/*", PerIp: 3},
		{Path: "/auth/login", PerIp: 1}, // exact beats a prefix: the most specific pattern applies
		{Path: "/api/client/*", PerIp: 5},
	}}, c)
	c.at(1000)
	for i := range 200 {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		count := func(path string, n int) int {
			ok := 0
			for range n {
				if l.Allow(ip, path).Allowed {
					ok++
				}
			}
			return ok
		}
		if got := count("/auth/login", 3); got != 1 {
			t.Fatalf("%v /auth/login: %d allowed, want 1", ip, got)
		}
		if got := count("/auth/register", 5); got != 3 {
			t.Fatalf("%v /auth/*: %d allowed, want 3", ip, got)
		}
		// "/auth" is not under "/auth/*": only per_ip (4 used of 10).
		if got := count("/auth", 2); got != 2 {
			t.Fatalf("%v /auth: %d allowed, want 2", ip, got)
		}
		// Tricks that would reach /auth/ at the backend still count as /auth/*.
		if d := l.Allow(ip, "//auth/x"); d.Allowed || d.Rule != "/auth/*" {
			t.Fatalf("%v //auth/x: %+v", ip, d)
		}
		if d := l.Allow(ip, "/static/../auth/x"); d.Allowed || d.Rule != "/auth/*" {
			t.Fatalf("%v /static/../auth/x: %+v", ip, d)
		}
		// per_ip covers every path: 6 used, 4 left; the path limit of /api/client/* (5) is not
		// consumed by requests per_ip refuses.
		if got := count("/api/client/servers", 6); got != 4 {
			t.Fatalf("%v /api/client: %d allowed, want 4", ip, got)
		}
		if d := l.Allow(ip, "/"); d.Allowed || d.Rule != "per_ip" {
			t.Fatalf("%v: want per_ip refusal, got %+v", ip, d)
		}
	}
}

// TestAllOrNothing checks that a request refused by one limit is counted in none: a path's
// quota is not eaten by requests per_ip refuses, nor a client's by requests global refuses.
func TestAllOrNothing(t *testing.T) {
	c := &clock{}
	l := newLimiter(t, &proxyv1.RateLimit{Global: 3, PerIp: 2, Paths: []*proxyv1.RateLimitPath{{Path: "/a/*", PerIp: 5}}}, c)
	c.at(0)
	hits := func(ip netip.Addr, id uint64) uint32 {
		sh, en := l.table.lookup(slot{client: KeyOf(ip), limit: id})
		defer sh.mu.Unlock()
		if en == nil {
			return 0
		}
		return en.hits.cur
	}
	for range 5 {
		l.Allow(ip1, "/a/x")
	}
	if n := hits(ip1, l.paths[0].id); n != 2 {
		t.Errorf("/a/* counted %d, want 2 (per_ip let 2 through)", n)
	}
	l.Allow(ip2, "/") // global: 3 of 3
	if d := l.Allow(ip2, "/"); d.Allowed || d.Rule != "global" {
		t.Fatalf("want a global refusal, got %+v", d)
	}
	if n := hits(ip2, l.perIP.id); n != 1 {
		t.Errorf("per_ip of ip2 counted %d, want 1", n)
	}
}

func TestGlobalLimit(t *testing.T) {
	c := &clock{}
	l := newLimiter(t, &proxyv1.RateLimit{Global: 100, PerIp: 10}, c)
	c.at(0)
	passed, notified := 0, 0
	for i := range 50 {
		ip := netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})
		for range 10 {
			d := l.Allow(ip, "/")
			if d.Allowed {
				passed++
				continue
			}
			if d.Rule != "global" || d.Limit != 100 {
				t.Fatalf("refused by %q", d.Rule)
			}
			if d.Notify {
				notified++
			}
		}
	}
	if passed != 100 || notified != 1 {
		t.Errorf("passed %d, notified %d; want 100 and 1", passed, notified)
	}
}

func TestNotifyOncePerClientAndWindow(t *testing.T) {
	c := &clock{}
	l := newLimiter(t, &proxyv1.RateLimit{PerIp: 1}, c)
	notes := func(ip netip.Addr, n int) int {
		k := 0
		for range n {
			if d := l.Allow(ip, "/"); !d.Allowed && d.Notify {
				k++
			}
		}
		return k
	}
	c.at(0)
	if n := notes(ip1, 100); n != 1 {
		t.Errorf("first window: %d notifications, want 1", n)
	}
	if n := notes(ip2, 100); n != 1 {
		t.Errorf("another client: %d notifications, want 1", n)
	}
	c.at(59_999)
	if n := notes(ip1, 10); n != 0 {
		t.Errorf("same window: %d notifications, want 0", n)
	}
	c.at(60_000)
	if n := notes(ip1, 10); n != 1 {
		t.Errorf("next window: %d notifications, want 1", n)
	}
}

func TestIPv6Per64(t *testing.T) {
	c := &clock{}
	l := newLimiter(t, &proxyv1.RateLimit{PerIp: 2}, c)
	a := netip.MustParseAddr("2001:db8:1:2::1")
	b := netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff") // same /64
	other := netip.MustParseAddr("2001:db8:1:3::1")              // next /64
	if !l.Allow(a, "/").Allowed || !l.Allow(b, "/").Allowed {
		t.Fatal("refused under the limit")
	}
	if l.Allow(b, "/").Allowed {
		t.Error("a second address of the same /64 got its own quota")
	}
	if !l.Allow(other, "/").Allowed {
		t.Error("another /64 shares the quota")
	}
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	l.Allow(ip1, "/")
	l.Allow(ip1, "/")
	if l.Allow(mapped, "/").Allowed {
		t.Error("an IPv4-mapped address escapes its IPv4 address's limit")
	}
}

func TestWhitelist(t *testing.T) {
	c := &clock{}
	rl := &proxyv1.RateLimit{PerIp: 1, Global: 1, Whitelist: []string{"192.0.2.0/28"},
		Paths:        []*proxyv1.RateLimitPath{{Path: "/auth/*", PerIp: 1, BanAfter: 1, BanDuration: durationpb.New(time.Hour)}},
		FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/auth/login"}, BanAfter: 1, BanDuration: durationpb.New(time.Hour)}}
	l := newLimiter(t, rl, c, "2001:db8::/32", "198.51.100.7")
	for _, s := range []string{"192.0.2.1", "192.0.2.15", "2001:db8:ffff::1", "198.51.100.7", "::ffff:198.51.100.7"} {
		ip := netip.MustParseAddr(s)
		if !l.Whitelisted(ip) {
			t.Errorf("%s not whitelisted", s)
		}
		for range 100 {
			if d := l.Allow(ip, "/auth/x"); !d.Allowed || d.Ban.Decided() {
				t.Fatalf("whitelisted %s refused: %+v", s, d)
			}
			if f := l.Failure(ip, "/auth/login", 401); f.Counted {
				t.Fatalf("whitelisted %s: failed login counted", s)
			}
		}
	}
	for _, s := range []string{"192.0.2.16", "2001:db9::1", "198.51.100.8"} {
		if l.Whitelisted(netip.MustParseAddr(s)) {
			t.Errorf("%s whitelisted", s)
		}
	}
	if l.Whitelisted(netip.Addr{}) {
		t.Error("an unknown client is whitelisted")
	}
}

func TestViolationBans(t *testing.T) {
	rl := &proxyv1.RateLimit{Paths: []*proxyv1.RateLimitPath{
		{Path: "/auth/*", PerIp: 2, BanAfter: 3, BanDuration: durationpb.New(time.Hour), AlertWebhook: true},
		{Path: "/api/*", PerIp: 1}, // no ban_after: refusals never ban
	}}
	// violate sends requests at the clock's time until one is refused, and returns the refusal.
	violate := func(t *testing.T, l *Limiter, path string) Decision {
		for range 10 {
			if d := l.Allow(ip1, path); !d.Allowed {
				return d
			}
		}
		t.Fatal("never refused")
		return Decision{}
	}
	t.Run("third violation bans", func(t *testing.T) {
		c := &clock{}
		l := newLimiter(t, rl, c)
		c.at(5_000)
		for i := 1; i <= 2; i++ {
			if d := violate(t, l, "/auth/login"); d.Ban.Decided() {
				t.Fatalf("violation %d banned", i)
			}
		}
		d := violate(t, l, "/auth/login")
		want := Ban{Until: c.t.Add(time.Hour), Duration: time.Hour, Count: 3, Rule: "/auth/*",
			Reason: "rate limit on /auth/*: 3 violations in 10m0s", AlertWebhook: true}
		if d.Ban != want {
			t.Fatalf("ban %+v, want %+v", d.Ban, want)
		}
		// The count starts again: the next two violations do not ban.
		for range 2 {
			if violate(t, l, "/auth/login").Ban.Decided() {
				t.Fatal("banned again without ban_after new violations")
			}
		}
	})
	t.Run("violations slide out of the ban window", func(t *testing.T) {
		c := &clock{}
		l := newLimiter(t, rl, c)
		c.at(0)
		violate(t, l, "/auth/x")
		violate(t, l, "/auth/x")
		// At 20 minutes the two violations of the window [0, 10m) are out of the sliding window.
		c.at(20 * 60_000)
		if violate(t, l, "/auth/x").Ban.Decided() {
			t.Error("banned by violations 20 minutes old")
		}
		// At 35 minutes the one at 20m weighs (10 − 5)/10: a ban at 0.5 + 3 >= 3, not before.
		c.at(35 * 60_000)
		for i := 1; i <= 2; i++ {
			if violate(t, l, "/auth/x").Ban.Decided() {
				t.Errorf("banned at %d.5 violations", i)
			}
		}
		if !violate(t, l, "/auth/x").Ban.Decided() {
			t.Error("not banned at 3.5 violations")
		}
	})
	t.Run("no ban_after, no ban", func(t *testing.T) {
		c := &clock{}
		l := newLimiter(t, rl, c)
		for range 50 {
			if d := l.Allow(ip1, "/api/x"); d.Ban.Decided() {
				t.Fatal("banned without ban_after")
			}
		}
	})
}

func TestFailedLogins(t *testing.T) {
	fl := &proxyv1.FailedLogins{Paths: []string{"/identity/connect/token", "/auth/*"}, BanAfter: 3,
		Window: durationpb.New(5 * time.Minute), BanDuration: durationpb.New(30 * time.Minute)}
	c := &clock{}
	l := newLimiter(t, &proxyv1.RateLimit{FailedLogins: fl}, c)
	if !l.TracksLogins() {
		t.Fatal("TracksLogins false")
	}
	c.at(1000)
	cases := []struct {
		path    string
		status  int
		counted bool
	}{
		{"/identity/connect/token", 200, false},
		{"/identity/connect/token", 500, false},
		{"/identity/connect/tokens", 401, false},
		{"/other", 401, false},
		{"/identity/connect/token", 401, true},
		{"/auth/login", 403, true},
	}
	for _, tc := range cases {
		if f := l.Failure(ip1, tc.path, tc.status); f.Counted != tc.counted || f.Ban.Decided() {
			t.Errorf("%s %d: %+v, want counted %v and no ban", tc.path, tc.status, f, tc.counted)
		}
	}
	f := l.Failure(ip1, "/auth/login", 401)
	if !f.Ban.Decided() || f.Count != 3 || f.Ban.Rule != "failed_logins" || f.Ban.Until != c.t.Add(30*time.Minute) ||
		f.Ban.Reason != "3 failed logins in 5m0s" {
		t.Fatalf("third failure: %+v", f)
	}
	// Another client's failures are its own; and failures older than the window do not count.
	c.at(1000 + 10*60_000)
	for i := 1; i <= 2; i++ {
		if f := l.Failure(ip2, "/auth/login", 401); f.Count != int64(i) || f.Ban.Decided() {
			t.Fatalf("ip2 failure %d: %+v", i, f)
		}
	}
	c.at(1000 + 20*60_000)
	if f := l.Failure(ip2, "/auth/login", 401); f.Count != 1 {
		t.Errorf("after the window: count %d, want 1", f.Count)
	}
}

func TestFailedLoginsDefaults(t *testing.T) {
	c := &clock{}
	l := newLimiter(t, &proxyv1.RateLimit{FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/login"}, BanAfter: 2,
		BanDuration: durationpb.New(time.Minute)}}, c)
	c.at(0)
	if !l.Failure(ip1, "/login", 401).Counted || !l.Failure(ip1, "/login", 403).Ban.Decided() {
		t.Error("401 and 403 are not the default failure statuses")
	}
	// The default window is 15 minutes: a failure 14 minutes later still counts.
	c.at(0)
	l.Failure(ip2, "/login", 401)
	c.at(14 * 60_000)
	if f := l.Failure(ip2, "/login", 401); !f.Ban.Decided() {
		t.Errorf("default window: %+v", f)
	}
}

func TestNewRejects(t *testing.T) {
	hour := durationpb.New(time.Hour)
	cases := []struct {
		desc string
		rl   *proxyv1.RateLimit
	}{
		{"negative per_ip", &proxyv1.RateLimit{PerIp: -1}},
		{"huge global", &proxyv1.RateLimit{Global: globalMax + 1}},
		{"bad whitelist", &proxyv1.RateLimit{Whitelist: []string{"10.0.0.0/33"}}},
		{"path without /", &proxyv1.RateLimit{Paths: []*proxyv1.RateLimitPath{{Path: "auth/*", PerIp: 1}}}},
		{"star inside", &proxyv1.RateLimit{Paths: []*proxyv1.RateLimitPath{{Path: "/a*b", PerIp: 1}}}},
		{"path per_ip 0", &proxyv1.RateLimit{Paths: []*proxyv1.RateLimitPath{{Path: "/a", PerIp: 0}}}},
		{"ban_after without duration", &proxyv1.RateLimit{Paths: []*proxyv1.RateLimitPath{{Path: "/a", PerIp: 1, BanAfter: 2}}}},
		{"logins without ban_after", &proxyv1.RateLimit{FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/l"}, BanDuration: hour}}},
		{"logins without duration", &proxyv1.RateLimit{FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/l"}, BanAfter: 1}}},
		{"logins bad status", &proxyv1.RateLimit{FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/l"}, BanAfter: 1, BanDuration: hour, Statuses: []int32{42}}}},
		{"logins tiny window", &proxyv1.RateLimit{FailedLogins: &proxyv1.FailedLogins{Paths: []string{"/l"}, BanAfter: 1, BanDuration: hour, Window: durationpb.New(time.Millisecond)}}},
	}
	for _, tc := range cases {
		if _, err := New(tc.rl, Options{Table: NewTable(64)}); err == nil {
			t.Errorf("%s: no error", tc.desc)
		}
	}
	if _, err := New(nil, Options{Table: NewTable(64), Whitelist: []string{"nope"}}); err == nil {
		t.Error("bad global whitelist: no error")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("no table: no error")
	}
}

// TestCountersSurviveSnapshots checks that a rebuilt Limiter with the same limit keeps counting,
// and one with a changed limit starts from zero.
func TestCountersSurviveSnapshots(t *testing.T) {
	c := &clock{}
	table := NewTable(1024)
	build := func(perIP int64) *Limiter {
		l, err := New(&proxyv1.RateLimit{PerIp: perIP}, Options{RouteID: "r", Table: table, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	c.at(0)
	for range 3 {
		build(3).Allow(ip1, "/")
	}
	if build(3).Allow(ip1, "/").Allowed {
		t.Error("a reload reset the counts of an unchanged limit")
	}
	if !build(4).Allow(ip1, "/").Allowed {
		t.Error("a changed limit kept the old counts")
	}
}

func TestConcurrentAllow(t *testing.T) {
	c := &clock{t: t0}
	l := newLimiter(t, &proxyv1.RateLimit{Global: 1000, PerIp: 50}, c)
	done := make(chan int)
	for g := range 8 {
		go func() {
			ok := 0
			for i := range 500 {
				if l.Allow(netip.AddrFrom4([4]byte{10, 9, byte(g), byte(i % 20)}), "/").Allowed {
					ok++
				}
			}
			done <- ok
		}()
	}
	total := 0
	for range 8 {
		total += <-done
	}
	// 8 × 20 clients × 50 would be 8000; the global limit holds at exactly 1000.
	if total != 1000 {
		t.Errorf("%d passed, want 1000", total)
	}
}

func ExampleLimiter_Allow() {
	c := &clock{t: t0}
	l, _ := New(&proxyv1.RateLimit{PerIp: 2}, Options{RouteID: "gpanel", Table: NewTable(0), Now: c.Now})
	for range 3 {
		d := l.Allow(netip.MustParseAddr("203.0.113.9"), "/")
		fmt.Println(d.Allowed, d.RetryAfter)
	}
	// Output:
	// true 0
	// true 0
	// false 90
}

func TestNilLimiter(t *testing.T) {
	var l *Limiter
	if !l.Allow(ip1, "/").Allowed || l.Whitelisted(ip1) || l.Failure(ip1, "/", 401).Counted || l.TracksLogins() {
		t.Error("a nil Limiter limits")
	}
}
