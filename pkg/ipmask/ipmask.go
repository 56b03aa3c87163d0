// Package ipmask masks client IP addresses before they leave the data plane, so that stored
// access logs do not identify a person (GDPR). The method comes from a route's
// logging.mask_ip_method; raw addresses are only kept where a security feature needs them.
package ipmask

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Method is a way of masking an address, as written in the configuration.
type Method string

// The methods an administrator can choose.
const (
	// LastOctet hides the host part: 203.0.113.45 → 203.0.113.xxx; for IPv6 the interface
	// identifier: 2001:db8:1:2:3:4:5:6 → 2001:db8:1:2:xxxx:xxxx:xxxx:xxxx (the /64 stays).
	LastOctet Method = "last_octet"
	// LastTwoOctets hides more: 203.0.113.45 → 203.0.xxx.xxx; for IPv6 everything after the
	// /48 (the size usually assigned to one site): 2001:db8:1:xxxx:xxxx:xxxx:xxxx:xxxx.
	LastTwoOctets Method = "last_two_octets"
	// Prefix keeps a network prefix of configurable length, written in CIDR notation:
	// 203.0.113.45 → 203.0.0.0/16, 2001:db8:1:2::6 → 2001:db8:1::/48 with the defaults (the
	// lengths CNIL recommends for anonymised statistics). On the wire it is "prefix:V4:V6"
	// (FormatPrefix), since the snapshot's Logging message has only mask_ip_method.
	Prefix Method = "prefix"
	// Hash replaces the address by a keyed hash (HMAC-SHA256, 64 bits shown) under a key that
	// changes every UTC day (DayKey): an address hashes the same all day, so visitors can be
	// counted, and differently the next day, so visits cannot be linked across days from the
	// stored log alone.
	Hash Method = "hash"
	// None keeps the address as it is.
	None Method = "none"
)

// Default is the method used when a route names none.
const Default = LastOctet

// Default prefix lengths of Prefix: CNIL's recommendation for statistics that no longer
// identify a subscriber line.
const (
	DefaultPrefixV4 = 16
	DefaultPrefixV6 = 48
)

// Longest prefixes Prefix accepts: longer ones would keep at least what LastOctet keeps.
const (
	MaxPrefixV4 = 24
	MaxPrefixV6 = 64
)

// MinKeyLen is the shortest key accepted for Hash: a shorter one could be guessed.
const MinKeyLen = 16

// Spec is a parsed method: the method and, for Prefix, its lengths.
type Spec struct {
	Method             Method
	PrefixV4, PrefixV6 int
}

// FormatPrefix is the wire form of Prefix with its lengths, "prefix:16:48", which the control
// plane puts in the snapshot's mask_ip_method and Parse reads back.
func FormatPrefix(v4, v6 int) string {
	return string(Prefix) + ":" + strconv.Itoa(v4) + ":" + strconv.Itoa(v6)
}

// Parse checks a method as written in a snapshot: a method name, the empty string (Default),
// "prefix" (the default lengths) or "prefix:V4:V6" with V4 in 0..MaxPrefixV4 and V6 in
// 0..MaxPrefixV6.
func Parse(s string) (Spec, error) {
	switch m := Method(s); m {
	case "":
		return Spec{Method: Default}, nil
	case LastOctet, LastTwoOctets, Hash, None:
		return Spec{Method: m}, nil
	case Prefix:
		return Spec{Method: Prefix, PrefixV4: DefaultPrefixV4, PrefixV6: DefaultPrefixV6}, nil
	}
	if rest, ok := strings.CutPrefix(s, string(Prefix)+":"); ok {
		a, b, _ := strings.Cut(rest, ":")
		v4, err4 := strconv.Atoi(a)
		v6, err6 := strconv.Atoi(b)
		if err4 != nil || err6 != nil || v4 < 0 || v4 > MaxPrefixV4 || v6 < 0 || v6 > MaxPrefixV6 {
			return Spec{}, fmt.Errorf("IP mask method %q: want prefix:V4:V6 with V4 in 0..%d and V6 in 0..%d",
				s, MaxPrefixV4, MaxPrefixV6)
		}
		return Spec{Method: Prefix, PrefixV4: v4, PrefixV6: v6}, nil
	}
	return Spec{}, fmt.Errorf("unknown IP mask method %q (want %s, %s, %s, %s or %s)",
		s, LastOctet, LastTwoOctets, Prefix, Hash, None)
}

// ParseMethod checks a configured method and returns its name; see Parse.
func ParseMethod(s string) (Method, error) {
	spec, err := Parse(s)
	return spec.Method, err
}

