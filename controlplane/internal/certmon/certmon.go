// Package certmon watches the expiry of every certificate in force (those of the snapshot the
// data planes serve): days left and an alert level, recorded in the certificates table and
// handed to subscribers (alerting) whenever a certificate's level changes.
//
// Levels, by the time left before not_after: ok; warning at 30 days or less; urgent at 14 or
// less; critical at 7 or less; expired once not_after has passed. Levels are evaluated on every
// new snapshot (a reload, a renewal found in the certificate directory), every hour, and at the
// moment the next certificate crosses a threshold. The level last recorded survives a restart,
// so a restart does not announce the same level again.
package certmon

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/notify"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Level is how soon a certificate expires.
type Level string

// The levels, in order of urgency.
const (
	OK       Level = "ok"
	Warning  Level = "warning"  // 30 days or less left
	Urgent   Level = "urgent"   // 14 days or less
	Critical Level = "critical" // 7 days or less
	Expired  Level = "expired"  // not_after has passed
)

const day = 24 * time.Hour

// thresholds are the times left at which a level begins, most urgent last.
var thresholds = []struct {
	left  time.Duration
	level Level
}{{30 * day, Warning}, {14 * day, Urgent}, {7 * day, Critical}, {0, Expired}}

// LevelAt is the level of a certificate valid until notAfter, at now.
func LevelAt(notAfter, now time.Time) Level {
	left := notAfter.Sub(now)
	if left < 0 {
		return Expired
	}
	l := OK
	for _, t := range thresholds[:3] {
		if left <= t.left {
			l = t.level
		}
	}
	return l
}

// DaysLeft is the number of whole days until notAfter, negative once it has passed (-1 during
// the first day after).
func DaysLeft(notAfter, now time.Time) int {
	left := notAfter.Sub(now)
	d := int(left / day)
	if left < 0 && left%day != 0 {
		d--
	}
	return d
}

// Cert is what the monitor reports of one certificate. It never holds key material.
type Cert struct {
	Domain      string // the certificate's name: the certbot lineage or the file name
	CertPath    string
	KeyPath     string
	SANs        []string
	Issuer      string
	NotBefore   time.Time
	NotAfter    time.Time
	Fingerprint string // hex SHA-256 of the leaf
	DaysLeft    int
	Level       Level
}

// Change is a certificate entering a new level, as alerting sees it. From is "" for a
// certificate the monitor had not seen before (reported only when its level is not ok).
type Change struct {
	Domain   string
	From, To Level
	At       time.Time
	NotAfter time.Time
	DaysLeft int
}

// Store records the certificates; *store.Store is one.
type Store interface {
	SaveCertificates(ctx context.Context, certs []store.Certificate) error
	Certificates(ctx context.Context) ([]store.Certificate, error)
}

