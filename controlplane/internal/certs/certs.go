// Package certs reads the certificate directory (PROXY_CERTS_DIR) into the certificates a
// snapshot carries to the data planes.
//
// # Layouts
//
// One directory may mix all of these; a certificate's name is what identifies it (the
// global file's tls.default_certificate refers to it):
//
//   - certbot / Let's Encrypt: live/<name>/fullchain.pem and live/<name>/privkey.pem, usually
//     symlinks into archive/<name>/ (fullchainN.pem, privkeyN.pem), which are followed.
//     archive/, renewal/, renewal-hooks/, accounts/, keys/ and csr/ are certbot's own and
//     not read.
//   - a lineage copied without live/: <name>/fullchain.pem and <name>/privkey.pem. Without
//     fullchain.pem, cert.pem followed by chain.pem is the chain. The directory may itself
//     be one lineage (PROXY_CERTS_DIR=/etc/letsencrypt/live/example.org); its name is then
//     the directory's.
//   - flat pairs: <name>.crt (or .cer, .cert.pem, .crt.pem) with <name>.key (or .key.pem, or
//     mkcert's <name>-key.pem); <name>.pem holding the chain and the key, or the chain alone
//     next to a key file of the same name.
//
// Names starting with "." (hidden files, Kubernetes' ..data, editor lock files) are
// ignored, and so is every name with another extension (README, site.crt~, site.key.swp).
// When two of these give the same name, the first of this order is used and the others are
// reported: live/<name>, <name>/, <name>.crt-style pair, <name>.pem.
//
// # Problems
//
// A file that cannot be read or parsed, a key that does not match its certificate, a
// certificate without a key or a key without a certificate, and an encrypted key make the
// certificate unusable: it is reported and skipped, and the certificate of the same name
// that the previous scan loaded stays in the set, so a half-finished renewal or a typo never
// replaces a working certificate. Expired and not yet valid certificates are loaded (so the
// administrator sees them) and reported.
//
// Private keys are never part of a Problem, an error or a String result.
package certs

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Kind classifies a Problem.
type Kind string

// The kinds of Problem. The first ones make a certificate unusable; see Problem.Skipped.
const (
	KindBroken      Kind = "broken"              // unreadable or unparsable file
	KindMismatch    Kind = "mismatch"            // the key does not belong to the certificate
	KindMissingKey  Kind = "missing_key"         // a certificate without its key
	KindMissingCert Kind = "missing_certificate" // a key without its certificate
	KindEncrypted   Kind = "encrypted"           // a key protected by a passphrase
	KindDuplicate   Kind = "duplicate"           // a second certificate with a name already taken; ignored
	KindExpired     Kind = "expired"             // loaded, but clients refuse it
	KindNotYetValid Kind = "not_yet_valid"       // loaded, but clients refuse it for now
	KindNoNames     Kind = "no_names"            // loaded, but only usable as the default certificate
)

// Problem is something wrong with the certificate directory.
type Problem struct {
	Kind Kind
	// Name is the certificate's name ("example.org"), or the directory for a problem with the
	// whole directory.
	Name string
	// Files are the files concerned, as found in the directory (symlinks not resolved).
	Files []string
	// Reason says what is wrong, naming the files ("private key /certs/example.org.key does
	// not match certificate /certs/example.org.crt").
	Reason string
	// Kept is set when the files were skipped and the certificate of this name loaded by the
	// previous scan is still served.
	Kept bool
}

// Skipped reports whether the files the problem is about are not served.
func (p Problem) Skipped() bool {
	switch p.Kind {
	case KindExpired, KindNotYetValid, KindNoNames:
		return false
	}
	return true
}

// String is "name: reason", followed by what is served instead.
func (p Problem) String() string {
	s := p.Name + ": " + p.Reason
	switch {
	case p.Kept:
		s += "; the certificate loaded before stays in service"
	case p.Skipped() && p.Kind != KindDuplicate:
		s += "; not served"
	}
	return s
}

// Set is the result of a scan: the certificates to serve. It is immutable; a nil *Set is an
// empty set.
type Set struct {
	certs    []*proxyv1.Certificate // sorted by name
	hash     string
	problems []Problem
}

// Certificates returns the certificates sorted by name. They carry private keys, and they
// are shared: do not modify them (proto.Clone first) and never log them.
func (s *Set) Certificates() []*proxyv1.Certificate {
	if s == nil {
		return nil
	}
	return slices.Clone(s.certs)
}

// Get returns the certificate called name, or nil.
func (s *Set) Get(name string) *proxyv1.Certificate {
	if s == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(s.certs, name, func(c *proxyv1.Certificate, n string) int {
		return strings.Compare(c.GetName(), n)
	})
	if !ok {
		return nil
	}
	return s.certs[i]
}

// Len is the number of certificates.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.certs)
}

