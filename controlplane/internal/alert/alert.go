// Package alert is what the control plane tells its administrator about: one Alert per event
// worth a message (a backend down, a certificate expiring, an attack), raised by the detectors
// and delivered by the webhooks. The type is shared so that neither side depends on the other.
package alert

import "time"

// Type names an event; webhooks subscribe to types by these names (global.yaml webhooks.events).
type Type string

// The event types of issue 8. Each alert names the route or backend it is about.
const (
	ServiceDown           Type = "service_down"      // a health-checked backend went down
	ServiceRecovered      Type = "service_recovered" // ... and came back (degraded or healthy)
	CertExpiring30d       Type = "cert_expiring_30d"
	CertExpiring14d       Type = "cert_expiring_14d"
	CertExpiring7d        Type = "cert_expiring_7d"
	CertExpired           Type = "cert_expired"
	HighErrorRate         Type = "high_error_rate"    // > 5% errors over the configured window
	FailedLoginSpike      Type = "failed_login_spike" // > 10 failed logins a minute
	WAFBlockSpike         Type = "waf_block_spike"    // > 50 WAF blocks a minute
	RateLimitBan          Type = "rate_limit_ban"
	UnusualCountryLogin   Type = "unusual_country_login"
	SlowRequestCritical   Type = "slow_request_critical"
	CircuitOpen           Type = "circuit_open"
	CircuitClosed         Type = "circuit_closed"
	ConfigRejected        Type = "config_rejected"
	DataplaneDisconnected Type = "dataplane_disconnected" // no heartbeat for the configured time
	BackupFailed          Type = "backup_failed"
	SecurityIncident      Type = "security_incident" // declared by the administrator: breach notification
	Test                  Type = "test"              // POST /api/webhooks/test
)

// Types lists every type a webhook may subscribe to (Test excepted: it goes to the webhook asked).
func Types() []Type {
	return []Type{ServiceDown, ServiceRecovered, CertExpiring30d, CertExpiring14d, CertExpiring7d, CertExpired,
		HighErrorRate, FailedLoginSpike, WAFBlockSpike, RateLimitBan, UnusualCountryLogin, SlowRequestCritical,
		CircuitOpen, CircuitClosed, ConfigRejected, DataplaneDisconnected, BackupFailed, SecurityIncident}
}

// Severity orders alerts; formats colour them by it.
type Severity int

const (
	Info Severity = iota
	Warning
	Critical
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	default:
		return "info"
	}
}

// Field is one named value of an alert (Discord embed field, Slack section field).
type Field struct {
	Name   string
	Value  string
	Inline bool
}

// Alert is one event as the administrator reads it. Addresses in it are masked as in the logs.
type Alert struct {
	Type        Type
	Severity    Severity
	Title       string // short, e.g. "Service down: gpanel.example.org"
	Description string // one or two sentences: what happened and what it affects
	RouteID     string // the route it is about (Route.id), "" when none; webhooks' routes filter on its host
	Host        string // the route's host, "" when none
	Backend     string // the backend URL it is about, "" when none
	RequestID   string // a request that shows it, "" when none
	Sample      string // a sample (masked address, path, rule), "" when none
	Fields      []Field
	Time        time.Time
}
