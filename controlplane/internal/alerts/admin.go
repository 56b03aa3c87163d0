package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/reloader"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// maxProblemFields bounds the problems a config_rejected alert lists (formats bound fields too).
const maxProblemFields = 10

// ConfigRejected is config_rejected: a reload the reloader refused, with each problem's file,
// line and reason. The last good configuration stays live, so it is a warning.
func (a *Alerts) ConfigRejected(r reloader.Rejection) (alert.Alert, bool) {
	if len(r.Problems) == 0 {
		return alert.Alert{}, false
	}
	where := func(p reloader.Problem) string {
		switch {
		case p.File == "":
			return "configuration"
		case p.Line == 0:
			return filepath.Base(p.File)
		}
		return fmt.Sprintf("%s:%d", filepath.Base(p.File), p.Line)
	}
	first := r.Problems[0]
	al := alert.Alert{Type: alert.ConfigRejected, Severity: alert.Warning, Title: "Configuration rejected: " + where(first),
		Description: fmt.Sprintf("A reload (%s) found %s; version %d stays live until it is fixed.", r.Source, problems(len(r.Problems)), r.Version),
		Sample:      where(first) + ": " + first.Reason, Time: r.At}
	for i, p := range r.Problems {
		if i == maxProblemFields {
			al.Fields = append(al.Fields, alert.Field{Name: "More", Value: fmt.Sprintf("%d more problems", len(r.Problems)-i)})
			break
		}
		al.Fields = append(al.Fields, alert.Field{Name: where(p), Value: p.Reason})
	}
	return al, true
}

func problems(n int) string {
	if n == 1 {
		return "1 problem"
	}
	return fmt.Sprintf("%d problems", n)
}

// BackupFailed raises backup_failed (critical) for a backup of tier ("full", "differential",
// "incremental") that failed with err. It is what the backup job calls; it does not block.
func (a *Alerts) BackupFailed(err error, tier string) {
	if err == nil {
		return
	}
	a.raise(alert.Alert{Type: alert.BackupFailed, Severity: alert.Critical,
		Title:       fmt.Sprintf("Backup failed: %s backup", tier),
		Description: "The " + tier + " backup of the control plane's database failed: " + err.Error(),
		Sample:      err.Error(),
		Fields:      []alert.Field{{Name: "Tier", Value: tier, Inline: true}, {Name: "Error", Value: err.Error()}}}, true)
}

// Incident is a breach notification declared by the administrator (POST
// /api/alerts/security-incident).
type Incident struct {
	Summary  string   `json:"summary"`  // one line
	Details  string   `json:"details"`  // what happened, what is done about it
	Affected []string `json:"affected"` // routes, hosts, data or users concerned
}

// Bounds of an incident's text: a webhook message is short, the audit log keeps it whole.
const (
	maxSummary  = 200
	maxDetails  = 4000
	maxAffected = 50
)

// ErrBadIncident wraps the reasons an incident is refused.
var ErrBadIncident = errors.New("bad security incident")

// SecurityIncident records the incident in the audit log (action security_incident, user by)
// and raises security_incident (critical) to every webhook subscribed to it. The alert is
// raised even when the audit log cannot be written, whose error is then returned.
func (a *Alerts) SecurityIncident(ctx context.Context, in Incident, by string) error {
	in.Summary = strings.TrimSpace(in.Summary)
	switch {
	case in.Summary == "":
		return fmt.Errorf("%w: summary is required", ErrBadIncident)
	case len(in.Summary) > maxSummary || strings.ContainsAny(in.Summary, "\r\n"):
		return fmt.Errorf("%w: summary must be one line of at most %d bytes", ErrBadIncident, maxSummary)
	case len(in.Details) > maxDetails:
		return fmt.Errorf("%w: details must be at most %d bytes", ErrBadIncident, maxDetails)
	case len(in.Affected) > maxAffected:
		return fmt.Errorf("%w: at most %d affected entries", ErrBadIncident, maxAffected)
	}
	now := a.opts.Now()
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode security incident: %w", err)
	}
	auditErr := errors.New("no audit log")
	if a.audit != nil {
		auditErr = a.audit.Audit(ctx, store.AuditEntry{Time: now, User: by, Action: "security_incident", ResourceType: "security",
			NewValue: string(body), Source: "api", Notes: in.Summary})
	}
	// No route nor host: it goes to every webhook subscribed to the type, whatever its routes.
	al := alert.Alert{Type: alert.SecurityIncident, Severity: alert.Critical, Title: "Security incident: " + in.Summary,
		Description: in.Details, Time: now}
	if len(in.Affected) > 0 {
		al.Fields = append(al.Fields, alert.Field{Name: "Affected", Value: strings.Join(in.Affected, ", ")})
	}
	// The message leaves the host: the caller's address is masked as the logs mask clients;
	// the audit log keeps it whole.
	declared := by
	if m := (*route)(nil).maskIP(by, now); m != "" {
		declared = m
	}
	al.Fields = append(al.Fields, alert.Field{Name: "Declared by", Value: declared, Inline: true})
	a.raise(al, true)
	if auditErr != nil {
		return fmt.Errorf("write security incident to the audit log: %w", auditErr)
	}
	return nil
}
