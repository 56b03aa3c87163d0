package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// served returns the names of the set's certificates.
func served(s *Set) []string {
	var out []string
	for _, c := range s.Certificates() {
		out = append(out, c.GetName())
	}
	return out
}

// chainOf parses a certificate's chain.
func chainOf(t *testing.T, c *proxyv1.Certificate) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := c.GetCertChainPem()
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		x, err := x509.ParseCertificate(b.Bytes)
		must(t, err)
		out = append(out, x)
	}
}

// checkServable makes sure the data plane's loader accepts what the set carries.
func checkServable(t *testing.T, c *proxyv1.Certificate) {
	t.Helper()
	if _, err := tls.X509KeyPair(c.GetCertChainPem(), c.GetPrivateKeyPem()); err != nil {
		t.Fatalf("%s: tls.X509KeyPair: %v", c.GetName(), err)
	}
}

func noProblems(t *testing.T, problems []Problem) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("unexpected problem: %s %s", p.Kind, p)
	}
}

func TestLayouts(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		desc     string
		setup    func(t *testing.T, dir string) *issued
		want     string // certificate name
		certFile string // relative to dir
		keyFile  string
	}{
		{desc: "certbot live symlinks into archive", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			certbotIssue(t, dir, "example.org", 1, p, l)
			writeFile(t, filepath.Join(dir, "accounts", "acme-v02.api.letsencrypt.org", "directory", "x", "private_key.json"), []byte("{}"))
			writeFile(t, filepath.Join(dir, "keys", "0000_key-certbot.pem"), l.keyPEM(t))
			writeFile(t, filepath.Join(dir, "csr", "0000_csr-certbot.pem"), []byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
			return l
		}, want: "example.org", certFile: "live/example.org/fullchain.pem", keyFile: "live/example.org/privkey.pem"},
		{desc: "lineage copied without live/", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "example.org", "fullchain.pem"), p.fullchain(l))
			writeFile(t, filepath.Join(dir, "example.org", "privkey.pem"), l.keyPEM(t))
			writeFile(t, filepath.Join(dir, "example.org", "cert.pem"), l.certPEM())
			writeFile(t, filepath.Join(dir, "example.org", "chain.pem"), p.inter.certPEM())
			writeFile(t, filepath.Join(dir, "example.org", "README"), []byte("certbot\n"))
			return l
		}, want: "example.org", certFile: "example.org/fullchain.pem", keyFile: "example.org/privkey.pem"},
		{desc: "lineage with cert.pem and chain.pem only", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "example.org", "cert.pem"), l.certPEM())
			writeFile(t, filepath.Join(dir, "example.org", "chain.pem"), p.inter.certPEM())
			writeFile(t, filepath.Join(dir, "example.org", "privkey.pem"), l.keyPEM(t))
			return l
		}, want: "example.org", certFile: "example.org/cert.pem", keyFile: "example.org/privkey.pem"},
		{desc: "crt and key, PKCS#1 RSA", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{alg: "rsa"})
			writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(l))
			writeFile(t, filepath.Join(dir, "example.org.key"), l.legacyKeyPEM(t))
			return l
		}, want: "example.org", certFile: "example.org.crt", keyFile: "example.org.key"},
		{desc: "crt and key, SEC 1 EC", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(l))
			// openssl ecparam -genkey writes the parameters before the key.
			writeFile(t, filepath.Join(dir, "example.org.key"), []byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"), l.legacyKeyPEM(t))
			return l
		}, want: "example.org", certFile: "example.org.crt", keyFile: "example.org.key"},
		{desc: "one .pem with chain and key, Ed25519", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{alg: "ed25519"})
			writeFile(t, filepath.Join(dir, "example.org.pem"), p.fullchain(l), l.keyPEM(t))
			return l
		}, want: "example.org", certFile: "example.org.pem", keyFile: "example.org.pem"},
		{desc: "one .pem with the key first", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "example.org.pem"), l.keyPEM(t), p.fullchain(l))
			return l
		}, want: "example.org", certFile: "example.org.pem", keyFile: "example.org.pem"},
		{desc: ".pem chain next to a .key", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "example.org.pem"), p.fullchain(l))
			writeFile(t, filepath.Join(dir, "example.org.key"), l.keyPEM(t))
			return l
		}, want: "example.org", certFile: "example.org.pem", keyFile: "example.org.key"},
		{desc: ".cert.pem and .key.pem", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "example.org.cert.pem"), p.fullchain(l))
			writeFile(t, filepath.Join(dir, "example.org.key.pem"), l.keyPEM(t))
			return l
		}, want: "example.org", certFile: "example.org.cert.pem", keyFile: "example.org.key.pem"},
		{desc: "DER .cer", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "example.org.cer"), l.cert.Raw)
			writeFile(t, filepath.Join(dir, "example.org.key"), l.keyPEM(t))
			return l
		}, want: "example.org", certFile: "example.org.cer", keyFile: "example.org.key"},
		{desc: "the directory is itself a lineage", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			writeFile(t, filepath.Join(dir, "fullchain.pem"), p.fullchain(l))
			writeFile(t, filepath.Join(dir, "privkey.pem"), l.keyPEM(t))
			return l
		}, want: "self", certFile: "fullchain.pem", keyFile: "privkey.pem"},
		{desc: "symlinked lineage directory", setup: func(t *testing.T, dir string) *issued {
			l := p.leaf(t, leafOpts{})
			elsewhere := filepath.Join(filepath.Dir(dir), "elsewhere")
			writeFile(t, filepath.Join(elsewhere, "fullchain.pem"), p.fullchain(l))
			writeFile(t, filepath.Join(elsewhere, "privkey.pem"), l.keyPEM(t))
			must(t, os.Symlink(elsewhere, filepath.Join(dir, "example.org")))
			return l
		}, want: "example.org", certFile: "example.org/fullchain.pem", keyFile: "example.org/privkey.pem"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "self")
			must(t, os.Mkdir(dir, 0o755))
			l := tc.setup(t, dir)
			set, problems := Scan(dir, nil)
			noProblems(t, problems)
			if got := served(set); !slices.Equal(got, []string{tc.want}) {
				t.Fatalf("served %v, want [%s]", got, tc.want)
			}
			c := set.Get(tc.want)
			if c.GetCertFile() != filepath.Join(dir, tc.certFile) || c.GetKeyFile() != filepath.Join(dir, tc.keyFile) {
				t.Errorf("files %s, %s; want %s, %s", c.GetCertFile(), c.GetKeyFile(), tc.certFile, tc.keyFile)
			}
			chain := chainOf(t, c)
			if !chain[0].Equal(l.cert) {
				t.Errorf("first certificate of the chain is %q, want the leaf", chain[0].Subject)
			}
			if !slices.Equal(c.GetDnsNames(), []string{"example.org"}) {
				t.Errorf("dns names %v", c.GetDnsNames())
			}
			if c.GetIssuer() != "T11" {
				t.Errorf("issuer %q, want T11", c.GetIssuer())
			}
			if !c.GetNotAfter().AsTime().Equal(l.cert.NotAfter) || !c.GetNotBefore().AsTime().Equal(l.cert.NotBefore) {
				t.Errorf("validity %v..%v, want %v..%v", c.GetNotBefore().AsTime(), c.GetNotAfter().AsTime(), l.cert.NotBefore, l.cert.NotAfter)
			}
			if len(c.GetSha256Fingerprint()) != 64 {
				t.Errorf("fingerprint %q", c.GetSha256Fingerprint())
			}
			checkServable(t, c)
		})
	}
}

