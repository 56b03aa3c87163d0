// Package ipset is a small set of IP networks written by an administrator: trusted proxies,
// whitelists. Such sets hold a handful of networks, so a linear scan beats a trie.
package ipset

import (
	"fmt"
	"net/netip"
	"strings"
)

// Set is a set of networks; the nil Set is empty. IPv4 networks are held unmapped and masked,
// so 10.0.0.1/8 and ::ffff:10.0.0.0/104 are both 10.0.0.0/8.
type Set struct {
	prefixes []netip.Prefix
}

// Parse reads IP addresses ("192.0.2.7", one host) and CIDR networks ("10.0.0.0/8",
// "2001:db8::/32") from any number of lists; nil lists are fine.
func Parse(lists ...[]string) (*Set, error) {
	s := &Set{}
	for _, list := range lists {
		for _, v := range list {
			p, err := parse(v)
			if err != nil {
				return nil, err
			}
			s.prefixes = append(s.prefixes, p)
		}
	}
	return s, nil
}

func parse(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR network", s)
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Contains reports whether a is in one of the networks. An invalid address is in none.
func (s *Set) Contains(a netip.Addr) bool {
	if s == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range s.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Len is the number of networks.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.prefixes)
}