// Snapshots is where the snapshot in force comes from; *fleet.Fleet is one.
type Snapshots interface {
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// Options tune a Monitor. Zero values take the defaults.
type Options struct {
	Now   func() time.Time // default time.Now
	Every time.Duration    // longest time between evaluations; default 1h
}

// Monitor is safe for concurrent use.
type Monitor struct {
	log  *zap.Logger
	st   Store
	opts Options
	hub  *notify.Hub[Change]

	mu     sync.Mutex
	certs  []*proxyv1.Certificate // in force, sorted by name
	levels map[string]Level       // last evaluated (or recorded) level by name
}

// New returns a monitor that knows the levels recorded before.
func New(ctx context.Context, log *zap.Logger, st Store, opts Options) (*Monitor, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Every <= 0 {
		opts.Every = time.Hour
	}
	recorded, err := st.Certificates(ctx)
	if err != nil {
		return nil, fmt.Errorf("load certificate levels: %w", err)
	}
	m := &Monitor{log: log, st: st, opts: opts, hub: notify.NewHub[Change](0), levels: map[string]Level{}}
	for _, c := range recorded {
		m.levels[c.Domain] = Level(c.Level)
	}
	return m, nil
}

// Subscribe returns a channel receiving every change of level from now on, closed when ctx ends.
func (m *Monitor) Subscribe(ctx context.Context) <-chan Change { return m.hub.Subscribe(ctx) }

// Evaluate makes certs the certificates in force, records them with their levels, and announces
// the levels that changed. certs are not modified.
func (m *Monitor) Evaluate(ctx context.Context, certs []*proxyv1.Certificate) error {
	now := m.opts.Now()
	certs = slices.Clone(certs)
	slices.SortFunc(certs, func(a, b *proxyv1.Certificate) int { return strings.Compare(a.GetName(), b.GetName()) })

	m.mu.Lock()
	m.certs = certs
	rows := make([]store.Certificate, 0, len(certs))
	var changes []Change
	levels := make(map[string]Level, len(certs))
	for _, pc := range certs {
		c := describe(pc, now)
		levels[c.Domain] = c.Level
		if prev, ok := m.levels[c.Domain]; (ok && prev != c.Level) || (!ok && c.Level != OK) {
			changes = append(changes, Change{Domain: c.Domain, From: prev, To: c.Level, At: now, NotAfter: c.NotAfter, DaysLeft: c.DaysLeft})
		}
		rows = append(rows, store.Certificate{Domain: c.Domain, CertPath: c.CertPath, KeyPath: c.KeyPath, NotBefore: c.NotBefore,
			ExpiresAt: c.NotAfter, SANs: c.SANs, Issuer: c.Issuer, Level: string(c.Level), LastChecked: now})
	}
	m.levels = levels
	m.mu.Unlock()

	for _, ch := range changes {
		m.log.Warn("certificate expiry level changed", zap.String("certificate", ch.Domain), zap.String("from", string(ch.From)),
			zap.String("to", string(ch.To)), zap.Int("days_left", ch.DaysLeft), zap.Time("not_after", ch.NotAfter))
		if lost := m.hub.Publish(ch); lost > 0 {
			m.log.Warn("certificate change not delivered to a subscriber that does not keep up", zap.Int("subscribers", lost))
		}
	}
	if err := m.st.SaveCertificates(ctx, rows); err != nil {
		return fmt.Errorf("record certificates: %w", err)
	}
	return nil
}

// Certificates describes the certificates in force at the monitor's clock, by name.
func (m *Monitor) Certificates() []Cert {
	now := m.opts.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Cert, 0, len(m.certs))
	for _, c := range m.certs {
		out = append(out, describe(c, now))
	}
	return out
}

// Run evaluates the certificates of the snapshot in force on every new snapshot, at least every
// Options.Every, and when the next certificate crosses a threshold, until ctx ends.
func (m *Monitor) Run(ctx context.Context, snaps Snapshots) error {
	for {
		snap, changed := snaps.Current()
		if err := m.Evaluate(ctx, snap.GetCertificates()); err != nil && ctx.Err() == nil {
			m.log.Error("certificate monitor", zap.Error(err))
		}
		wait := time.NewTimer(m.untilNext())
		select {
		case <-changed:
		case <-wait.C:
		case <-ctx.Done():
			wait.Stop()
			return nil
		}
		wait.Stop()
	}
}

// untilNext is how long until the next evaluation: the next threshold crossing, at most Every.
func (m *Monitor) untilNext() time.Duration {
	now := m.opts.Now()
	next := m.opts.Every
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.certs {
		na := c.GetNotAfter().AsTime()
		for _, t := range thresholds {
			// A level begins when left <= t.left; expired once left < 0 (a moment after).
			at := na.Add(-t.left)
			if t.level == Expired {
				at = at.Add(time.Second)
			}
			if d := at.Sub(now); d > 0 && d < next {
				next = d
			}
		}
	}
	return next
}

func describe(c *proxyv1.Certificate, now time.Time) Cert {
	na := c.GetNotAfter().AsTime()
	return Cert{Domain: c.GetName(), CertPath: c.GetCertFile(), KeyPath: c.GetKeyFile(), SANs: slices.Clone(c.GetDnsNames()),
		Issuer: c.GetIssuer(), NotBefore: c.GetNotBefore().AsTime(), NotAfter: na, Fingerprint: c.GetSha256Fingerprint(),
		DaysLeft: DaysLeft(na, now), Level: LevelAt(na, now)}
}
