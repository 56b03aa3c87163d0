package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA issues leaf certificates that the test clients trust.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a PEM chain and PEM key for names, with a serial the test can recognise.
func (ca *testCA) issue(t *testing.T, serial int64, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: names, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

// certbotLineage writes archive/<name>/fullchainN.pem and privkeyN.pem and points live/<name>/ at
// them with relative symlinks, swapping the links atomically as certbot does on renewal.
func certbotLineage(t *testing.T, certsDir, name string, n int, certPEM, keyPEM []byte) {
	t.Helper()
	archive := filepath.Join(certsDir, "archive", name)
	live := filepath.Join(certsDir, "live", name)
	for _, d := range []string{archive, live} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	chain := filepath.Join(archive, "fullchain"+itoa(n)+".pem")
	key := filepath.Join(archive, "privkey"+itoa(n)+".pem")
	writeFile(t, chain, string(certPEM))
	writeFile(t, key, string(keyPEM))
	for link, target := range map[string]string{"privkey.pem": key, "fullchain.pem": chain} {
		rel, err := filepath.Rel(live, target)
		if err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(live, "."+link+".new")
		os.Remove(tmp)
		if err := os.Symlink(rel, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(live, link)); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

// servedSerial dials addr with SNI host and returns the serial of the certificate it presents.
func servedSerial(addr, host string, pool *x509.CertPool) (int64, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{ServerName: host, RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64(), nil
}

// freeTCPUDPAddr returns a loopback port free for both TCP (TLS) and UDP (QUIC).
func freeTCPUDPAddr(t *testing.T) string {
	t.Helper()
	for i := 0; i < 20; i++ {
		addr := freeAddr(t)
		if pc, err := net.ListenPacket("udp", addr); err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}
