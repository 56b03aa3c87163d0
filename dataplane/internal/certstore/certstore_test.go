package certstore_test

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/certstore"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/certstore/certtest"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// fixture is a set of certificates shared by the tests of this file.
type fixture struct {
	exact, wild, deeperWild, fallback *proxyv1.Certificate
	all                               []*proxyv1.Certificate
}

func newFixture(t testing.TB) fixture {
	f := fixture{
		exact:      certtest.New(t, certtest.Options{Name: "www", DNSNames: []string{"www.example.org", "example.org"}}),
		wild:       certtest.New(t, certtest.Options{Name: "wild", DNSNames: []string{"*.example.org"}}),
		deeperWild: certtest.New(t, certtest.Options{Name: "deeper", DNSNames: []string{"*.eu.example.org"}}),
		fallback:   certtest.New(t, certtest.Options{Name: "fallback", DNSNames: []string{"fallback.test"}}),
	}
	f.all = []*proxyv1.Certificate{f.exact, f.wild, f.deeperWild, f.fallback}
	return f
}

func fingerprint(t *testing.T, c *tls.Certificate) string {
	t.Helper()
	if c == nil {
		t.Fatal("nil certificate")
	}
	return certtest.Fingerprint(c.Certificate[0])
}

func TestGetCertificate(t *testing.T) {
	f := newFixture(t)
	withDefault, err := certstore.New(f.all, "fallback")
	if err != nil {
		t.Fatal(err)
	}
	noDefault, err := certstore.New(f.all, "")
	if err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		desc      string
		sni       string
		noDefault *proxyv1.Certificate // expected without a default; nil: ErrNoCertificate
		withDef   *proxyv1.Certificate // expected with the default "fallback"
	}{
		{desc: "exact name", sni: "www.example.org", noDefault: f.exact, withDef: f.exact},
		{desc: "exact apex name", sni: "example.org", noDefault: f.exact, withDef: f.exact},
		{desc: "exact beats wildcard", sni: "www.example.org", noDefault: f.exact, withDef: f.exact},
		{desc: "case-insensitive", sni: "WWW.Example.ORG", noDefault: f.exact, withDef: f.exact},
		{desc: "trailing dot ignored", sni: "www.example.org.", noDefault: f.exact, withDef: f.exact},
		{desc: "wildcard covers one label", sni: "shop.example.org", noDefault: f.wild, withDef: f.wild},
		{desc: "most specific wildcard", sni: "fr.eu.example.org", noDefault: f.deeperWild, withDef: f.deeperWild},
		{desc: "wildcard does not cover two labels", sni: "a.b.example.org", noDefault: nil, withDef: f.fallback},
		{desc: "wildcard does not cover its apex", sni: "eu.example.org", noDefault: f.wild, withDef: f.wild},
		{desc: "unknown name", sni: "other.test", noDefault: nil, withDef: f.fallback},
		{desc: "no SNI (client dialled an IP)", sni: "", noDefault: nil, withDef: f.fallback},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			hello := &tls.ClientHelloInfo{ServerName: tc.sni}
			got, err := noDefault.GetCertificate(hello)
			if tc.noDefault == nil {
				if !errors.Is(err, certstore.ErrNoCertificate) || got != nil {
					t.Errorf("without default: got %v, %v; want ErrNoCertificate", got, err)
				}
			} else if err != nil {
				t.Errorf("without default: %v", err)
			} else if fingerprint(t, got) != tc.noDefault.GetSha256Fingerprint() {
				t.Errorf("without default: got %s, want certificate %q", got.Leaf.DNSNames, tc.noDefault.GetName())
			}
			got, err = withDefault.GetCertificate(hello)
			if err != nil {
				t.Fatalf("with default: %v", err)
			}
			if fingerprint(t, got) != tc.withDef.GetSha256Fingerprint() {
				t.Errorf("with default: got %s, want certificate %q", got.Leaf.DNSNames, tc.withDef.GetName())
			}
		})
	}
}

