package reloader

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a PEM certificate for name with the given serial, and its PEM key.
func selfSigned(t *testing.T, name string, serial int64) (crt, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}))
}

func TestCertificates(t *testing.T) {
	e := newEnv(t)
	e.write("sites/a.yaml", "host: a.test\nbackend: http://a:80\n")
	r, _, fl := e.open()
	ctx := context.Background()
	if _, v, errs := r.Reload(ctx, "startup"); v != 1 || errs != nil {
		t.Fatalf("startup: %d %v", v, errs)
	}

	// A certificate appears: a new version carries it, key included (the data planes need it).
	crt, key := selfSigned(t, "a.test", 1)
	e.write("certs/a.test.crt", crt)
	e.write("certs/a.test.key", key)
	if changed, v, errs := r.Reload(ctx, "file_watcher"); !changed || v != 2 || errs != nil {
		t.Fatalf("certificate added: changed %v version %d errs %v", changed, v, errs)
	}
	snap, _ := fl.Current()
	if len(snap.GetCertificates()) != 1 || snap.GetCertificates()[0].GetName() != "a.test" || !strings.Contains(string(snap.GetCertificates()[0].GetPrivateKeyPem()), "PRIVATE KEY") {
		t.Fatalf("snapshot certificates: %v", snap.GetCertificates())
	}
	fingerprint := snap.GetCertificates()[0].GetSha256Fingerprint()

	// A new certificate with the old key: reported, skipped, the old one stays: nothing changes.
	other, _ := selfSigned(t, "a.test", 2)
	e.write("certs/a.test.crt", other)
	if changed, v, _ := r.Reload(ctx, "file_watcher"); changed || v != 2 {
		t.Fatalf("mismatched pair: changed %v version %d; want the version in force kept", changed, v)
	}
	if snap, _ := fl.Current(); snap.GetCertificates()[0].GetSha256Fingerprint() != fingerprint {
		t.Fatal("a mismatched pair replaced the working certificate")
	}

	// tls.default_certificate must name a certificate that exists.
	e.write("global.yaml", "tls:\n  default_certificate: nope\n")
	_, v, errs := r.Reload(ctx, "file_watcher")
	if v != 2 || len(errs) != 1 || !strings.Contains(errs[0], `tls.default_certificate "nope": no such certificate`) || !strings.Contains(errs[0], "found: a.test") {
		t.Fatalf("unknown default certificate: version %d errs %v", v, errs)
	}
	e.write("global.yaml", "tls:\n  default_certificate: a.test\n")
	if changed, v, errs := r.Reload(ctx, "file_watcher"); !changed || v != 3 || errs != nil {
		t.Fatalf("known default certificate: changed %v version %d errs %v", changed, v, errs)
	}
	if snap, _ := fl.Current(); snap.GetEdge().GetDefaultCertificate() != "a.test" {
		t.Fatalf("edge settings: %v", snap.GetEdge())
	}
}