func TestAllLayoutsAtOnce(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	certbotIssue(t, dir, "a.example.org", 1, p, p.leaf(t, leafOpts{names: []string{"a.example.org"}}))
	b := p.leaf(t, leafOpts{names: []string{"b.example.org"}})
	writeFile(t, filepath.Join(dir, "b", "fullchain.pem"), p.fullchain(b))
	writeFile(t, filepath.Join(dir, "b", "privkey.pem"), b.keyPEM(t))
	c := p.leaf(t, leafOpts{names: []string{"c.example.org"}})
	writeFile(t, filepath.Join(dir, "c.crt"), p.fullchain(c))
	writeFile(t, filepath.Join(dir, "c.key"), c.keyPEM(t))
	d := p.leaf(t, leafOpts{names: []string{"d.example.org"}})
	writeFile(t, filepath.Join(dir, "d.pem"), p.fullchain(d), d.keyPEM(t))
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("renew with certbot renew\n"))
	must(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))

	set, problems := Scan(dir, nil)
	noProblems(t, problems)
	if got, want := served(set), []string{"a.example.org", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v", got, want)
	}
	for _, c := range set.Certificates() {
		checkServable(t, c)
	}
}

func TestIgnoredFiles(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	l := p.leaf(t, leafOpts{})
	writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(l))
	writeFile(t, filepath.Join(dir, "example.org.key"), l.keyPEM(t))
	junk := []byte("not a certificate")
	for _, name := range []string{
		".example.org.crt.swp", ".example.org.key.swp", // vim
		"example.org.crt~", "example.org.key~", // backups
		".#example.org.key", "#example.org.key#", // emacs
		"example.org.crt.tmp", "example.org.key.bak", "example.org.crt.dpkg-new",
		".hidden.pem", "README", "4913",
	} {
		writeFile(t, filepath.Join(dir, name), junk)
	}
	writeFile(t, filepath.Join(dir, ".git", "x.pem"), junk)
	writeFile(t, filepath.Join(dir, "..data", "x.crt"), junk)

	set, problems := Scan(dir, nil)
	noProblems(t, problems)
	if got := served(set); !slices.Equal(got, []string{"example.org"}) {
		t.Fatalf("served %v", got)
	}
}

