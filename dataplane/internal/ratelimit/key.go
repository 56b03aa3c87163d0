package ratelimit

import (
	"fmt"
	"net/netip"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/ipset"
)

// Key is the client a limit counts and a ban blocks: an IPv4 address, or the /64 network of an
// IPv6 address. One subscriber line gets a whole /64 (often a /56), so counting single IPv6
// addresses would let a client reset its limits by picking a new address from its own network.
type Key struct{ hi, lo uint64 }

// unknownKey is the one key of every client whose address does not parse. An IPv6 /64 key has
// lo == 0 and an IPv4 key (in its ::ffff:a.b.c.d form) has lo >= 0xffff<<32, so no address maps
// to it.
var unknownKey = Key{lo: 1}

// KeyOf returns the key of ip. IPv4-mapped IPv6 addresses count as their IPv4 address, zones are
// ignored, and an invalid address gets the shared key of unknown clients.
func KeyOf(ip netip.Addr) Key {
	if !ip.IsValid() {
		return unknownKey
	}
	ip = ip.Unmap()
	b := ip.As16() // IPv4 as ::ffff:a.b.c.d
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	if ip.Is6() {
		return Key{hi: hi}
	}
	return Key{hi: hi, lo: 0xffff<<32 | uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])}
}

// Prefix returns the network a key stands for (a /32 or a /64), invalid for the unknown key.
func (k Key) Prefix() netip.Prefix {
	if k == unknownKey {
		return netip.Prefix{}
	}
	var b [16]byte
	for i := range 8 {
		b[i] = byte(k.hi >> (56 - 8*i))
		b[8+i] = byte(k.lo >> (56 - 8*i))
	}
	a := netip.AddrFrom16(b)
	if a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), 32)
	}
	return netip.PrefixFrom(a, 64)
}

func (k Key) String() string {
	if k == unknownKey {
		return "unknown"
	}
	return k.Prefix().String()
}

// ParseClient reads a client address as the edge has it: an address, possibly with a port
// ("192.0.2.1:443", "[2001:db8::1]:443"), brackets or a zone. It never fails: anything else is
// the invalid Addr, which KeyOf maps to the key of unknown clients (so they share one limit
// instead of escaping all of them).
func ParseClient(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap()
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.WithZone("").Unmap()
		}
	}
	return netip.Addr{}
}

// Whitelist holds the client networks that are never limited nor banned: a route's whitelist
// and the global one. The nil Whitelist is empty.
type Whitelist = ipset.Set

// NewWhitelist parses lists of IP addresses and CIDR networks; nil lists are fine.
func NewWhitelist(lists ...[]string) (*Whitelist, error) {
	w, err := ipset.Parse(lists...)
	if err != nil {
		return nil, fmt.Errorf("whitelist: %w", err)
	}
	return w, nil
}

// Hash mixes the key's bits, for spreading keys over shards.
func (k Key) Hash() uint64 {
	h := k.hi*0x9e3779b97f4a7c15 ^ k.lo*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}
