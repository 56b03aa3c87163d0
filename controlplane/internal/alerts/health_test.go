package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	hc "github.com/proxy-manager/proxy-manager/controlplane/internal/healthcheck"
)

func TestHealthChange(t *testing.T) {
	a, _, _, _ := fixture(t)
	const id = "gpanel.example.org/"
	// One route through a sequence of changes: each step raises the type given, or nothing.
	for _, tc := range []struct {
		desc     string
		from, to hc.State
		after    time.Duration
		want     alert.Type
		wantSev  alert.Severity
		wantDesc string
	}{
		{desc: "first state healthy: nothing", from: hc.Unknown, to: hc.Healthy},
		{desc: "healthy to degraded: nothing", from: hc.Healthy, to: hc.Degraded},
		{desc: "degraded to down", from: hc.Degraded, to: hc.Down, want: alert.ServiceDown, wantSev: alert.Critical, wantDesc: "fail"},
		{desc: "down to degraded: recovered", from: hc.Down, to: hc.Degraded, after: 90 * time.Second, want: alert.ServiceRecovered, wantSev: alert.Info},
		{desc: "degraded to healthy: nothing", from: hc.Degraded, to: hc.Healthy},
		{desc: "reset by a reload: nothing", from: hc.Healthy, to: hc.Unknown},
		{desc: "first state down: alert", from: hc.Unknown, to: hc.Down, want: alert.ServiceDown, wantSev: alert.Critical},
		{desc: "down to healthy", from: hc.Down, to: hc.Healthy, after: time.Minute, want: alert.ServiceRecovered, wantSev: alert.Info},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := hc.Change{RouteID: id, Site: "gpanel", BackendURL: "http://panel:80", From: tc.from, To: tc.to,
				At: t0.Add(tc.after), SuccessRatio: 0.25, LastError: "dial tcp: connection refused"}
			got, ok := a.HealthChange(c)
			if ok != (tc.want != "") {
				t.Fatalf("raised %v (%+v), want %q", ok, got, tc.want)
			}
			if !ok {
				return
			}
			if got.Type != tc.want || got.Severity != tc.wantSev || got.RouteID != id || got.Host != "gpanel.example.org" ||
				got.Backend != "http://panel:80" || !got.Time.Equal(c.At) || !strings.Contains(got.Title, "gpanel.example.org") {
				t.Fatalf("alert %+v", got)
			}
			if tc.want == alert.ServiceDown && (got.Sample != c.LastError || !hasField(got, "Last error", c.LastError)) {
				t.Fatalf("down alert without the check's error: %+v", got)
			}
			if tc.want == alert.ServiceRecovered && !hasField(got, "Down for", tc.after.String()) {
				t.Fatalf("recovered alert without the time down: %+v", got.Fields)
			}
		})
	}
}

func TestCertChange(t *testing.T) {
	a, _, _, _ := fixture(t)
	notAfter := t0.Add(10 * 24 * time.Hour)
	for _, tc := range []struct {
		to      certmon.Level
		days    int
		want    alert.Type
		wantSev alert.Severity
	}{
		{certmon.Warning, 29, alert.CertExpiring30d, alert.Warning},
		{certmon.Urgent, 14, alert.CertExpiring14d, alert.Warning},
		{certmon.Critical, 6, alert.CertExpiring7d, alert.Critical},
		{certmon.Expired, -1, alert.CertExpired, alert.Critical},
		{to: certmon.OK, days: 89}, // renewed
	} {
		t.Run(string(tc.to), func(t *testing.T) {
			got, ok := a.CertChange(certmon.Change{Domain: "vault.example.org", From: certmon.OK, To: tc.to, At: t0, NotAfter: notAfter, DaysLeft: tc.days})
			if ok != (tc.want != "") {
				t.Fatalf("raised %v, want %q", ok, tc.want)
			}
			if !ok {
				return
			}
			if got.Type != tc.want || got.Severity != tc.wantSev || got.Host != "vault.example.org" || got.RouteID != "vault.example.org/" ||
				!hasField(got, "Days left", itoa(tc.days)) || !hasField(got, "Not after", notAfter.Format(time.RFC3339)) ||
				!hasField(got, "Domain", "vault.example.org") {
				t.Fatalf("alert %+v", got)
			}
		})
	}
	// A certificate of no route still names its domain.
	got, ok := a.CertChange(certmon.Change{Domain: "old.example.net", To: certmon.Expired, At: t0, NotAfter: t0.Add(-time.Hour), DaysLeft: -1})
	if !ok || got.RouteID != "" || got.Host != "old.example.net" || got.Title != "Certificate expired: old.example.net" {
		t.Fatalf("alert %+v", got)
	}
}

func hasField(a alert.Alert, name, value string) bool {
	for _, f := range a.Fields {
		if f.Name == name && f.Value == value {
			return true
		}
	}
	return false
}
