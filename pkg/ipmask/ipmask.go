// Package ipmask masks client IP addresses before they leave the data plane, so that stored
// access logs do not identify a person (GDPR). The method comes from a route's
// logging.mask_ip_method; raw addresses are only kept where a security feature needs them.
package ipmask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
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
	// Hash replaces the address by a keyed hash (HMAC-SHA256, 64 bits shown). The same address
	// maps to the same value under one key, so unique visitors can still be counted, but the
	// address cannot be recovered without the key (brute-forcing 2^32 IPv4 addresses needs it).
	Hash Method = "hash"
	// None keeps the address as it is.
	None Method = "none"
)

// Default is the method used when a route names none.
const Default = LastOctet

// MinKeyLen is the shortest key accepted for Hash: a shorter one could be guessed.
const MinKeyLen = 16

// ParseMethod checks a configured method name. The empty string means Default.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case "":
		return Default, nil
	case LastOctet, LastTwoOctets, Hash, None:
		return m, nil
	default:
		return "", fmt.Errorf("unknown IP mask method %q (want %s, %s, %s or %s)",
			s, LastOctet, LastTwoOctets, Hash, None)
	}
}

// Masker masks addresses by one method. Build it once per route with New; the zero value
// masks nothing out and returns "" for every address.
type Masker struct {
	method Method
	key    []byte
}

// New validates a method name (empty means Default) and, for Hash, its key.
func New(method string, key []byte) (Masker, error) {
	m, err := ParseMethod(method)
	if err != nil {
		return Masker{}, err
	}
	if m == Hash && len(key) < MinKeyLen {
		return Masker{}, fmt.Errorf("IP mask method %q needs a key of at least %d bytes, have %d",
			Hash, MinKeyLen, len(key))
	}
	return Masker{method: m, key: key}, nil
}

// Method reports the method the Masker applies.
func (m Masker) Method() Method { return m.method }

// Mask masks addr; see the package function Mask.
func (m Masker) Mask(addr netip.Addr) string { return Mask(addr, m.method, m.key) }

// MaskString masks an address given as text; see the package function MaskString.
func (m Masker) MaskString(s string) string { return MaskString(s, m.method, m.key) }

// Mask masks addr by method. IPv4-mapped IPv6 addresses (::ffff:203.0.113.45) are treated as
// the IPv4 address they carry, and zones are dropped. An invalid address or an unknown method
// gives "": when in doubt nothing leaks. key is only used by Hash.
func Mask(addr netip.Addr, method Method, key []byte) string {
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap().WithZone("")
	switch method {
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
	case Hash:
		return hashAddr(addr, key)
	default:
		return ""
	}
}

// MaskString masks an address given as "ip", "ip%zone", "ip:port" or "[ip]:port" (the form
// of http.Request.RemoteAddr). Text that is not an address gives "".
func MaskString(s string, method Method, key []byte) string {
	// With a port first: that is the common form, and a failed parse costs an allocation.
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return Mask(ap.Addr(), method, key)
	}
	if addr, err := netip.ParseAddr(s); err == nil {
		return Mask(addr, method, key)
	}
	return ""
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

// hashAddr returns the first 64 bits of HMAC-SHA256(key, address) in hex. IPv4 addresses are
// hashed in their 16-byte mapped form, so an address hashes the same however it arrived.
func hashAddr(addr netip.Addr, key []byte) string {
	mac := hmac.New(sha256.New, key)
	b := addr.As16()
	mac.Write(b[:])
	var sum [sha256.Size]byte
	return hex.EncodeToString(mac.Sum(sum[:0])[:8])
}
