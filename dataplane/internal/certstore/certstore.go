// Package certstore picks the TLS certificate for a handshake from the certificates of one
// snapshot.
//
// A Store is built once per snapshot (New parses every chain and key there, so a broken pair
// NACKs the snapshot instead of failing handshakes later) and never changes afterwards: lookups
// read immutable maps without locks. A new snapshot gives a new Store, which the caller swaps in
// atomically; handshakes that already picked a certificate keep it.
//
// Selection for a server name (SNI), case-insensitive and with a trailing dot ignored:
//  1. a certificate with exactly that DNS name;
//  2. a wildcard certificate for its parent domain ("*.example.org" covers "a.example.org" but
//     not "a.b.example.org" nor "example.org", as TLS clients check, RFC 6125 §6.4.3);
//  3. the default certificate, if the snapshot names one.
//
// A client without SNI (one that connects to an IP address) gets the default. Where several
// certificates cover a name, one the client can use is chosen, ECDSA before RSA, the one that
// expires last first.
package certstore

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// ErrNoCertificate is returned by GetCertificate when no certificate covers the name and there
// is no default. A tls.Config should turn it into an unrecognized_name alert (see Store).
var ErrNoCertificate = errors.New("certstore: no certificate for server name")

// Store selects certificates by server name. It is immutable and safe for concurrent use.
// The zero value and a nil *Store hold no certificates.
type Store struct {
	exact    map[string]candidates // "www.example.org" → certificates with that DNS name
	wildcard map[string]candidates // "example.org" → certificates for "*.example.org"
	def      candidates
	count    int
}

// candidates are the certificates that cover one name, best first: ECDSA, then Ed25519, then
// RSA; within a key type the one that expires last first.
type candidates []*tls.Certificate

// New parses certs (each chain with its key) and indexes them by the DNS names of their leaf.
// defaultName, if not empty, must be the name of one of certs. Any certificate that does not
// parse, or a default that is not there, is an error: the caller refuses the whole snapshot.
func New(certs []*proxyv1.Certificate, defaultName string) (*Store, error) {
	s := &Store{
		exact:    make(map[string]candidates),
		wildcard: make(map[string]candidates),
	}
	byName := make(map[string]*tls.Certificate, len(certs))
	for i, c := range certs {
		name := c.GetName()
		if name == "" {
			return nil, fmt.Errorf("certificate %d: no name", i)
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("certificate %q: name used twice", name)
		}
		tc, err := parse(c)
		if err != nil {
			return nil, fmt.Errorf("certificate %q: %w", name, err)
		}
		byName[name] = tc
		names := tc.Leaf.DNSNames
		if len(names) == 0 {
			// A leaf without DNS SANs (an old self-signed one): fall back to what the control
			// plane says it is for. Clients that check SANs will refuse it anyway.
			names = c.GetDnsNames()
		}
		seen := make(map[string]bool, len(names))
		for _, n := range names {
			n = normalize(n)
			if n == "" || seen[n] {
				continue
			}
			seen[n] = true
			if parent, ok := strings.CutPrefix(n, "*."); ok {
				if parent != "" && !strings.Contains(parent, "*") {
					s.wildcard[parent] = append(s.wildcard[parent], tc)
				}
				continue
			}
			if !strings.Contains(n, "*") { // partial wildcards ("w*.example.org") are not served
				s.exact[n] = append(s.exact[n], tc)
			}
		}
	}
	if defaultName != "" {
		d, ok := byName[defaultName]
		if !ok {
			return nil, fmt.Errorf("default certificate %q is not among the %d certificates", defaultName, len(certs))
		}
		s.def = candidates{d}
	}
	for _, m := range []map[string]candidates{s.exact, s.wildcard} {
		for k, cs := range m {
			m[k] = sortCandidates(cs)
		}
	}
	s.count = len(byName)
	return s, nil
}

// parse turns one certificate of the snapshot into a tls.Certificate with its Leaf set.
func parse(c *proxyv1.Certificate) (*tls.Certificate, error) {
	if len(c.GetCertChainPem()) == 0 || len(c.GetPrivateKeyPem()) == 0 {
		return nil, errors.New("certificate chain or private key missing")
	}
	// X509KeyPair checks that the key matches the leaf and, since Go 1.23, sets Leaf. Its errors
	// never contain key material.
	tc, err := tls.X509KeyPair(c.GetCertChainPem(), c.GetPrivateKeyPem())
	if err != nil {
		return nil, err
	}
	if tc.Leaf == nil {
		if tc.Leaf, err = x509.ParseCertificate(tc.Certificate[0]); err != nil {
			return nil, err
		}
	}
	return &tc, nil
}

func sortCandidates(cs candidates) candidates {
	slices.SortStableFunc(cs, func(a, b *tls.Certificate) int {
		if ka, kb := keyRank(a), keyRank(b); ka != kb {
			return ka - kb
		}
		return b.Leaf.NotAfter.Compare(a.Leaf.NotAfter)
	})
	return slices.Clip(cs)
}

func keyRank(c *tls.Certificate) int {
	switch c.PrivateKey.(type) {
	case *ecdsa.PrivateKey:
		return 0
	case ed25519.PrivateKey:
		return 1
	default:
		return 2
	}
}

// normalize lower-cases a DNS name and drops a trailing dot. ASCII only: SNI carries A-labels.
func normalize(name string) string {
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(name)
		}
	}
	return name
}

// Len returns how many certificates the Store holds.
func (s *Store) Len() int {
	if s == nil {
		return 0
	}
	return s.count
}

// lookup returns the certificates for a server name without the default; name is normalized.
func (s *Store) lookup(name string) candidates {
	if cs, ok := s.exact[name]; ok {
		return cs
	}
	if _, parent, ok := strings.Cut(name, "."); ok && parent != "" {
		if cs, ok := s.wildcard[parent]; ok {
			return cs
		}
	}
	return nil
}

// GetCertificate returns the certificate for the handshake, with the signature of
// tls.Config.GetCertificate. When nothing matches and there is no default it returns
// ErrNoCertificate.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s == nil {
		return nil, ErrNoCertificate
	}
	var cs candidates
	if hello.ServerName != "" {
		cs = s.lookup(normalize(hello.ServerName))
	}
	if len(cs) == 0 {
		cs = s.def
	}
	switch len(cs) {
	case 0:
		return nil, ErrNoCertificate
	case 1:
		return cs[0], nil
	}
	for _, c := range cs {
		if hello.SupportsCertificate(c) == nil {
			return c, nil
		}
	}
	// None fits what the client says it supports: offer the best one and let the handshake
	// decide, rather than refusing a client whose hello is merely unusual.
	return cs[0], nil
}

// HasCertificate reports whether a certificate other than the default covers host (a host name,
// optionally with a port). The port-80 listener redirects exactly these hosts to HTTPS.
func (s *Store) HasCertificate(host string) bool {
	if s == nil || host == "" {
		return false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return len(s.lookup(normalize(host))) > 0
}