func TestRenewal(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	first := p.leaf(t, leafOpts{})
	certbotIssue(t, dir, "example.org", 1, p, first)
	before, problems := Scan(dir, nil)
	noProblems(t, problems)

	renewed := p.leaf(t, leafOpts{})
	certbotIssue(t, dir, "example.org", 2, p, renewed)
	after, problems := Scan(dir, before)
	noProblems(t, problems)

	c := after.Get("example.org")
	if !chainOf(t, c)[0].Equal(renewed.cert) {
		t.Fatal("the renewed certificate is not served")
	}
	if c.GetCertFile() != filepath.Join(dir, "live", "example.org", "fullchain.pem") {
		t.Errorf("cert file %s, want the live/ path", c.GetCertFile())
	}
	if after.Hash() == before.Hash() {
		t.Error("the hash did not change with the renewal")
	}
	if c.GetSha256Fingerprint() == before.Get("example.org").GetSha256Fingerprint() {
		t.Error("the fingerprint did not change with the renewal")
	}
	checkServable(t, c)
}

// The key is written first and the certificate after, as a renewal does file by file: the
// scan in between must keep the old pair.
func TestRenewalHalfDone(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	old := p.leaf(t, leafOpts{})
	certbotIssue(t, dir, "example.org", 1, p, old)
	good, _ := Scan(dir, nil)

	renewed := p.leaf(t, leafOpts{})
	writeFile(t, filepath.Join(dir, "archive", "example.org", "privkey2.pem"), renewed.keyPEM(t))
	symlinkOver(t, "../../archive/example.org/privkey2.pem", filepath.Join(dir, "live", "example.org", "privkey.pem"))

	set, problems := Scan(dir, good)
	if len(problems) != 1 || problems[0].Kind != KindMismatch || !problems[0].Kept {
		t.Fatalf("problems %v, want one kept mismatch", problems)
	}
	if !strings.Contains(problems[0].Reason, "privkey2.pem") {
		t.Errorf("reason %q does not say where the symlink leads", problems[0].Reason)
	}
	if c := set.Get("example.org"); c == nil || !chainOf(t, c)[0].Equal(old.cert) {
		t.Fatal("the old certificate is not served any more")
	}
	if set.Hash() != good.Hash() {
		t.Error("keeping the old certificate changed the hash")
	}
}

