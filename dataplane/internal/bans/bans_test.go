package bans

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }

func ban(ip, route string, until time.Time) *proxyv1.Ban {
	b := &proxyv1.Ban{ClientIp: ip, RouteId: route, BannedAt: timestamppb.New(t0), Reason: "test"}
	if !until.IsZero() {
		b.ExpiresAt = timestamppb.New(until)
	}
	return b
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestBannedFromPushedList(t *testing.T) {
	c := &clock{t: t0}
	s := New(Options{Now: c.Now})
	if _, ok := s.Banned(addr("192.0.2.1"), "r1"); ok {
		t.Fatal("banned by an empty set")
	}
	s.SetBans(&proxyv1.BanList{Version: 7, Bans: []*proxyv1.Ban{
		ban("192.0.2.1", "r1", t0.Add(time.Hour)),
		ban("192.0.2.2", "", t0.Add(time.Hour)),
		ban("2001:db8:1:2::1", "r1", t0.Add(time.Hour)),
		ban("198.51.100.1", "", time.Time{}), // no expiry
		ban("198.51.100.2", "", t0.Add(-time.Second)),
		ban("not an address", "", t0.Add(time.Hour)),
		ban("203.0.113.5", "r1", t0.Add(time.Minute)),
		ban("203.0.113.5", "r1", t0.Add(2*time.Hour)), // the longer of two wins
		ban("203.0.113.5", "r1", t0.Add(time.Minute)),
	}})
	cases := []struct {
		ip, route string
		banned    bool
	}{
		{"192.0.2.1", "r1", true},
		{"192.0.2.1", "r2", false}, // a route's ban covers that route only
		{"192.0.2.2", "r1", true},  // an empty route covers every route
		{"192.0.2.2", "r2", true},
		{"192.0.2.3", "r1", false},
		{"::ffff:192.0.2.1", "r1", true},
		{"2001:db8:1:2:aaaa::9", "r1", true}, // the /64 of the banned address
		{"2001:db8:1:3::1", "r1", false},
		{"198.51.100.1", "x", true},
		{"198.51.100.2", "x", false}, // expired before the list arrived
	}
	for _, tc := range cases {
		if _, ok := s.Banned(addr(tc.ip), tc.route); ok != tc.banned {
			t.Errorf("%s on %s: banned %v, want %v", tc.ip, tc.route, ok, tc.banned)
		}
	}
	if _, ok := s.Banned(netip.Addr{}, "r1"); ok {
		t.Error("an unknown client is banned")
	}
	if s.Version() != 7 || s.Len() != 5 {
		t.Errorf("version %d, len %d; want 7 and 5", s.Version(), s.Len())
	}
	c.add(90 * time.Minute)
	if b, ok := s.Banned(addr("203.0.113.5"), "r1"); !ok || !b.Until.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("the longer ban of a duplicate: %v %v", b, ok)
	}
	// Expiry by time: a ban ended an hour after t0 no longer blocks, before any new list.
	if _, ok := s.Banned(addr("192.0.2.1"), "r1"); ok {
		t.Error("an expired ban still blocks")
	}
	if _, ok := s.Banned(addr("198.51.100.1"), "r1"); !ok {
		t.Error("a ban without expiry ended")
	}
}

func TestSetBansReplaces(t *testing.T) {
	c := &clock{t: t0}
	s := New(Options{Now: c.Now})
	s.SetBans(&proxyv1.BanList{Version: 1, Bans: []*proxyv1.Ban{ban("192.0.2.1", "", t0.Add(time.Hour))}})
	s.SetBans(&proxyv1.BanList{Version: 2, Bans: []*proxyv1.Ban{ban("192.0.2.2", "", t0.Add(time.Hour))}})
	if _, ok := s.Banned(addr("192.0.2.1"), "r"); ok {
		t.Error("a ban lifted by the new list still blocks")
	}
	if _, ok := s.Banned(addr("192.0.2.2"), "r"); !ok {
		t.Error("the new list's ban does not block")
	}
	s.SetBans(&proxyv1.BanList{Version: 3})
	if s.Len() != 0 {
		t.Errorf("an empty list left %d bans", s.Len())
	}
}

