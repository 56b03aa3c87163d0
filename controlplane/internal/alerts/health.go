package alerts

import (
	"fmt"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/healthcheck"
)

// HealthChange is the alert of a backend's change of health state, if it deserves one:
// service_down when it goes down (also as its first state: a backend already down when
// checking starts is news), service_recovered when it leaves down. Other changes, such as the
// first state of a healthy backend or healthy to degraded, raise nothing.
func (a *Alerts) HealthChange(c healthcheck.Change) (alert.Alert, bool) {
	id, host := a.routes.byRoute(c.RouteID).describe()
	if id == "" {
		id = c.RouteID
	}
	name := host
	if name == "" {
		name = c.BackendURL
	}
	fields := []alert.Field{{Name: "Backend", Value: c.BackendURL, Inline: true},
		{Name: "Checks passed", Value: fmt.Sprintf("%.0f%% over the last minute", c.SuccessRatio*100), Inline: true}}
	a.downMu.Lock()
	defer a.downMu.Unlock()
	for rid := range a.down { // bounded by the routes in force: forget removed ones
		if !a.routes.known(rid) {
			delete(a.down, rid)
		}
	}
	switch {
	case c.To == healthcheck.Down && c.From != healthcheck.Down:
		a.down[c.RouteID] = c.At
		desc := fmt.Sprintf("The health checks of %s fail: the data planes answer 503 until it recovers.", c.BackendURL)
		if c.LastError != "" {
			fields = append(fields, alert.Field{Name: "Last error", Value: c.LastError})
		}
		return alert.Alert{Type: alert.ServiceDown, Severity: alert.Critical, Title: "Service down: " + name,
			Description: desc, RouteID: id, Host: host, Backend: c.BackendURL, Sample: c.LastError, Fields: fields, Time: c.At}, true
	case c.From == healthcheck.Down && (c.To == healthcheck.Healthy || c.To == healthcheck.Degraded):
		desc := fmt.Sprintf("The health checks of %s pass again (%s).", c.BackendURL, c.To)
		if since, ok := a.down[c.RouteID]; ok {
			fields = append(fields, alert.Field{Name: "Down for", Value: c.At.Sub(since).Round(time.Second).String(), Inline: true})
			delete(a.down, c.RouteID)
		}
		return alert.Alert{Type: alert.ServiceRecovered, Severity: alert.Info, Title: "Service recovered: " + name,
			Description: desc, RouteID: id, Host: host, Backend: c.BackendURL, Fields: fields, Time: c.At}, true
	case c.To == healthcheck.Unknown:
		delete(a.down, c.RouteID) // the route was reset (its check changed): its next state starts over
	}
	return alert.Alert{}, false
}

// certTypes maps a certificate level to its event and severity.
var certTypes = map[certmon.Level]struct {
	typ alert.Type
	sev alert.Severity
}{
	certmon.Warning:  {alert.CertExpiring30d, alert.Warning},
	certmon.Urgent:   {alert.CertExpiring14d, alert.Warning},
	certmon.Critical: {alert.CertExpiring7d, alert.Critical},
	certmon.Expired:  {alert.CertExpired, alert.Critical},
}

// CertChange is the alert of a certificate entering a level: cert_expiring_30d (warning),
// _14d (urgent), _7d (critical) or cert_expired. A certificate back to ok (renewed) raises
// nothing. The alert names the certificate's domain as its host, and the route of that host.
func (a *Alerts) CertChange(c certmon.Change) (alert.Alert, bool) {
	t, ok := certTypes[c.To]
	if !ok {
		return alert.Alert{}, false
	}
	id, _ := a.routes.forHost(c.Domain).describe()
	title := fmt.Sprintf("Certificate expires in %d days: %s", c.DaysLeft, c.Domain)
	desc := fmt.Sprintf("The certificate %s is valid until %s; renew it before then.", c.Domain, c.NotAfter.UTC().Format(time.RFC3339))
	if c.To == certmon.Expired {
		title = "Certificate expired: " + c.Domain
		desc = fmt.Sprintf("The certificate %s expired at %s: browsers refuse its sites until it is renewed.", c.Domain, c.NotAfter.UTC().Format(time.RFC3339))
	}
	return alert.Alert{Type: t.typ, Severity: t.sev, Title: title, Description: desc, RouteID: id, Host: c.Domain,
		Fields: []alert.Field{{Name: "Domain", Value: c.Domain, Inline: true},
			{Name: "Days left", Value: fmt.Sprint(c.DaysLeft), Inline: true},
			{Name: "Not after", Value: c.NotAfter.UTC().Format(time.RFC3339), Inline: true}},
		Time: c.At}, true
}
