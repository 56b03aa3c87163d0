// Package clientip decides which address a request comes from. The peer of the connection is
// the client unless it is one of the trusted proxies (global trusted_proxies); then the
// forwarding headers that proxy wrote are believed, and only as far as the trusted proxies go:
//
//   - X-Forwarded-For, every header line and every comma-separated element, is walked from the
//     right (the entry the nearest proxy appended) to the left, skipping trusted addresses. The
//     first untrusted address is the client: everything left of it was written by the client
//     itself or by proxies nobody vouches for. When every entry is trusted, the left-most is
//     the client.
//   - Without an X-Forwarded-For header, X-Real-IP (its last line) from a trusted peer is the
//     client.
//   - A malformed element (not an IP address, optionally with a port or IPv6 brackets; "unknown",
//     obfuscated RFC 7239 names and zones included) stops the walk: the client is then the last
//     address walked over, the trusted proxy that passed the garbage on (or the peer itself). So
//     the client is never an address that an untrusted party chose. Empty list elements are
//     skipped (RFC 9110 section 5.6.1). The walk stops the same way after MaxHops elements, so
//     that a huge header costs a bounded amount of work.
//
// IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are taken as the IPv4 address they carry, in
// trusted_proxies and in addresses alike. The Forwarded header (RFC 7239) is not read.
package clientip

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/ipset"
)

// MaxHops is how many X-Forwarded-For elements the walk looks at, at most.
const MaxHops = 32

// Resolver finds the client of a request. Build it once per snapshot with New; it is immutable
// and safe for concurrent use. A nil *Resolver trusts no proxy: the client is the peer.
type Resolver struct {
	trusted *ipset.Set
}

// New compiles the trusted proxies: IP addresses or CIDR networks ("10.0.0.0/8", "192.0.2.7",
// "2001:db8::/32"). An empty list trusts no proxy.
func New(trusted []string) (*Resolver, error) {
	set, err := ipset.Parse(trusted)
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	return &Resolver{trusted: set}, nil
}

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	return r != nil && r.trusted.Contains(a)
}

// TrustsAny reports whether any proxy is trusted.
func (r *Resolver) TrustsAny() bool { return r != nil && r.trusted.Len() > 0 }

// Client is where a request came from.
type Client struct {
	// Addr is the client's address; invalid when not even the peer's address could be read.
	Addr netip.Addr
	// IP is Addr as text ("" when invalid). It may point into the request's RemoteAddr or
	// header: clone it to keep it beyond the request.
	IP string
	// ForwardedFor is the X-Forwarded-For value for the backend when the client came through
	// trusted proxies: the client, the trusted proxies after it in order, and the peer last,
	// each as a plain address. Entries left of the client are dropped: no trusted proxy
	// vouches for them, and a backend that reads the left-most entry then gets the client.
	// "" when the client is the peer itself.
	ForwardedFor string
}

// Peer returns the client of a request that came from remoteAddr (http.Request.RemoteAddr:
// "ip:port", "[ip]:port" or a bare IP), trusting no header. It does not allocate when the
// address is written in its canonical form.
func Peer(remoteAddr string) Client {
	a, host, ok := parseEntry(remoteAddr)
	if !ok {
		return Client{}
	}
	return Client{Addr: a, IP: text(a, host)}
}

// position locates an X-Forwarded-For element: header line and byte offset.
type position struct{ line, off int }

// Resolve returns the client of a request from peer remoteAddr with header h (see the package
// documentation for the rules). Without trusted proxies, or from an untrusted peer, it is Peer
// and does not allocate; through trusted proxies it allocates ForwardedFor once.
func (r *Resolver) Resolve(remoteAddr string, h http.Header) Client {
	peer := Peer(remoteAddr)
	if !r.TrustsAny() || !r.Trusted(peer.Addr) {
		return peer
	}
	if lines, ok := h["X-Forwarded-For"]; ok {
		return r.walk(peer, lines)
	}
	lines := h["X-Real-Ip"]
	if len(lines) == 0 {
		return peer
	}
	a, _, ok := parseEntry(trimOWS(lines[len(lines)-1]))
	if !ok {
		return peer
	}
	return chain(peer, a, nil, position{})
}

