// Package alerts holds the detectors that raise alerts (package alert) for the webhooks: each
// watches one source of the control plane and turns what it sees into alert.Alert values handed
// to a Sender, which delivers them without blocking (the webhook dispatcher).
//
// Sources and events (docs/alerts.md, "Events"):
//   - health checks (healthcheck.Checker.Subscribe): service_down, service_recovered (health.go);
//   - certificate expiry (certmon.Monitor.Subscribe): cert_expiring_30d/14d/7d, cert_expired;
//   - every stored event batch (ingest.Observer, batch.go): high_error_rate, failed_login_spike,
//     waf_block_spike, rate_limit_ban, unusual_country_login, slow_request_critical,
//     circuit_open, circuit_closed;
//   - rejected configurations (reloader.Reloader.SubscribeRejections): config_rejected;
//   - the fleet, polled (planes.go): dataplane_disconnected, and its recovery at info;
//   - callers: BackupFailed (the backup job), SecurityIncident (the admin API).
//
// Detectors fire once when a condition starts and again only after it ended (hysteresis);
// throttling repeated alerts is the dispatcher's job. Every detector reads the clock of
// Options.Now, so tests move time instead of sleeping. Client addresses in alerts are masked by
// the route's logging.mask_ip_method, as the access logs are (routes.go).
package alerts

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/healthcheck"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/reloader"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Sender delivers alerts. Send must not block: it is called on the event stream's goroutine.
type Sender interface {
	Send(alert.Alert)
}

// Snapshots gives the snapshot in force, whose routes name and mask what alerts carry;
// *fleet.Fleet is one.
type Snapshots interface {
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// Fleet lists the data planes; *fleet.Fleet is one.
type Fleet interface {
	Dataplanes() []*proxyv1.Dataplane
}

// Auditor writes the audit log; *store.Store is one.
type Auditor interface {
	Audit(ctx context.Context, e store.AuditEntry) error
}

// HealthChanges, CertChanges and Rejections are the subscriptions Run follows;
// *healthcheck.Checker, *certmon.Monitor and *reloader.Reloader are ones.
type (
	HealthChanges interface {
		Subscribe(ctx context.Context) <-chan healthcheck.Change
	}
	CertChanges interface {
		Subscribe(ctx context.Context) <-chan certmon.Change
	}
	Rejections interface {
		SubscribeRejections(ctx context.Context) <-chan reloader.Rejection
	}
)

// Options tune the detectors. Zero values take the defaults.
type Options struct {
	// Now is the clock of every detector; default time.Now.
	Now func() time.Time
	// Global gives the configuration in force, whose alerts: section sets the thresholds; nil,
	// or a nil result, means config.DefaultAlerts. *reloader.Reloader's Global is one.
	Global func() *config.Global
	// PollEvery is how often Run looks at the fleet for silent data planes; default 10 s.
	PollEvery time.Duration
}

// Alerts is safe for concurrent use: ObserveBatch is called by every data plane's stream.
type Alerts struct {
	log    *zap.Logger
	send   Sender
	fleet  Fleet
	audit  Auditor
	opts   Options
	routes *directory

	mu      sync.Mutex // the state of the batch detectors (batch.go)
	batch   batchState
	planeMu sync.Mutex // the state of the data-plane detector (planes.go)
	planes  map[string]time.Time
	downMu  sync.Mutex
	down    map[string]time.Time // route id → when its backend went down (health.go)
}

// New returns the detectors; they raise alerts to send.
func New(log *zap.Logger, send Sender, snaps Snapshots, fleet Fleet, audit Auditor, opts Options) *Alerts {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = 10 * time.Second
	}
	return &Alerts{log: log, send: send, fleet: fleet, audit: audit, opts: opts, routes: newDirectory(snaps),
		batch: newBatchState(), planes: map[string]time.Time{}, down: map[string]time.Time{}}
}

// Run is Start's loop, run at once.
func (a *Alerts) Run(ctx context.Context, health HealthChanges, certs CertChanges, rejections Rejections) error {
	return a.Start(ctx, health, certs, rejections)()
}

// Start subscribes to the sources now, so that no change published after it returns is missed
// (a backend already down at startup), and returns the loop that follows them and polls the
// fleet until ctx ends. A nil source is skipped.
func (a *Alerts) Start(ctx context.Context, health HealthChanges, certs CertChanges, rejections Rejections) func() error {
	var hc <-chan healthcheck.Change
	var cc <-chan certmon.Change
	var rc <-chan reloader.Rejection
	if health != nil {
		hc = health.Subscribe(ctx)
	}
	if certs != nil {
		cc = certs.Subscribe(ctx)
	}
	if rejections != nil {
		rc = rejections.SubscribeRejections(ctx)
	}
	return func() error { return a.follow(ctx, hc, cc, rc) }
}

func (a *Alerts) follow(ctx context.Context, hc <-chan healthcheck.Change, cc <-chan certmon.Change, rc <-chan reloader.Rejection) error {
	tick := time.NewTicker(a.opts.PollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-hc:
			if !ok {
				hc = nil
				continue
			}
			a.raise(a.HealthChange(c))
		case c, ok := <-cc:
			if !ok {
				cc = nil
				continue
			}
			a.raise(a.CertChange(c))
		case r, ok := <-rc:
			if !ok {
				rc = nil
				continue
			}
			a.raise(a.ConfigRejected(r))
		case <-tick.C:
			for _, al := range a.CheckDataplanes() {
				a.raise(al, true)
			}
		}
	}
}

// raise hands al to the sender when ok.
func (a *Alerts) raise(al alert.Alert, ok bool) {
	if !ok {
		return
	}
	if al.Time.IsZero() {
		al.Time = a.opts.Now()
	}
	a.send.Send(al)
}

// thresholds are the alerts: section in force.
func (a *Alerts) thresholds() config.Alerts {
	if a.opts.Global != nil {
		if g := a.opts.Global(); g != nil {
			return g.Alerts
		}
	}
	return config.DefaultAlerts
}

// Senders hands every alert to each of its senders in turn (each must not block).
type Senders []Sender

// Send hands al to every sender.
func (ss Senders) Send(al alert.Alert) {
	for _, s := range ss {
		s.Send(al)
	}
}

// LogSender logs every alert at info, so that each is in the control plane's log also when no
// webhook takes it.
type LogSender struct{ Log *zap.Logger }

// Send logs al.
func (s LogSender) Send(al alert.Alert) {
	fields := []zap.Field{zap.String("type", string(al.Type)), zap.String("severity", al.Severity.String()),
		zap.String("title", al.Title), zap.String("description", al.Description)}
	for _, f := range []struct{ k, v string }{{"route", al.RouteID}, {"host", al.Host}, {"backend", al.Backend},
		{"request_id", al.RequestID}, {"sample", al.Sample}} {
		if f.v != "" {
			fields = append(fields, zap.String(f.k, f.v))
		}
	}
	for _, f := range al.Fields {
		fields = append(fields, zap.String("field."+f.Name, f.Value))
	}
	s.Log.Info("alert", fields...)
}
