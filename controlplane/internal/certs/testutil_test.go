package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// issued is a certificate made by a test, with its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// certPEM is the certificate alone.
func (c *issued) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

// keyPEM is the key as PKCS#8.
func (c *issued) keyPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// legacyKeyPEM is the key as PKCS#1 (RSA) or SEC 1 (ECDSA), as openssl and certbot write them.
func (c *issued) legacyKeyPEM(t *testing.T) []byte {
	t.Helper()
	switch k := c.key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	t.Fatalf("no legacy encoding for %T", c.key)
	return nil
}

// rsaKey is generated once: RSA key generation is slow under -race.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func newKey(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	switch alg {
	case "rsa":
		return rsaKey()
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	default:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

// sign makes a certificate from tmpl, signed by parent (self-signed when parent is nil).
func sign(t *testing.T, tmpl *x509.Certificate, key crypto.Signer, parent *issued) *issued {
	t.Helper()
	tmpl.SerialNumber = nextSerial()
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	signer, issuerCert := key, tmpl
	if parent != nil {
		signer, issuerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &issued{cert: c, key: key}
}

// pki is a root, an intermediate it signed, and leaves the intermediate signs, like Let's
// Encrypt's ISRG Root X1 → R11 → site.
type pki struct {
	root, inter *issued
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{"Test CA"}},
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
			NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	}
	root := sign(t, ca("Test Root X1"), newKey(t, "ecdsa"), nil)
	return &pki{root: root, inter: sign(t, ca("T11"), newKey(t, "ecdsa"), root)}
}

// leafOpts describes a leaf; the zero value is an ECDSA leaf for example.org valid now.
type leafOpts struct {
	names     []string // DNS SANs; nil means example.org
	cn        string
	alg       string // ecdsa (default), rsa, ed25519
	notBefore time.Time
	notAfter  time.Time
	noSANs    bool
}

func (p *pki) leaf(t *testing.T, o leafOpts) *issued {
	t.Helper()
	if o.names == nil && !o.noSANs {
		o.names = []string{"example.org"}
	}
	return sign(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: o.cn},
		DNSNames:    o.names,
		NotBefore:   o.notBefore,
		NotAfter:    o.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, newKey(t, o.alg), p.inter)
}

// fullchain is the leaf followed by the intermediate, as certbot's fullchain.pem.
func (p *pki) fullchain(l *issued) []byte {
	return append(l.certPEM(), p.inter.certPEM()...)
}

func writeFile(t *testing.T, path string, parts ...[]byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, p := range parts {
		data = append(data, p...)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// symlinkOver points link at target atomically, as certbot does when it renews.
func symlinkOver(t *testing.T, target, link string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(link), 0o755))
	tmp := link + ".new"
	must(t, os.Symlink(target, tmp))
	must(t, os.Rename(tmp, link))
}

// certbotIssue writes generation n of lineage name under dir as certbot does:
// archive/<name>/{cert,chain,fullchain,privkey}N.pem, then live/<name>/*.pem as relative
// symlinks to them, and live/README.
func certbotIssue(t *testing.T, dir, name string, n int, p *pki, l *issued) {
	t.Helper()
	archive := filepath.Join(dir, "archive", name)
	gen := strconv.Itoa(n)
	files := map[string][]byte{
		"cert":      l.certPEM(),
		"chain":     p.inter.certPEM(),
		"fullchain": p.fullchain(l),
		"privkey":   l.keyPEM(t),
	}
	for base, data := range files {
		writeFile(t, filepath.Join(archive, base+gen+".pem"), data)
	}
	for base := range files {
		symlinkOver(t, filepath.Join("..", "..", "archive", name, base+gen+".pem"), filepath.Join(dir, "live", name, base+".pem"))
	}
	writeFile(t, filepath.Join(dir, "live", "README"), []byte("This directory contains your keys and certificates.\n"))
	writeFile(t, filepath.Join(dir, "live", name, "README"), []byte("`privkey.pem`  : the private key for your certificate.\n"))
	writeFile(t, filepath.Join(dir, "renewal", name+".conf"), []byte("version = 2.11.0\n"))
}