func TestBrokenPairKeepsPrevious(t *testing.T) {
	p := newPKI(t)
	good := p.leaf(t, leafOpts{})
	other := p.leaf(t, leafOpts{})
	tests := []struct {
		desc   string
		break_ func(t *testing.T, dir string)
		kind   Kind
		reason string // with dir for %[1]s
	}{
		{desc: "mismatched key", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.key"), other.keyPEM(t))
		}, kind: KindMismatch, reason: "private key %[1]s/example.org.key does not match certificate %[1]s/example.org.crt"},
		{desc: "mismatched certificate", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(other))
		}, kind: KindMismatch, reason: "private key %[1]s/example.org.key does not match certificate %[1]s/example.org.crt"},
		{desc: "garbage certificate", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.crt"), []byte("hello"))
		}, kind: KindBroken, reason: "%[1]s/example.org.crt holds no PEM certificate"},
		{desc: "truncated certificate", break_: func(t *testing.T, dir string) {
			pemData := good.certPEM()
			writeFile(t, filepath.Join(dir, "example.org.crt"), pemData[:len(pemData)/2])
		}, kind: KindBroken, reason: "%[1]s/example.org.crt holds no PEM certificate"},
		{desc: "corrupt certificate body", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
		}, kind: KindBroken, reason: "certificate 1 of %[1]s/example.org.crt cannot be parsed"},
		{desc: "empty key", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.key"))
		}, kind: KindMissingKey, reason: "%[1]s/example.org.key holds no private key"},
		{desc: "corrupt key body", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret-bytes")}))
		}, kind: KindBroken, reason: "the PRIVATE KEY block of %[1]s/example.org.key is not a valid PKCS#1, PKCS#8 or SEC 1 private key"},
		{desc: "key deleted", break_: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "example.org.key")))
		}, kind: KindMissingKey, reason: "certificate %[1]s/example.org.crt has no private key (looked for example.org.key or example.org.key.pem)"},
		{desc: "certificate deleted", break_: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "example.org.crt")))
		}, kind: KindMissingCert, reason: "private key %[1]s/example.org.key has no certificate"},
		{desc: "unreadable certificate", break_: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "example.org.crt")))
			must(t, os.Symlink("nowhere.crt", filepath.Join(dir, "example.org.crt")))
		}, kind: KindBroken, reason: "cannot read %[1]s/example.org.crt (-> nowhere.crt, missing): no such file or directory"},
		{desc: "encrypted key", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.key"), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("ciphertext")}))
		}, kind: KindEncrypted, reason: "private key %[1]s/example.org.key is encrypted with a passphrase"},
		{desc: "encrypted legacy key", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
				Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00112233445566778899AABBCCDDEEFF"},
				Bytes:   []byte("ciphertext")}))
		}, kind: KindEncrypted, reason: "private key %[1]s/example.org.key is encrypted with a passphrase"},
		{desc: "two keys in the key file", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.key"), good.keyPEM(t), other.keyPEM(t))
		}, kind: KindBroken, reason: "%[1]s/example.org.key holds more than one private key"},
		{desc: "OpenSSH key", break_: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "example.org.key"), pem.EncodeToMemory(&pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("x")}))
		}, kind: KindBroken, reason: "%[1]s/example.org.key holds an OpenSSH key"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(good))
			writeFile(t, filepath.Join(dir, "example.org.key"), good.keyPEM(t))
			first, problems := Scan(dir, nil)
			noProblems(t, problems)
			tc.break_(t, dir)

			for _, previous := range []*Set{first, nil} {
				set, problems := Scan(dir, previous)
				if len(problems) != 1 {
					t.Fatalf("problems %v, want 1", problems)
				}
				pr := problems[0]
				want := fmt.Sprintf(tc.reason, dir)
				if pr.Kind != tc.kind || pr.Name != "example.org" || !strings.HasPrefix(pr.Reason, want) {
					t.Errorf("problem %s %q\nwant      %s %q...", pr.Kind, pr, tc.kind, want)
				}
				if !pr.Skipped() || pr.Kept != (previous != nil) {
					t.Errorf("skipped %v, kept %v with previous %v", pr.Skipped(), pr.Kept, previous != nil)
				}
				if len(pr.Files) == 0 {
					t.Error("no files in the problem")
				}
				if !reflect.DeepEqual(set.Problems(), problems) {
					t.Error("Set.Problems differs from the returned problems")
				}
				if previous == nil {
					if set.Len() != 0 {
						t.Errorf("served %v from broken files", served(set))
					}
					continue
				}
				if c := set.Get("example.org"); c == nil || !chainOf(t, c)[0].Equal(good.cert) {
					t.Fatal("the good certificate is not served any more")
				}
				if set.Hash() != first.Hash() {
					t.Error("hash changed although the served certificates did not")
				}
			}
		})
	}
}