func TestEmptyStore(t *testing.T) {
	for _, s := range []*certstore.Store{nil, {}} {
		if _, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.test"}); !errors.Is(err, certstore.ErrNoCertificate) {
			t.Errorf("GetCertificate: %v, want ErrNoCertificate", err)
		}
		if s.HasCertificate("a.test") {
			t.Error("HasCertificate on an empty store")
		}
		if s.Len() != 0 {
			t.Errorf("Len = %d", s.Len())
		}
	}
	s, err := certstore.New(nil, "")
	if err != nil || s.Len() != 0 {
		t.Fatalf("New(nil) = %v, %v", s, err)
	}
}

func TestHasCertificate(t *testing.T) {
	f := newFixture(t)
	s, err := certstore.New(f.all, "fallback")
	if err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		host string
		want bool
	}{
		{"www.example.org", true},
		{"www.example.org:8080", true},
		{"WWW.EXAMPLE.ORG.", true},
		{"shop.example.org", true},
		{"a.b.example.org", false},
		{"fallback.test", true}, // its own name
		{"unknown.test", false}, // the default does not count
		{"127.0.0.1:80", false}, // IP literals have no certificate here
		{"[::1]:80", false},
		{"", false},
	}
	for _, tc := range testCases {
		if got := s.HasCertificate(tc.host); got != tc.want {
			t.Errorf("HasCertificate(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	a := certtest.New(t, certtest.Options{Name: "a", DNSNames: []string{"a.test"}})
	b := certtest.New(t, certtest.Options{Name: "b", DNSNames: []string{"b.test"}})
	mismatched := &proxyv1.Certificate{Name: "mismatched", CertChainPem: a.GetCertChainPem(), PrivateKeyPem: b.GetPrivateKeyPem()}
	garbage := &proxyv1.Certificate{Name: "garbage", CertChainPem: []byte("not pem"), PrivateKeyPem: a.GetPrivateKeyPem()}
	noKey := &proxyv1.Certificate{Name: "nokey", CertChainPem: a.GetCertChainPem()}
	testCases := []struct {
		desc    string
		certs   []*proxyv1.Certificate
		def     string
		wantErr string
	}{
		{desc: "key does not match certificate", certs: []*proxyv1.Certificate{a, mismatched}, wantErr: `certificate "mismatched"`},
		{desc: "chain is not PEM", certs: []*proxyv1.Certificate{garbage}, wantErr: `certificate "garbage"`},
		{desc: "key missing", certs: []*proxyv1.Certificate{noKey}, wantErr: "missing"},
		{desc: "default not there", certs: []*proxyv1.Certificate{a}, def: "b", wantErr: `default certificate "b"`},
		{desc: "name used twice", certs: []*proxyv1.Certificate{a, a}, wantErr: "twice"},
		{desc: "no name", certs: []*proxyv1.Certificate{{CertChainPem: a.GetCertChainPem(), PrivateKeyPem: a.GetPrivateKeyPem()}}, wantErr: "no name"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := certstore.New(tc.certs, tc.def)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("error leaks key material: %v", err)
			}
		})
	}
}