// Hash is a hex SHA-256 over everything the certificates carry (names, files, chains, keys):
// two sets have the same hash exactly when they would put the same certificates in a
// snapshot. The empty set's hash is that of no certificate.
func (s *Set) Hash() string {
	if s == nil {
		return hashOf(nil)
	}
	return s.hash
}

// Problems returns what the scan that made s found wrong.
func (s *Set) Problems() []Problem {
	if s == nil {
		return nil
	}
	return slices.Clone(s.problems)
}

// String summarises the set without any key material.
func (s *Set) String() string {
	h := s.Hash()
	return fmt.Sprintf("%d certificates (hash %s, %d problems)", s.Len(), h[:12], len(s.Problems()))
}

func hashOf(certs []*proxyv1.Certificate) string {
	h := sha256.New()
	field := func(h hash.Hash, b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	for _, c := range certs {
		field(h, []byte(c.GetName()))
		field(h, []byte(c.GetCertFile()))
		field(h, []byte(c.GetKeyFile()))
		field(h, c.GetCertChainPem())
		field(h, c.GetPrivateKeyPem())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Scan reads every certificate of dir (see the package documentation for the layouts). A
// certificate whose files are unusable is replaced by previous's certificate of the same
// name, if there is one; previous may be nil (the first scan). The problems are also kept in
// the returned Set.
//
// If dir itself cannot be read, every certificate of previous is kept.
func Scan(dir string, previous *Set) (*Set, []Problem) {
	return scanAt(dir, previous, time.Now())
}

func scanAt(dir string, previous *Set, now time.Time) (*Set, []Problem) {
	cands, problems, err := discover(dir)
	if err != nil {
		problems = append(problems, Problem{Kind: KindBroken, Name: dir, Files: []string{dir},
			Reason: fmt.Sprintf("cannot read the certificate directory: %v", err), Kept: previous.Len() > 0})
		certs := previous.Certificates()
		return finish(certs, problems, now)
	}

	byName := map[string][]candidate{}
	var names []string
	for _, c := range cands {
		if _, ok := byName[c.name]; !ok {
			names = append(names, c.name)
		}
		byName[c.name] = append(byName[c.name], c)
	}
	slices.Sort(names)
	var certs []*proxyv1.Certificate
	for _, name := range names {
		cs := byName[name]
		slices.SortStableFunc(cs, func(a, b candidate) int { return a.rank - b.rank })
		for _, dup := range cs[1:] {
			problems = append(problems, Problem{Kind: KindDuplicate, Name: name, Files: append(dup.files(), cs[0].certFile),
				Reason: fmt.Sprintf("%s is ignored: the name %q is already taken by %s", dup.what(), name, cs[0].what())})
		}
		cert, err := cs[0].load()
		if err != nil {
			pe := &pairError{kind: KindBroken, reason: err.Error()}
			errors.As(err, &pe)
			prev := previous.Get(name)
			problems = append(problems, Problem{Kind: pe.kind, Name: name, Files: cs[0].files(), Reason: pe.reason, Kept: prev != nil})
			if prev != nil {
				certs = append(certs, prev)
			}
			continue
		}
		cert.Name = name
		certs = append(certs, cert)
	}
	return finish(certs, problems, now)
}

// finish sorts certs, reports what is wrong with those that are served, and makes the Set.
func finish(certs []*proxyv1.Certificate, problems []Problem, now time.Time) (*Set, []Problem) {
	slices.SortFunc(certs, func(a, b *proxyv1.Certificate) int { return strings.Compare(a.GetName(), b.GetName()) })
	for _, c := range certs {
		files := []string{c.GetCertFile()}
		switch nb, na := c.GetNotBefore().AsTime(), c.GetNotAfter().AsTime(); {
		case now.After(na):
			problems = append(problems, Problem{Kind: KindExpired, Name: c.GetName(), Files: files,
				Reason: fmt.Sprintf("certificate %s expired on %s", c.GetCertFile(), na.UTC().Format(time.RFC3339))})
		case now.Before(nb):
			problems = append(problems, Problem{Kind: KindNotYetValid, Name: c.GetName(), Files: files,
				Reason: fmt.Sprintf("certificate %s is not valid before %s", c.GetCertFile(), nb.UTC().Format(time.RFC3339))})
		}
		if len(c.GetDnsNames()) == 0 {
			problems = append(problems, Problem{Kind: KindNoNames, Name: c.GetName(), Files: files,
				Reason: fmt.Sprintf("certificate %s names no DNS name; it can only serve as tls.default_certificate", c.GetCertFile())})
		}
	}
	s := &Set{certs: certs, hash: hashOf(certs), problems: problems}
	return s, slices.Clone(problems)
}

// describe names a file for a message, with where a symlink leads: certbot's live/ files are
// symlinks, and a broken renewal is found in archive/.
func describe(path string) string {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return path
	}
	if t, err := filepath.EvalSymlinks(path); err == nil {
		return path + " (-> " + t + ")"
	}
	if t, err := os.Readlink(path); err == nil {
		return path + " (-> " + t + ", missing)"
	}
	return path
}
