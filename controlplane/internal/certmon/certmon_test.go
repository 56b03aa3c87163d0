package certmon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/certs"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLevelsAndDaysLeft(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left  time.Duration
		level Level
		days  int
	}{
		{90 * day, OK, 90},
		{30*day + time.Second, OK, 30},
		{30 * day, Warning, 30},
		{15 * day, Warning, 15},
		{14 * day, Urgent, 14},
		{7*day + time.Hour, Urgent, 7},
		{7 * day, Critical, 7},
		{time.Hour, Critical, 0},
		{0, Critical, 0},
		{-time.Second, Expired, -1},
		{-day, Expired, -1},
		{-day - time.Second, Expired, -2},
	} {
		na := now.Add(tc.left)
		if l, d := LevelAt(na, now), DaysLeft(na, now); l != tc.level || d != tc.days {
			t.Errorf("%s left: %s, %d days; want %s, %d", tc.left, l, d, tc.level, tc.days)
		}
	}
}

// writeCert writes a self-signed certificate for name valid until notAfter, and its key, as
// <name>.crt and <name>.key in dir.
func writeCert(t *testing.T, dir, name string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		Issuer: pkix.Name{CommonName: "Test CA"}, DNSNames: []string{name, "www." + name},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// collect reads the changes waiting on ch.
func collect(ch <-chan Change) map[string]Change {
	got := map[string]Change{}
	for {
		select {
		case c := <-ch:
			got[c.Domain] = c
		case <-time.After(50 * time.Millisecond):
			return got
		}
	}
}

func TestCertificatesOfVariousExpiries(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	dir := t.TempDir()
	expiries := map[string]time.Duration{
		"fresh.example.org":    80 * day,
		"warning.example.org":  25 * day,
		"urgent.example.org":   12 * day,
		"critical.example.org": 3 * day,
		"expired.example.org":  -2 * day,
	}
	for name, left := range expiries {
		writeCert(t, dir, name, now.Add(-10*day), now.Add(left))
	}
	set, _ := certs.Scan(dir, nil) // the real scan; expired certificates are loaded and reported
	if set.Len() != len(expiries) {
		t.Fatalf("scanned %d certificates: %v", set.Len(), set.Problems())
	}
	path := filepath.Join(t.TempDir(), "proxy.db")
	st, err := store.Open(ctx, path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	clk := &clock{t: now}
	m, err := New(ctx, zaptest.NewLogger(t), st, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := m.Subscribe(sctx)
	if err := m.Evaluate(ctx, set.Certificates()); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		level Level
		days  int
	}{
		"critical.example.org": {Critical, 3}, "expired.example.org": {Expired, -2}, "fresh.example.org": {OK, 80},
		"urgent.example.org": {Urgent, 12}, "warning.example.org": {Warning, 25},
	}
	got := m.Certificates()
	if len(got) != len(want) {
		t.Fatalf("%d certificates", len(got))
	}
	for _, c := range got {
		w := want[c.Domain]
		if c.Level != w.level || c.DaysLeft != w.days || c.Issuer == "" || !slices.Equal(c.SANs, []string{c.Domain, "www." + c.Domain}) ||
			c.CertPath != filepath.Join(dir, c.Domain+".crt") || c.KeyPath != filepath.Join(dir, c.Domain+".key") || !c.NotAfter.Equal(now.Add(expiries[c.Domain])) {
			t.Errorf("%s: %+v, want %s with %d days", c.Domain, c, w.level, w.days)
		}
	}
	// New certificates are announced unless they are ok.
	first := collect(changes)
	if len(first) != 4 || first["fresh.example.org"].To != "" || first["expired.example.org"].To != Expired || first["expired.example.org"].From != "" {
		t.Fatalf("first changes: %+v", first)
	}

	// Recorded, one row per certificate.
	rows, err := st.Certificates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows", len(rows))
	}
	for _, r := range rows {
		if r.Level != string(want[r.Domain].level) || !r.ExpiresAt.Equal(now.Add(expiries[r.Domain])) || !r.NotBefore.Equal(now.Add(-10*day)) ||
			len(r.SANs) != 2 || r.Issuer == "" || !r.LastChecked.Equal(now) {
			t.Errorf("row %+v", r)
		}
	}

	// Six days later: fresh is unchanged, warning (19 days) unchanged, urgent (6) critical,
	// critical expired. Only those changes are announced.
	clk.set(now.Add(6 * day))
	if err := m.Evaluate(ctx, set.Certificates()); err != nil {
		t.Fatal(err)
	}
	later := collect(changes)
	if len(later) != 2 || later["urgent.example.org"].From != Urgent || later["urgent.example.org"].To != Critical ||
		later["critical.example.org"].To != Expired || later["critical.example.org"].DaysLeft != -3 {
		t.Fatalf("changes after 6 days: %+v", later)
	}

	// A restarted monitor knows the recorded levels: nothing is announced again.
	m2, err := New(ctx, zaptest.NewLogger(t), st, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	again := m2.Subscribe(sctx)
	if err := m2.Evaluate(ctx, set.Certificates()); err != nil {
		t.Fatal(err)
	}
	if got := collect(again); len(got) != 0 {
		t.Fatalf("announced again after a restart: %+v", got)
	}

	// A renewed certificate goes back to ok (announced); a removed one leaves the table.
	writeCert(t, dir, "warning.example.org", now, now.Add(90*day))
	if err := os.Remove(filepath.Join(dir, "fresh.example.org.crt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "fresh.example.org.key")); err != nil {
		t.Fatal(err)
	}
	set, _ = certs.Scan(dir, nil)
	if err := m2.Evaluate(ctx, set.Certificates()); err != nil {
		t.Fatal(err)
	}
	if got := collect(again); len(got) != 1 || got["warning.example.org"].To != OK {
		t.Fatalf("after renewal: %+v", got)
	}
	if rows, err = st.Certificates(ctx); err != nil || len(rows) != 4 {
		t.Fatalf("rows after removal: %d, %v", len(rows), err)
	}
}

func TestNextEvaluationIsAtTheNextThreshold(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "proxy.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: now}
	m, err := New(ctx, zaptest.NewLogger(t), st, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if d := m.untilNext(); d != time.Hour {
		t.Fatalf("no certificate: next in %s, want 1h", d)
	}
	c := func(name string, left time.Duration) *proxyv1.Certificate {
		return &proxyv1.Certificate{Name: name, NotAfter: timestampAt(now.Add(left)), NotBefore: timestampAt(now.Add(-day))}
	}
	if err := m.Evaluate(ctx, []*proxyv1.Certificate{c("a", 30*day+20*time.Minute), c("b", 90*day)}); err != nil {
		t.Fatal(err)
	}
	if d := m.untilNext(); d != 20*time.Minute {
		t.Fatalf("next in %s, want 20m (a becomes warning)", d)
	}
	if err := m.Evaluate(ctx, []*proxyv1.Certificate{c("a", 30*time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if d := m.untilNext(); d != 30*time.Minute+time.Second {
		t.Fatalf("next in %s, want 30m1s (a expires)", d)
	}
}

func TestRunFollowsTheSnapshot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "proxy.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fl := fleet.New(zaptest.NewLogger(t))
	now := time.Now()
	fl.Publish(&proxyv1.Snapshot{Version: 1, Certificates: []*proxyv1.Certificate{{Name: "a", NotAfter: timestampAt(now.Add(10 * day))}}})
	m, err := New(ctx, zaptest.NewLogger(t), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, fl) }()
	waitFor(t, func() bool { c := m.Certificates(); return len(c) == 1 && c[0].Level == Urgent })
	fl.Publish(&proxyv1.Snapshot{Version: 2, Certificates: []*proxyv1.Certificate{{Name: "a", NotAfter: timestampAt(now.Add(100 * day))}}})
	waitFor(t, func() bool { c := m.Certificates(); return len(c) == 1 && c[0].Level == OK })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func timestampAt(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
