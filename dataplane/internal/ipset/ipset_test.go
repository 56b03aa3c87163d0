package ipset

import (
	"net/netip"
	"testing"
)

func TestSet(t *testing.T) {
	s, err := Parse([]string{"10.0.0.0/8", "192.0.2.7", "::ffff:198.51.100.0/120"}, nil, []string{"2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"10.1.2.3", true}, {"::ffff:10.1.2.3", true}, {"11.0.0.1", false},
		{"192.0.2.7", true}, {"192.0.2.8", false},
		{"198.51.100.200", true}, // the mapped network is held as 198.51.100.0/24
		{"2001:db8::1", true}, {"2001:db9::1", false},
	} {
		if got := s.Contains(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Contains(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
	if s.Len() != 4 || s.Contains(netip.Addr{}) {
		t.Errorf("Len = %d; the invalid address must be in no set", s.Len())
	}
	var empty *Set
	if empty.Contains(netip.MustParseAddr("10.0.0.1")) || empty.Len() != 0 {
		t.Error("the nil Set must be empty")
	}
	for _, bad := range []string{"", "10.0.0.0/33", "fe80::1%eth0", "example.org", "10.0.0.0/8/8"} {
		if _, err := Parse([]string{bad}); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
