package certs

import (
	"errors"
	"testing"
)

// FuzzParsePair feeds arbitrary bytes to the parser of certificate and key files: it must
// never panic, and it either returns a servable certificate or a *pairError.
func FuzzParsePair(f *testing.F) {
	p := newPKI(&testing.T{})
	l := p.leaf(&testing.T{}, leafOpts{})
	key := l.keyPEM(&testing.T{})
	f.Add(p.fullchain(l), key)
	f.Add(append(p.fullchain(l), key...), []byte(nil))
	f.Add(l.cert.Raw, key)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte{}, []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		check := func(certFile string, certPEM []byte, keyFile string, keyPEM []byte) {
			c, err := parsePair(certFile, certPEM, keyFile, keyPEM)
			var pe *pairError
			switch {
			case err != nil && !errors.As(err, &pe):
				t.Fatalf("error %T %v is not a *pairError", err, err)
			case err != nil && (pe.kind == "" || pe.reason == ""):
				t.Fatalf("pairError without kind or reason: %#v", pe)
			case err == nil && (len(c.GetCertChainPem()) == 0 || len(c.GetPrivateKeyPem()) == 0 || len(c.GetSha256Fingerprint()) != 64):
				t.Fatalf("incomplete certificate %v", c.GetCertFile())
			}
		}
		check("/certs/x.crt", certPEM, "/certs/x.key", keyPEM)
		combined := append(append([]byte(nil), certPEM...), keyPEM...)
		check("/certs/x.pem", combined, "/certs/x.pem", combined)
	})
}