func TestMismatchMessage(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	a, b := p.leaf(t, leafOpts{}), p.leaf(t, leafOpts{})
	writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(a))
	writeFile(t, filepath.Join(dir, "example.org.key"), b.keyPEM(t))
	_, problems := Scan(dir, nil)
	want := fmt.Sprintf("example.org: private key %[1]s/example.org.key does not match certificate %[1]s/example.org.crt; not served", dir)
	if len(problems) != 1 || problems[0].String() != want {
		t.Fatalf("problems %v\nwant %s", problems, want)
	}
	if f := problems[0].Files; !slices.Contains(f, filepath.Join(dir, "example.org.crt")) || !slices.Contains(f, filepath.Join(dir, "example.org.key")) {
		t.Errorf("files %v", f)
	}
}

func TestNames(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		desc string
		opts leafOpts
		want []string
	}{
		{desc: "wildcard and apex, case and trailing dot folded", opts: leafOpts{names: []string{"*.Example.ORG", "example.org.", "EXAMPLE.org"}, cn: "ignored.example"},
			want: []string{"*.example.org", "example.org"}},
		{desc: "common name when there is no SAN", opts: leafOpts{noSANs: true, cn: "Legacy.Example.org"}, want: []string{"legacy.example.org"}},
		{desc: "SANs win over the common name", opts: leafOpts{names: []string{"a.example.org"}, cn: "b.example.org"}, want: []string{"a.example.org"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			l := p.leaf(t, tc.opts)
			writeFile(t, filepath.Join(dir, "site.pem"), p.fullchain(l), l.keyPEM(t))
			set, problems := Scan(dir, nil)
			noProblems(t, problems)
			if got := set.Get("site").GetDnsNames(); !slices.Equal(got, tc.want) {
				t.Fatalf("names %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("no names at all", func(t *testing.T) {
		dir := t.TempDir()
		l := p.leaf(t, leafOpts{noSANs: true})
		writeFile(t, filepath.Join(dir, "fallback.pem"), l.certPEM(), l.keyPEM(t))
		set, problems := Scan(dir, nil)
		if set.Get("fallback") == nil || len(problems) != 1 || problems[0].Kind != KindNoNames || problems[0].Skipped() {
			t.Fatalf("served %v, problems %v; want it served with a no_names problem", served(set), problems)
		}
	})
}

func TestChainOrder(t *testing.T) {
	p := newPKI(t)
	l := p.leaf(t, leafOpts{})
	unrelated := newPKI(t).inter
	tests := []struct {
		desc  string
		file  [][]byte
		order []*issued
	}{
		{desc: "leaf first", file: [][]byte{l.certPEM(), p.inter.certPEM()}, order: []*issued{l, p.inter}},
		{desc: "leaf last", file: [][]byte{p.inter.certPEM(), l.certPEM()}, order: []*issued{l, p.inter}},
		{desc: "reversed with root", file: [][]byte{p.root.certPEM(), p.inter.certPEM(), l.certPEM()}, order: []*issued{l, p.inter, p.root}},
		{desc: "shuffled, duplicate and unrelated", file: [][]byte{p.root.certPEM(), unrelated.certPEM(), l.certPEM(), p.inter.certPEM(), l.certPEM()},
			order: []*issued{l, p.inter, p.root, unrelated}},
		{desc: "text around the blocks", file: [][]byte{[]byte("subject=CN=example.org\n"), l.certPEM(), []byte("issuer=T11\n"), p.inter.certPEM()},
			order: []*issued{l, p.inter}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "example.org.crt"), tc.file...)
			writeFile(t, filepath.Join(dir, "example.org.key"), l.keyPEM(t))
			set, problems := Scan(dir, nil)
			noProblems(t, problems)
			c := set.Get("example.org")
			chain := chainOf(t, c)
			if len(chain) != len(tc.order) {
				t.Fatalf("chain has %d certificates, want %d", len(chain), len(tc.order))
			}
			for i, want := range tc.order {
				if !chain[i].Equal(want.cert) {
					t.Errorf("chain[%d] is %q, want %q", i, chain[i].Subject, want.cert.Subject)
				}
			}
			if c.GetIssuer() != "T11" {
				t.Errorf("issuer %q", c.GetIssuer())
			}
			checkServable(t, c)
		})
	}
}

