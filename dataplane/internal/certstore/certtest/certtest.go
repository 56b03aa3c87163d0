// Package certtest makes certificates for tests: self-signed leaves in the shape the control
// plane ships them in snapshots. It is imported by tests only.
package certtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// KeyType is the kind of key a certificate gets.
type KeyType int

// Key types.
const (
	ECDSA KeyType = iota
	RSA
)

// Options describe one certificate. Name and DNSNames are required.
type Options struct {
	Name     string
	DNSNames []string
	Key      KeyType
	NotAfter time.Time // zero: in 90 days
}

// New makes a self-signed certificate and its key, as a snapshot carries them. The leaf is its
// own CA, so a client can trust exactly it with Pool.
func New(tb testing.TB, o Options) *proxyv1.Certificate {
	tb.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch o.Key {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	notBefore := time.Now().Add(-time.Hour)
	notAfter := o.NotAfter
	if notAfter.IsZero() {
		notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.DNSNames[0]},
		DNSNames:              o.DNSNames,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if o.Key == RSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return &proxyv1.Certificate{
		Name:              o.Name,
		DnsNames:          o.DNSNames,
		CertChainPem:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKeyPem:     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		NotBefore:         timestamppb.New(notBefore),
		NotAfter:          timestamppb.New(notAfter),
		Issuer:            tmpl.Subject.String(),
		CertFile:          o.Name + ".crt",
		KeyFile:           o.Name + ".key",
		Sha256Fingerprint: hex.EncodeToString(sum[:]),
	}
}

// Pool returns a pool trusting exactly the given certificates (which are self-signed).
func Pool(tb testing.TB, certs ...*proxyv1.Certificate) *x509.CertPool {
	tb.Helper()
	p := x509.NewCertPool()
	for _, c := range certs {
		if !p.AppendCertsFromPEM(c.GetCertChainPem()) {
			tb.Fatalf("certificate %q: no PEM", c.GetName())
		}
	}
	return p
}

// Fingerprint returns the hex SHA-256 of a DER certificate, to compare with
// Certificate.Sha256Fingerprint.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