// walk runs the X-Forwarded-For walk from a trusted peer.
func (r *Resolver) walk(peer Client, lines []string) Client {
	client := peer.Addr
	var at position
	found, hops := false, 0
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		for end := len(s); end >= 0 && hops < MaxHops; hops++ {
			start := strings.LastIndexByte(s[:end], ',') + 1
			elem := trimOWS(s[start:end])
			end = start - 1
			if elem == "" {
				continue
			}
			a, _, ok := parseEntry(elem)
			if !ok {
				return chainOrPeer(peer, client, lines, at, found)
			}
			client, at, found = a, position{i, start}, true
			if !r.Trusted(a) {
				return chain(peer, a, lines, at)
			}
		}
		if hops >= MaxHops {
			break
		}
	}
	return chainOrPeer(peer, client, lines, at, found)
}

func chainOrPeer(peer Client, client netip.Addr, lines []string, at position, found bool) Client {
	if !found {
		return peer
	}
	return chain(peer, client, lines, at)
}

// chain is the Client a when it came through trusted proxies: ForwardedFor lists a, the
// X-Forwarded-For elements after position at (all of them parsed by the walk), and the peer.
// lines nil means a came from X-Real-IP.
func chain(peer Client, a netip.Addr, lines []string, at position) Client {
	buf := make([]byte, 0, 64)
	buf = a.AppendTo(buf)
	n := len(buf)
	if lines != nil {
		first := true
		for i := at.line; i < len(lines); i++ {
			s := lines[i]
			if i == at.line {
				s = s[at.off:]
			}
			for s != "" {
				elem, rest, _ := strings.Cut(s, ",")
				s = rest
				elem = trimOWS(elem)
				if elem == "" {
					continue
				}
				if first { // the client itself, already written
					first = false
					continue
				}
				if e, _, ok := parseEntry(elem); ok {
					buf = append(buf, ", "...)
					buf = e.AppendTo(buf)
				}
			}
		}
	}
	buf = append(buf, ", "...)
	buf = peer.Addr.AppendTo(buf)
	ff := string(buf)
	return Client{Addr: a, IP: ff[:n], ForwardedFor: ff}
}

// text returns a's canonical text, which is host (or its end, for an IPv4-mapped address
// written "::ffff:192.0.2.1") when host is written canonically, without allocating.
func text(a netip.Addr, host string) string {
	var buf [64]byte
	b := a.AppendTo(buf[:0])
	if string(b) == host {
		return host
	}
	if len(host) > len(b) && host[len(host)-len(b)-1] == ':' && host[len(host)-len(b):] == string(b) {
		return host[len(host)-len(b):]
	}
	return string(b)
}

// parseEntry reads an address written "ip", "ip:port", "[ipv6]" or "[ipv6]:port", and returns
// it unmapped, with the text of its IP part. Zones are refused: no peer on the internet has one.
func parseEntry(s string) (netip.Addr, string, bool) {
	host := s
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 || !validPort(s[end+1:], true) {
			return netip.Addr{}, "", false
		}
		host = s[1:end]
	case strings.Count(s, ":") == 1: // IPv4 with a port
		i := strings.IndexByte(s, ':')
		if !validPort(s[i:], false) {
			return netip.Addr{}, "", false
		}
		host = s[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, "", false
	}
	if strings.HasPrefix(s, "[") && !a.Is6() {
		return netip.Addr{}, "", false
	}
	if strings.Count(s, ":") == 1 && !a.Is4() {
		return netip.Addr{}, "", false
	}
	return a.Unmap(), host, true
}

// validPort checks ":" followed by 1 to 5 digits up to 65535; "" is fine when optional.
func validPort(s string, optional bool) bool {
	if s == "" {
		return optional
	}
	if s[0] != ':' || len(s) < 2 || len(s) > 6 {
		return false
	}
	n := 0
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// trimOWS trims spaces and tabs (HTTP's optional whitespace).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