// TestKeyTypePreference: with an ECDSA and an RSA certificate for one name, a client that
// supports ECDSA gets ECDSA, one that supports only RSA gets RSA; among two of a kind the one
// that expires last wins.
func TestKeyTypePreference(t *testing.T) {
	rsaCert := certtest.New(t, certtest.Options{Name: "rsa", DNSNames: []string{"dual.test"}, Key: certtest.RSA})
	ecOld := certtest.New(t, certtest.Options{Name: "ec-old", DNSNames: []string{"dual.test"}, NotAfter: time.Now().Add(24 * time.Hour)})
	ecNew := certtest.New(t, certtest.Options{Name: "ec-new", DNSNames: []string{"dual.test"}})
	s, err := certstore.New([]*proxyv1.Certificate{rsaCert, ecOld, ecNew}, "")
	if err != nil {
		t.Fatal(err)
	}
	modern := &tls.ClientHelloInfo{
		ServerName:        "dual.test",
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256},
		SupportedCurves:   []tls.CurveID{tls.X25519, tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_AES_128_GCM_SHA256},
	}
	rsaOnly := &tls.ClientHelloInfo{
		ServerName:        "dual.test",
		SupportedVersions: []uint16{tls.VersionTLS12},
		SignatureSchemes:  []tls.SignatureScheme{tls.PSSWithSHA256, tls.PKCS1WithSHA256},
		SupportedCurves:   []tls.CurveID{tls.X25519},
		SupportedPoints:   []uint8{0},
		CipherSuites:      []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
	}
	got, err := s.GetCertificate(modern)
	if err != nil {
		t.Fatal(err)
	}
	if fingerprint(t, got) != ecNew.GetSha256Fingerprint() {
		t.Errorf("modern client: got %T expiring %v, want the newer ECDSA certificate", got.PrivateKey, got.Leaf.NotAfter)
	}
	got, err = s.GetCertificate(rsaOnly)
	if err != nil {
		t.Fatal(err)
	}
	if fingerprint(t, got) != rsaCert.GetSha256Fingerprint() {
		t.Errorf("RSA-only client: got %T, want the RSA certificate", got.PrivateKey)
	}
}

// TestHandshake drives crypto/tls with the Store: the selected certificate is what the client
// sees, and a name without certificate fails the handshake with an alert, not a hang.
func TestHandshake(t *testing.T) {
	f := newFixture(t)
	s, err := certstore.New(f.all, "")
	if err != nil {
		t.Fatal(err)
	}
	pool := certtest.Pool(t, f.all...)
	handshake := func(sni string) (tls.ConnectionState, error) {
		srv := &tls.Config{GetCertificate: s.GetCertificate}
		cli := &tls.Config{ServerName: sni, RootCAs: pool}
		c1, c2 := pipe(t)
		errc := make(chan error, 1)
		go func() {
			sc := tls.Server(c2, srv)
			errc <- sc.Handshake()
			sc.Close()
		}()
		cc := tls.Client(c1, cli)
		defer cc.Close()
		cerr := cc.Handshake()
		<-errc
		return cc.ConnectionState(), cerr
	}
	st, err := handshake("shop.example.org")
	if err != nil {
		t.Fatalf("wildcard handshake: %v", err)
	}
	if got := certtest.Fingerprint(st.PeerCertificates[0].Raw); got != f.wild.GetSha256Fingerprint() {
		t.Errorf("wildcard handshake presented %v", st.PeerCertificates[0].DNSNames)
	}
	if _, err := handshake("nobody.test"); err == nil {
		t.Fatal("handshake for an unknown name succeeded")
	} else if !strings.Contains(err.Error(), "remote error: tls:") {
		t.Errorf("handshake error %v, want a TLS alert", err)
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	f := newFixture(b)
	certs := append([]*proxyv1.Certificate(nil), f.all...)
	// A store of realistic size: a few dozen sites.
	for i := range 40 {
		name := "site" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		certs = append(certs, certtest.New(b, certtest.Options{Name: name, DNSNames: []string{name + ".test"}}))
	}
	s, err := certstore.New(certs, "fallback")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ desc, sni string }{
		{"exact", "www.example.org"},
		{"exact-mixed-case", "WWW.Example.org."},
		{"wildcard", "shop.example.org"},
		{"default", "unknown.test"},
		{"no-sni", ""},
	} {
		b.Run(bc.desc, func(b *testing.B) {
			hello := &tls.ClientHelloInfo{ServerName: bc.sni}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.GetCertificate(hello); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// pipe returns two ends of a loopback TCP connection (net.Pipe is synchronous and would
// deadlock a TLS alert that nobody reads).
func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { c1.Close(); r.c.Close() })
	return c1, r.c
}