func TestValidity(t *testing.T) {
	p := newPKI(t)
	now := time.Now()
	tests := []struct {
		desc string
		opts leafOpts
		kind Kind
	}{
		{desc: "expired", opts: leafOpts{notBefore: now.Add(-100 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)}, kind: KindExpired},
		{desc: "not yet valid", opts: leafOpts{notBefore: now.Add(24 * time.Hour), notAfter: now.Add(100 * 24 * time.Hour)}, kind: KindNotYetValid},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			l := p.leaf(t, tc.opts)
			writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(l))
			writeFile(t, filepath.Join(dir, "example.org.key"), l.keyPEM(t))
			set, problems := Scan(dir, nil)
			if set.Get("example.org") == nil {
				t.Fatal("not loaded; the administrator must see it")
			}
			if len(problems) != 1 || problems[0].Kind != tc.kind || problems[0].Skipped() || problems[0].Kept {
				t.Fatalf("problems %v, want one %s", problems, tc.kind)
			}
			if !strings.Contains(problems[0].Reason, filepath.Join(dir, "example.org.crt")) {
				t.Errorf("reason %q does not name the file", problems[0].Reason)
			}
		})
	}
}

func TestDuplicateNames(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	live, flat, pemOnly := p.leaf(t, leafOpts{}), p.leaf(t, leafOpts{}), p.leaf(t, leafOpts{})
	certbotIssue(t, dir, "example.org", 1, p, live)
	writeFile(t, filepath.Join(dir, "example.org.crt"), p.fullchain(flat))
	writeFile(t, filepath.Join(dir, "example.org.key"), flat.keyPEM(t))
	writeFile(t, filepath.Join(dir, "example.org.pem"), p.fullchain(pemOnly), pemOnly.keyPEM(t))
	set, problems := Scan(dir, nil)
	if c := set.Get("example.org"); c == nil || !chainOf(t, c)[0].Equal(live.cert) {
		t.Fatal("live/ does not win")
	}
	if len(problems) != 2 {
		t.Fatalf("problems %v, want 2 duplicates", problems)
	}
	for _, pr := range problems {
		if pr.Kind != KindDuplicate || !strings.Contains(pr.Reason, "already taken by lineage "+filepath.Join(dir, "live", "example.org")) {
			t.Errorf("problem %s %s", pr.Kind, pr)
		}
	}
}