// Masker masks addresses by one method. Build it once per route with New; the zero value
// masks nothing out and returns "" for every address. A Masker is safe for concurrent use.
type Masker struct {
	spec Spec
	days *dayKeys // Hash only
}

// New validates a method (see Parse) and, for Hash, the secret the day keys derive from.
func New(method string, secret []byte) (Masker, error) {
	spec, err := Parse(method)
	if err != nil {
		return Masker{}, err
	}
	m := Masker{spec: spec}
	if spec.Method == Hash {
		if len(secret) < MinKeyLen {
			return Masker{}, fmt.Errorf("IP mask method %q needs a key of at least %d bytes, have %d",
				Hash, MinKeyLen, len(secret))
		}
		m.days = newDayKeys(secret)
	}
	return m, nil
}

// Method reports the method the Masker applies.
func (m Masker) Method() Method { return m.spec.Method }

// Spec reports the method and its prefix lengths.
func (m Masker) Spec() Spec { return m.spec }

// Mask masks addr as of now; see MaskAt.
func (m Masker) Mask(addr netip.Addr) string { return m.MaskAt(addr, time.Now()) }

// MaskAt masks addr seen at t (which chooses the day key of Hash). IPv4-mapped IPv6 addresses
// (::ffff:203.0.113.45) are treated as the IPv4 address they carry, and zones are dropped. An
// invalid address, or the zero Masker, gives "": when in doubt nothing leaks.
func (m Masker) MaskAt(addr netip.Addr, t time.Time) string {
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap().WithZone("")
	switch m.spec.Method {
	case None:
		return addr.String()
	case LastOctet:
		if addr.Is4() {
			return keepOctets(addr, 3)
		}
		return keepGroups(addr, 4)
	case LastTwoOctets:
		if addr.Is4() {
			return keepOctets(addr, 2)
		}
		return keepGroups(addr, 3)
	case Prefix:
		if addr.Is4() {
			return prefix(addr, m.spec.PrefixV4)
		}
		return prefix(addr, m.spec.PrefixV6)
	case Hash:
		return m.days.hash(addr, t)
	default:
		return ""
	}
}

// MaskString masks an address given as "ip", "ip%zone", "ip:port" or "[ip]:port" (the form
// of http.Request.RemoteAddr). Text that is not an address gives "".
func (m Masker) MaskString(s string) string {
	// With a port first: that is the common form, and a failed parse costs an allocation.
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return m.Mask(ap.Addr())
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		return m.Mask(addr)
	}
	return ""
}

// Mask masks addr by method (any form Parse accepts) as a Masker built with New(method, key)
// would now. An invalid method, or Hash without a valid key, gives "".
func Mask(addr netip.Addr, method Method, key []byte) string {
	m, err := New(string(method), key)
	if err != nil {
		return ""
	}
	return m.Mask(addr)
}

// MaskString is Masker.MaskString for a method given as text; see Mask.
func MaskString(s string, method Method, key []byte) string {
	m, err := New(string(method), key)
	if err != nil {
		return ""
	}
	return m.MaskString(s)
}

// keepOctets prints the first n octets of an IPv4 address and "xxx" for the rest.
func keepOctets(addr netip.Addr, n int) string {
	b := addr.As4()
	buf := make([]byte, 0, len("255.255.255.255"))
	for i := range 4 {
		if i > 0 {
			buf = append(buf, '.')
		}
		if i < n {
			buf = strconv.AppendUint(buf, uint64(b[i]), 10)
		} else {
			buf = append(buf, "xxx"...)
		}
	}
	return string(buf)
}

// keepGroups prints the first n 16-bit groups of an IPv6 address and "xxxx" for the rest,
// uncompressed so that the masked part is always visible.
func keepGroups(addr netip.Addr, n int) string {
	b := addr.As16()
	buf := make([]byte, 0, len("ffff:ffff:ffff:ffff:xxxx:xxxx:xxxx:xxxx"))
	for i := range 8 {
		if i > 0 {
			buf = append(buf, ':')
		}
		if i < n {
			buf = strconv.AppendUint(buf, uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
		} else {
			buf = append(buf, "xxxx"...)
		}
	}
	return string(buf)
}

// prefix prints the network of addr with bits bits in CIDR notation ("203.0.0.0/16").
func prefix(addr netip.Addr, bits int) string {
	p, err := addr.Prefix(bits)
	if err != nil { // bits out of range: Parse prevents it
		return ""
	}
	var arr [len("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")]byte
	buf := p.Addr().AppendTo(arr[:0])
	buf = append(buf, '/')
	buf = strconv.AppendInt(buf, int64(bits), 10)
	return string(buf)
}