func TestLocalBans(t *testing.T) {
	ip := addr("192.0.2.9")
	t.Run("apply at once, survive a list sent before the control plane knew", func(t *testing.T) {
		c := &clock{t: t0}
		s := New(Options{Now: c.Now})
		if !s.Add(ip, "r1", t0.Add(time.Hour), "3 failed logins") {
			t.Fatal("Add refused")
		}
		if b, ok := s.Banned(ip, "r1"); !ok || b.Reason != "3 failed logins" || b.RouteID != "r1" {
			t.Fatalf("local ban: %+v %v", b, ok)
		}
		if _, ok := s.Banned(ip, "r2"); ok {
			t.Error("a local ban of r1 blocks r2")
		}
		c.add(LocalGrace - time.Millisecond)
		s.SetBans(&proxyv1.BanList{Version: 1, Bans: []*proxyv1.Ban{ban("192.0.2.1", "", t0.Add(time.Hour))}})
		if _, ok := s.Banned(ip, "r1"); !ok {
			t.Error("a list sent within the grace erased the local ban")
		}
		c.add(time.Millisecond)
		s.SetBans(&proxyv1.BanList{Version: 2})
		if _, ok := s.Banned(ip, "r1"); ok {
			t.Error("a list sent after the grace without the ban kept it (the admin lifted it)")
		}
	})
	t.Run("the list carries it: the local copy goes, a later lift works at once", func(t *testing.T) {
		c := &clock{t: t0}
		s := New(Options{Now: c.Now})
		s.Add(ip, "r1", t0.Add(time.Hour), "x")
		c.add(time.Second)
		s.SetBans(&proxyv1.BanList{Version: 1, Bans: []*proxyv1.Ban{ban("192.0.2.9", "r1", t0.Add(time.Hour))}})
		if s.Len() != 1 || s.localCount.Load() != 0 {
			t.Fatalf("len %d, local %d; want 1 and 0", s.Len(), s.localCount.Load())
		}
		c.add(time.Second)
		s.SetBans(&proxyv1.BanList{Version: 2})
		if _, ok := s.Banned(ip, "r1"); ok {
			t.Error("lifted within the grace but still banned")
		}
	})
	t.Run("no list at all: local bans hold until they expire", func(t *testing.T) {
		c := &clock{t: t0}
		s := New(Options{Now: c.Now})
		s.Add(ip, "", t0.Add(time.Hour), "x")
		c.add(59 * time.Minute)
		if _, ok := s.Banned(ip, "any"); !ok {
			t.Error("a local ban ended early without the control plane")
		}
		c.add(time.Minute)
		if _, ok := s.Banned(ip, "any"); ok {
			t.Error("an expired local ban blocks")
		}
	})
	t.Run("bounded", func(t *testing.T) {
		c := &clock{t: t0}
		s := New(Options{Now: c.Now})
		added := 0
		for i := range 2 * maxLocal {
			if s.Add(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "r", t0.Add(time.Hour), "x") {
				added++
			}
		}
		if added > maxLocal || s.Len() > maxLocal || added < maxLocal*9/10 {
			t.Errorf("added %d, len %d; bound %d", added, s.Len(), maxLocal)
		}
		if s.Add(netip.Addr{}, "r", t0.Add(time.Hour), "x") {
			t.Error("an invalid address was banned")
		}
		// Expired local bans make room.
		c.add(2 * time.Hour)
		if !s.Add(addr("192.0.2.200"), "r", c.t.Add(time.Hour), "x") {
			t.Error("no room after every local ban expired")
		}
	})
}

func TestPushedListBounded(t *testing.T) {
	c := &clock{t: t0}
	s := New(Options{Now: c.Now, MaxBans: 10})
	var bl proxyv1.BanList
	for i := range 30 {
		bl.Bans = append(bl.Bans, ban(fmt.Sprintf("10.0.0.%d", i), "", t0.Add(time.Duration(i+1)*time.Minute)))
	}
	s.SetBans(&bl)
	if s.Len() != 10 {
		t.Fatalf("len %d, want 10", s.Len())
	}
	// The ten that end last are kept.
	for i := range 30 {
		_, ok := s.Banned(addr(fmt.Sprintf("10.0.0.%d", i)), "r")
		if ok != (i >= 20) {
			t.Errorf("10.0.0.%d banned %v", i, ok)
		}
	}
}

func TestConcurrent(t *testing.T) {
	s := New(Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				ip := netip.AddrFrom4([4]byte{10, byte(g), byte(i >> 8), byte(i)})
				switch i % 3 {
				case 0:
					s.Add(ip, "r", time.Now().Add(time.Hour), "x")
				case 1:
					s.Banned(ip, "r")
				default:
					if i%300 == 2 {
						s.SetBans(&proxyv1.BanList{Version: uint64(i), Bans: []*proxyv1.Ban{ban(ip.String(), "", time.Now().Add(time.Hour))}})
					}
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkBanned(b *testing.B) {
	s := New(Options{})
	ip := addr("203.0.113.7")
	b.Run("empty", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Banned(ip, "route-1")
		}
	})
	var bl proxyv1.BanList
	for i := range 10_000 {
		bl.Bans = append(bl.Bans, ban(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String(), "", time.Now().Add(time.Hour)))
	}
	s.SetBans(&bl)
	s.Add(addr("192.0.2.1"), "route-1", time.Now().Add(time.Hour), "x")
	b.Run("10k bans, miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := s.Banned(ip, "route-1"); ok {
				b.Fatal("banned")
			}
		}
	})
	b.Run("10k bans, hit", func(b *testing.B) {
		hit := addr("10.0.1.1")
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := s.Banned(hit, "route-1"); !ok {
				b.Fatal("not banned")
			}
		}
	})
}