func TestMissingDirectoryKeepsEverything(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	l := p.leaf(t, leafOpts{})
	writeFile(t, filepath.Join(dir, "example.org.pem"), p.fullchain(l), l.keyPEM(t))
	first, _ := Scan(dir, nil)
	must(t, os.RemoveAll(dir))
	set, problems := Scan(dir, first)
	if set.Hash() != first.Hash() || len(problems) != 1 || !problems[0].Kept || problems[0].Kind != KindBroken {
		t.Fatalf("served %v, problems %v", served(set), problems)
	}
}

func TestHashFollowsContent(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	l := p.leaf(t, leafOpts{})
	crt, key := filepath.Join(dir, "example.org.crt"), filepath.Join(dir, "example.org.key")
	writeFile(t, crt, p.fullchain(l))
	writeFile(t, key, l.keyPEM(t))
	scan := func() string {
		t.Helper()
		s, problems := Scan(dir, nil)
		noProblems(t, problems)
		return s.Hash()
	}
	h0 := scan()
	if h := scan(); h != h0 {
		t.Fatal("hash differs between two scans of the same files")
	}
	future := time.Now().Add(time.Hour)
	must(t, os.Chtimes(crt, future, future))
	writeFile(t, key, l.legacyKeyPEM(t)) // same key, other encoding
	writeFile(t, filepath.Join(dir, "notes.txt"), []byte("x"))
	if h := scan(); h != h0 {
		t.Fatal("hash changed although no certificate did")
	}
	writeFile(t, crt, l.certPEM()) // the chain loses its intermediate
	h1 := scan()
	if h1 == h0 {
		t.Fatal("hash did not change with the chain")
	}
	must(t, os.Rename(crt, filepath.Join(dir, "example.org.cer")))
	h2 := scan()
	if h2 == h1 {
		t.Fatal("hash did not change with the file name")
	}
	if (*Set)(nil).Hash() == h2 || (*Set)(nil).Hash() != (&Set{hash: hashOf(nil)}).Hash() {
		t.Fatal("empty set hash")
	}
}

// Nothing a scan returns or prints may contain key material.
func TestKeysNeverPrinted(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	good, other := p.leaf(t, leafOpts{}), p.leaf(t, leafOpts{alg: "rsa"})
	writeFile(t, filepath.Join(dir, "good.pem"), p.fullchain(good), good.keyPEM(t))
	writeFile(t, filepath.Join(dir, "bad.crt"), p.fullchain(good))
	writeFile(t, filepath.Join(dir, "bad.key"), other.legacyKeyPEM(t))
	almost := other.legacyKeyPEM(t)
	almost[100] ^= 0x55 // a corrupt key: parsers may quote what they saw
	writeFile(t, filepath.Join(dir, "corrupt.crt"), p.fullchain(good))
	writeFile(t, filepath.Join(dir, "corrupt.key"), almost)

	set, problems := Scan(dir, nil)
	if len(problems) != 2 {
		t.Fatalf("problems %v, want 2", problems)
	}
	printed := fmt.Sprintf("%v %+v %s %#v %v", set, set, problems, problems, set.Problems())
	secrets := [][]byte{good.keyPEM(t), other.legacyKeyPEM(t), almost, set.Get("good").GetPrivateKeyPem()}
	for _, s := range secrets {
		b, _ := pem.Decode(s)
		if b == nil {
			continue
		}
		for _, enc := range []string{base64.StdEncoding.EncodeToString(b.Bytes)[:24], fmt.Sprintf("%x", b.Bytes[:12]), string(b.Bytes[:12])} {
			if strings.Contains(printed, enc) {
				t.Fatalf("key material %q printed:\n%s", enc, printed)
			}
		}
	}
	if strings.Contains(printed, "PRIVATE KEY-----") || bytes.Contains([]byte(printed), []byte("MII")) {
		t.Fatalf("key printed:\n%s", printed)
	}
}
