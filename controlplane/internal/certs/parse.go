package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// pairError says why a certificate and its key cannot be served. Its reason names files and
// PEM block types, never key material: parser errors about keys are replaced by our own words.
type pairError struct {
	kind   Kind
	reason string
}

func (e *pairError) Error() string { return e.reason }

func failf(kind Kind, format string, args ...any) *pairError {
	return &pairError{kind: kind, reason: fmt.Sprintf(format, args...)}
}

// parsePair turns the PEM of a certificate chain and of its private key into a Certificate
// without a name. certPEM may hold the key too (then keyFile is certFile and keyPEM is
// certPEM). The chain is returned leaf first, followed by its issuers in order, then any
// other certificate of the file; the key is re-encoded as PKCS#8.
//
// The error, if any, is a *pairError.
func parsePair(certFile string, certPEM []byte, keyFile string, keyPEM []byte) (*proxyv1.Certificate, error) {
	chain, err := parseChain(certFile, certPEM, certFile == keyFile)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(keyFile, keyPEM)
	if err != nil {
		return nil, err
	}
	leaf := -1
	for i, c := range chain {
		if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(key.Public()) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		if certFile == keyFile {
			return nil, failf(KindMismatch, "the private key in %s does not match its certificate", describe(certFile))
		}
		return nil, failf(KindMismatch, "private key %s does not match certificate %s", describe(keyFile), describe(certFile))
	}
	chain = order(chain, leaf)

	var chainPEM bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&chainPEM, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // writes to memory
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, failf(KindBroken, "the private key in %s cannot be used (%T)", describe(keyFile), key)
	}
	keyOut := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	// The data plane loads the pair with crypto/tls: make sure it will.
	if _, err := tls.X509KeyPair(chainPEM.Bytes(), keyOut); err != nil {
		return nil, failf(KindBroken, "%s with key %s is refused by crypto/tls: %s", describe(certFile), describe(keyFile), tlsReason(err))
	}

	c := chain[0]
	fp := sha256.Sum256(c.Raw)
	return &proxyv1.Certificate{
		DnsNames:          dnsNames(c),
		CertChainPem:      chainPEM.Bytes(),
		PrivateKeyPem:     keyOut,
		NotBefore:         timestamppb.New(c.NotBefore),
		NotAfter:          timestamppb.New(c.NotAfter),
		Issuer:            issuer(c),
		CertFile:          certFile,
		KeyFile:           keyFile,
		Sha256Fingerprint: hex.EncodeToString(fp[:]),
	}, nil
}

// tlsReason keeps crypto/tls's reason without anything it might quote from the key.
func tlsReason(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// parseChain returns the certificates of a chain file. PEM blocks other than certificates and
// keys (EC PARAMETERS, comments around blocks) are skipped; a file without any PEM block is
// tried as one DER certificate, the way Windows exports .cer and .crt files.
func parseChain(file string, data []byte, withKey bool) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	seen := map[string]bool{}
	rest, blocks := data, 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks++
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, failf(KindBroken, "certificate %d of %s cannot be parsed: %v", len(chain)+1, describe(file), err)
		}
		if !seen[string(c.Raw)] {
			seen[string(c.Raw)] = true
			chain = append(chain, c)
		}
	}
	if blocks == 0 && !withKey && len(bytes.TrimSpace(data)) > 0 {
		if cs, err := x509.ParseCertificates(data); err == nil && len(cs) > 0 {
			return cs, nil
		}
	}
	if len(chain) == 0 {
		if blocks == 0 {
			return nil, failf(KindBroken, "%s holds no PEM certificate", describe(file))
		}
		return nil, failf(KindBroken, "%s holds no CERTIFICATE block", describe(file))
	}
	return chain, nil
}

// parseKey returns the one private key of a file: PKCS#1 (RSA PRIVATE KEY), SEC 1 (EC PRIVATE
// KEY) or PKCS#8 (PRIVATE KEY) holding an RSA, ECDSA or Ed25519 key. Encrypted keys are
// refused, since nobody is there to type the passphrase.
func parseKey(file string, data []byte) (crypto.Signer, error) {
	var key crypto.Signer
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED"):
			return nil, failf(KindEncrypted, "private key %s is encrypted with a passphrase, which the proxy cannot type; store it decrypted (openssl pkey -in KEY -out KEY.new) and keep the file readable by the control plane only", describe(file))
		case b.Type == "OPENSSH PRIVATE KEY":
			return nil, failf(KindBroken, "%s holds an OpenSSH key, not a TLS private key", describe(file))
		case !strings.HasSuffix(b.Type, "PRIVATE KEY"):
			continue
		}
		if key != nil {
			return nil, failf(KindBroken, "%s holds more than one private key", describe(file))
		}
		k, err := keyFromDER(b.Bytes)
		if err != nil {
			return nil, failf(KindBroken, "the %s block of %s %s", b.Type, describe(file), err.Error())
		}
		key = k
	}
	if key == nil {
		return nil, failf(KindMissingKey, "%s holds no private key", describe(file))
	}
	return key, nil
}

// keyFromDER parses a key whatever its block's label says (mislabelled keys are common). Its
// error never quotes the parsers', which may describe the key's contents.
func keyFromDER(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("holds a %T, which cannot sign TLS handshakes (want RSA, ECDSA or Ed25519)", k)
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("is not a valid PKCS#1, PKCS#8 or SEC 1 private key")
}

// order puts the leaf first, then the certificate that issued it, and so on; certificates
// that are not on the leaf's path follow in file order.
func order(chain []*x509.Certificate, leaf int) []*x509.Certificate {
	out := []*x509.Certificate{chain[leaf]}
	used := map[int]bool{leaf: true}
	for cur := chain[leaf]; !bytes.Equal(cur.RawIssuer, cur.RawSubject); {
		// The issuer by name whose key signed cur; by name alone if no signature checks out
		// (an algorithm crypto/x509 does not verify).
		next := -1
		for i, c := range chain {
			if used[i] || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
				continue
			}
			if cur.CheckSignatureFrom(c) == nil {
				next = i
				break
			}
			if next < 0 {
				next = i
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		cur = chain[next]
		out = append(out, cur)
	}
	for i, c := range chain {
		if !used[i] {
			out = append(out, c)
		}
	}
	return out
}

// dnsNames are the names a leaf is valid for: its DNS SANs, lower-case and without a trailing
// dot, wildcards as written ("*.example.org"). Only a certificate without any SAN falls back
// to its common name, as old clients did.
func dnsNames(c *x509.Certificate) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		if n == "" || seen[n] || strings.ContainsFunc(n, func(r rune) bool { return r <= ' ' || r == '/' }) {
			return
		}
		seen[n] = true
		out = append(out, n)
	}
	for _, n := range c.DNSNames {
		add(n)
	}
	if len(c.DNSNames) == 0 && len(c.IPAddresses) == 0 && len(c.URIs) == 0 && len(c.EmailAddresses) == 0 {
		add(c.Subject.CommonName)
	}
	return out
}

// issuer names who signed a certificate: the issuer's common name ("R11"), else its
// organization ("Let's Encrypt"), else the whole distinguished name.
func issuer(c *x509.Certificate) string {
	switch {
	case c.Issuer.CommonName != "":
		return c.Issuer.CommonName
	case len(c.Issuer.Organization) > 0:
		return c.Issuer.Organization[0]
	default:
		return c.Issuer.String()
	}
}
