package listen

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"sync"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/certstore"
)

// TLSOptions tune the TLS configuration. The zero value gives the defaults.
type TLSOptions struct {
	// TicketKeyRotation is how often a new session ticket key is made; 0 means 12 h.
	TicketKeyRotation time.Duration
	// PreviousTicketKeys is how many earlier keys still decrypt tickets; 0 means 2. A ticket
	// therefore resumes for at most (PreviousTicketKeys+1) × TicketKeyRotation (36 h).
	PreviousTicketKeys int
}

// cipherSuites are the TLS 1.2 suites offered: forward-secret (ECDHE) AEADs only. TLS 1.3
// suites are not configurable in Go and are all AEADs.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// curves are the key exchanges offered, best first: the hybrid post-quantum X25519MLKEM768
// (TLS 1.3 only; Go's default since 1.24, supported by current browsers), then X25519 and P-256.
var curves = []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256}

// TLS is the TLS configuration of the HTTPS and HTTP/3 listeners.
//
// Certificates come from a CertificateSource at every handshake, so a new snapshot's
// certificates apply to the next handshake while established connections keep theirs.
//
// Session tickets let returning clients resume without a full handshake. A ticket is the
// session's secrets encrypted under a server key, so whoever obtains that key can decrypt every
// recorded session whose ticket it encrypted: the key undoes forward secrecy for as long as it
// lives. The keys therefore live in memory only, a new random one is made every
// TicketKeyRotation, and only the previous PreviousTicketKeys are kept to accept tickets
// already issued; older keys are wiped. (Replicas do not share keys: a client resumes only with
// the replica that issued its ticket.)
//
// Go's own rotation cannot serve here: quic-go and http3 clone the tls.Config when a listener
// starts, and a clone keeps the keys it was made with. So every handshake goes through
// GetConfigForClient, which returns the one inner Config whose keys RotateTicketKeys replaces;
// QUIC clones it per handshake and so sees the current keys too.
type TLS struct {
	certs    CertificateSource
	rotation time.Duration
	keep     int

	inner *tls.Config // what handshakes use; only its ticket keys change, under its own lock
	outer *tls.Config // what listeners get

	mu   sync.Mutex
	keys [][32]byte // current first
}

// NewTLS returns the TLS configuration that takes certificates from certs. Session ticket keys
// rotate only while RunTicketKeyRotation runs (Servers runs it).
func NewTLS(certs CertificateSource, opts TLSOptions) (*TLS, error) {
	if certs == nil {
		return nil, errors.New("listen: no certificate source")
	}
	if opts.TicketKeyRotation < 0 || opts.PreviousTicketKeys < 0 {
		return nil, errors.New("listen: negative ticket key rotation settings")
	}
	t := &TLS{certs: certs, rotation: opts.TicketKeyRotation, keep: opts.PreviousTicketKeys}
	if t.rotation == 0 {
		t.rotation = 12 * time.Hour
	}
	if t.keep == 0 {
		t.keep = 2
	}
	t.inner = &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     cipherSuites,
		CurvePreferences: curves,
		NextProtos:       []string{"h2", "http/1.1"}, // http3.Server replaces them with h3 for QUIC
		GetCertificate:   t.getCertificate,
	}
	t.RotateTicketKeys()
	t.outer = t.inner.Clone()
	t.outer.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return t.inner, nil }
	return t, nil
}

// Config returns the tls.Config for the HTTPS listener and http3.Server. Do not modify it.
func (t *TLS) Config() *tls.Config { return t.outer }

// getCertificate turns "no certificate for this name" into (nil, nil): crypto/tls then fails the
// handshake with an unrecognized_name alert, which says what is wrong, instead of internal_error.
func (t *TLS) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c, err := t.certs.GetCertificate(hello)
	if errors.Is(err, certstore.ErrNoCertificate) {
		return nil, nil
	}
	return c, err
}

// RotateTicketKeys makes a new session ticket key for new tickets and keeps the previous ones
// (up to PreviousTicketKeys) for resuming; the oldest is dropped.
func (t *TLS) RotateTicketKeys() {
	var k [32]byte
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (it aborts the program instead)
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([][32]byte, 0, t.keep+1)
	keys = append(keys, k)
	keys = append(keys, t.keys[:min(len(t.keys), t.keep)]...) // copies
	for i := range t.keys {
		clear(t.keys[i][:]) // our copy of the dropped key is gone; crypto/tls drops its own
	}
	t.keys = keys
	t.inner.SetSessionTicketKeys(keys)
}

// RunTicketKeyRotation rotates the session ticket keys every TicketKeyRotation until ctx ends.
func (t *TLS) RunTicketKeyRotation(ctx context.Context) {
	tick := time.NewTicker(t.rotation)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.RotateTicketKeys()
		}
	}
}
