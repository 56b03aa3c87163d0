package alerts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/reloader"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

func TestConfigRejected(t *testing.T) {
	a, _, _, _ := fixture(t)
	if _, ok := a.ConfigRejected(reloader.Rejection{At: t0}); ok {
		t.Fatal("a rejection without problems alerted")
	}
	rej := reloader.Rejection{At: t0, Source: "file_watcher", Version: 7, Problems: []reloader.Problem{
		{File: "/etc/proxy/sites/vault.yaml", Line: 4, Column: 3, Reason: `unknown key "conect"`},
		{File: "/etc/proxy/global.yaml", Reason: "tls.default_certificate: no such certificate"},
		{Reason: "build snapshot: boom"},
	}}
	for i := range 12 {
		rej.Problems = append(rej.Problems, reloader.Problem{File: "x.yaml", Line: i + 1, Reason: "bad"})
	}
	got, ok := a.ConfigRejected(rej)
	if !ok || got.Type != alert.ConfigRejected || got.Severity != alert.Warning || got.Title != "Configuration rejected: vault.yaml:4" ||
		got.Sample != `vault.yaml:4: unknown key "conect"` || !strings.Contains(got.Description, "version 7 stays live") ||
		!hasField(got, "global.yaml", "tls.default_certificate: no such certificate") || !hasField(got, "configuration", "build snapshot: boom") ||
		len(got.Fields) != maxProblemFields+1 || !hasField(got, "More", "5 more problems") || !got.Time.Equal(t0) {
		t.Fatalf("alert %+v", got)
	}
}

func TestBackupFailed(t *testing.T) {
	a, rec, _, _ := fixture(t)
	a.BackupFailed(nil, "full")
	a.BackupFailed(fmt.Errorf("write /mnt/backups/full.db: %w", errors.New("no space left on device")), "incremental")
	got := rec.take()
	if len(got) != 1 || got[0].Type != alert.BackupFailed || got[0].Severity != alert.Critical || got[0].Title != "Backup failed: incremental backup" ||
		!hasField(got[0], "Tier", "incremental") || !strings.Contains(got[0].Sample, "no space left") || !got[0].Time.Equal(t0) {
		t.Fatalf("alerts %+v", got)
	}
}

// failingAudit is an audit log that cannot be written (a full disk).
type failingAudit struct{}

func (failingAudit) Audit(context.Context, store.AuditEntry) error { return errors.New("disk full") }

func TestSecurityIncidentRaisedWhenTheAuditFails(t *testing.T) {
	a, rec, _, _ := fixture(t)
	a.audit = failingAudit{}
	for _, in := range []Incident{{}, {Summary: strings.Repeat("x", maxSummary+1)}, {Summary: "a", Details: strings.Repeat("x", maxDetails+1)},
		{Summary: "a", Affected: make([]string, maxAffected+1)}} {
		if err := a.SecurityIncident(context.Background(), in, "127.0.0.1"); !errors.Is(err, ErrBadIncident) {
			t.Fatalf("incident %.40v: error %v", in, err)
		}
	}
	err := a.SecurityIncident(context.Background(), Incident{Summary: "Token leaked", Details: "rotate", Affected: []string{"vault.example.org"}}, "127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v", err)
	}
	got := rec.take()
	if len(got) != 1 || got[0].Type != alert.SecurityIncident || got[0].Severity != alert.Critical || got[0].Host != "" ||
		!hasField(got[0], "Affected", "vault.example.org") || got[0].Description != "rotate" {
		t.Fatalf("alerts %+v", got)
	}
}

// auditLog keeps the audit entries written.
type auditLog struct{ entries []store.AuditEntry }

func (l *auditLog) Audit(_ context.Context, e store.AuditEntry) error {
	l.entries = append(l.entries, e)
	return nil
}

// The webhook message shows the caller's address masked as the logs mask clients; the audit
// log keeps it whole. Text that is not an address is shown as it is.
func TestSecurityIncidentMasksTheCaller(t *testing.T) {
	for _, tc := range []struct{ by, shown string }{
		{"127.0.0.1", "127.0.0.xxx"},
		{"203.0.113.45", "203.0.113.xxx"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:xxxx:xxxx:xxxx:xxxx"},
		{"@unix", "@unix"},
	} {
		a, rec, _, _ := fixture(t)
		log := &auditLog{}
		a.audit = log
		if err := a.SecurityIncident(context.Background(), Incident{Summary: "Token leaked"}, tc.by); err != nil {
			t.Fatal(err)
		}
		got := rec.take()
		if len(got) != 1 || !hasField(got[0], "Declared by", tc.shown) {
			t.Errorf("by %s: alerts %+v, want Declared by %s", tc.by, got, tc.shown)
		}
		if len(log.entries) != 1 || log.entries[0].User != tc.by {
			t.Errorf("by %s: audit %+v, want the caller whole", tc.by, log.entries)
		}
	}
}
