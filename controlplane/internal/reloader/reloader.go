// Package reloader turns the configuration files and the certificate directory into snapshot
// versions: it loads and validates them, builds a snapshot when either changed, records the
// version, and publishes it to the fleet. A configuration that does not load is rejected as a whole
// and the last good one stays live; a broken certificate pair is reported and skipped, and the
// certificate loaded before it stays in service.
package reloader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/certs"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/notify"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/snapshot"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Store keeps what the reloader must remember across restarts.
type Store interface {
	LastSnapshot(ctx context.Context) (version uint64, configHash string, err error)
	SaveSnapshotVersion(ctx context.Context, version uint64, configHash string, at time.Time) error
	SyncRoutes(ctx context.Context, routes []*proxyv1.Route, now time.Time) error
	Audit(ctx context.Context, e store.AuditEntry) error
	RouteConfigs(ctx context.Context) (map[string]string, error)
	RecordRouteConfigs(ctx context.Context, configs map[string]string, entries []store.AuditEntry) error
	ConfigFiles(ctx context.Context) (map[string]string, error)
	RecordConfigFiles(ctx context.Context, files map[string]*string, entries []store.AuditEntry, now time.Time) error
}

// Publisher hands a new snapshot to every data plane.
type Publisher interface {
	Publish(s *proxyv1.Snapshot) bool
}

// Reloader is safe for concurrent use; reloads run one at a time.
type Reloader struct {
	log        *zap.Logger
	globalPath string
	sitesDir   string
	certsDir   string
	store      Store
	pub        Publisher
	now        func() time.Time

	mu       sync.Mutex
	version  uint64
	hash     string     // of the configuration and the certificates in force
	certs    *certs.Set // the certificates in force; a failed pair keeps its predecessor from here
	problems string     // the certificate problems last logged, to log each change once
	lastErr  []string
	loaded   bool
	lastHash string // hash of the version recorded before this process started

	global atomic.Pointer[config.Global] // of the configuration in force, read without mu (global.go)
	cfg    atomic.Pointer[config.Config] // the configuration in force, stored before it is published (global.go)

	rejections *notify.Hub[Rejection] // rejections.go
}

// New returns a Reloader that continues the version sequence recorded in st.
func New(ctx context.Context, log *zap.Logger, globalPath, sitesDir, certsDir string, st Store, pub Publisher) (*Reloader, error) {
	v, h, err := st.LastSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("read last snapshot version: %w", err)
	}
	return &Reloader{log: log, globalPath: globalPath, sitesDir: sitesDir, certsDir: certsDir, store: st, pub: pub, now: time.Now, version: v, lastHash: h,
		rejections: notify.NewHub[Rejection](0)}, nil
}

// Status reports whether a configuration was ever accepted, the current version, and the errors
// of the last rejected attempt (nil once a later attempt succeeded).
func (r *Reloader) Status() (loaded bool, version uint64, lastErrors []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded, r.version, append([]string(nil), r.lastErr...)
}

// Reload reads the configuration and publishes a new version if it changed. source says what asked
// for it ("startup", "file_watcher", "grpc", "api"); it goes into the log and the audit trail,
// whose entries name the control plane itself ("system") as who made the change.
func (r *Reloader) Reload(ctx context.Context, source string) (changed bool, version uint64, errs []string) {
	return r.ReloadBy(ctx, source, "system")
}

// ReloadBy is Reload asked for by someone: user says who in the audit trail (an admin API
// caller's address, for example). A reload someone asked for is audited even when nothing
// changed (config_unchanged).
func (r *Reloader) ReloadBy(ctx context.Context, source, user string) (changed bool, version uint64, errs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	certSet := r.scanCertificates()
	cfg, err := config.Load(r.globalPath, r.sitesDir)
	var snap *proxyv1.Snapshot
	var hash string
	if err == nil {
		err = checkDefaultCertificate(cfg, certSet, r.certsDir)
	}
	if err == nil {
		hash = cfg.Hash + "+" + certSet.Hash()
		if r.loaded && hash == r.hash {
			r.lastErr = nil
			if user != "system" {
				r.audit(ctx, store.AuditEntry{Time: now, User: user, Action: "config_unchanged", ResourceType: "config",
					ResourceID: fmt.Sprint(r.version), Source: source,
					Notes: fmt.Sprintf("reload requested; the files have not changed, version %d stays live", r.version)})
			}
			return false, r.version, nil
		}
		next := r.version + 1
		if !r.loaded && r.version > 0 && hash == r.lastHash {
			// Restarted on the files of the recorded version: publish it under the same number,
			// so data planes that already run it are not sent it again.
			next = r.version
		}
		snap, err = snapshot.Build(cfg, next, now)
	}
	if err == nil {
		snap.Certificates = certSet.Certificates()
	}
	if err != nil {
		errs = r.reject(ctx, source, user, err, now)
		return false, r.version, errs
	}

	// The database records history; failing to write it must not keep a valid change from the
	// data planes (a full disk never blocks traffic), so those errors are logged, not returned.
	if err := r.store.SaveSnapshotVersion(ctx, snap.GetVersion(), hash, now); err != nil {
		r.log.Error("record snapshot version", zap.Uint64("version", snap.GetVersion()), zap.Error(err))
	}
	// Read before SyncRoutes marks removed routes inactive (routeaudit.go).
	prevRoutes, prevErr := r.store.RouteConfigs(ctx)
	if err := r.store.SyncRoutes(ctx, snap.GetRoutes(), now); err != nil {
		r.log.Error("record routes", zap.Uint64("version", snap.GetVersion()), zap.Error(err))
	}
	r.cfg.Store(cfg)
	r.pub.Publish(snap)
	old := r.hash
	r.version, r.hash, r.loaded, r.lastErr, r.certs = snap.GetVersion(), hash, true, nil, certSet
	r.global.Store(cfg.Global)
	r.log.Info("configuration accepted", zap.String("source", source), zap.Uint64("version", r.version),
		zap.Int("routes", len(snap.GetRoutes())), zap.Int("sites", len(cfg.Sites)),
		zap.Int("certificates", len(snap.GetCertificates())), zap.String("hash", hash))
	r.audit(ctx, store.AuditEntry{
		Time: now, User: user, Action: "config_reload", ResourceType: "config",
		ResourceID: fmt.Sprint(r.version), OldValue: old, NewValue: hash, Source: source,
		Notes: fmt.Sprintf("version %d: %d routes from %d sites, %d certificates", r.version, len(snap.GetRoutes()), len(cfg.Sites), len(snap.GetCertificates())),
	})
	r.auditFiles(ctx, cfg, r.version, source, user, now)
	if prevErr != nil {
		r.log.Error("read route records; route changes of this version are not audited", zap.Uint64("version", r.version), zap.Error(prevErr))
	} else {
		r.auditRoutes(ctx, prevRoutes, snap, auditLevels(cfg), source, user, now)
	}
	return true, r.version, nil
}

// auditRoutes records the routes of snap and writes the audit entries of their sites' audit
// levels (routeaudit.go).
func (r *Reloader) auditRoutes(ctx context.Context, prev map[string]string, snap *proxyv1.Snapshot, levels map[string]string, source, user string, now time.Time) {
	records, entries, err := routeChanges(prev, snap.GetRoutes(), levels, snap.GetVersion(), source, now)
	for i := range entries {
		entries[i].User = user
	}
	if err == nil {
		err = r.store.RecordRouteConfigs(ctx, records, entries)
	}
	if err != nil {
		r.log.Error("audit route changes", zap.Uint64("version", snap.GetVersion()), zap.Error(err))
	}
}

// reject logs every error with its file, line and column, and records the rejection.
func (r *Reloader) reject(ctx context.Context, source, user string, err error, now time.Time) []string {
	var errs []string
	var list []error
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		list = u.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		errs = append(errs, e.Error())
		fields := []zap.Field{zap.String("source", source), zap.String("error", e.Error())}
		var ce config.Error
		if errors.As(e, &ce) {
			fields = append(fields, zap.String("file", ce.File), zap.Int("line", ce.Line), zap.Int("column", ce.Column), zap.String("reason", ce.Msg))
		}
		r.log.Error("configuration rejected; the last good configuration stays live", fields...)
	}
	r.lastErr = errs
	r.audit(ctx, store.AuditEntry{
		Time: now, User: user, Action: "config_rejected", ResourceType: "config",
		ResourceID: fmt.Sprint(r.version), NewValue: strings.Join(errs, "\n"), Source: source,
		Notes: fmt.Sprintf("%d errors; version %d stays live", len(errs), r.version),
	})
	r.auditRejectedFiles(ctx, list, source, user, now)
	r.publishRejection(source, list, now)
	return errs
}

// scanCertificates reads the certificate directory, keeping the certificate in force for any pair
// that fails, and logs the problems when they differ from the last ones logged. Key material never
// reaches the log: problems name files and reasons only.
func (r *Reloader) scanCertificates() *certs.Set {
	if r.certsDir == "" {
		return nil
	}
	set, problems := certs.Scan(r.certsDir, r.certs)
	var lines []string
	for _, p := range problems {
		lines = append(lines, p.String())
	}
	if joined := strings.Join(lines, "\n"); joined != r.problems {
		r.problems = joined
		for _, p := range problems {
			fields := []zap.Field{zap.String("certificate", p.Name), zap.String("kind", string(p.Kind)), zap.Strings("files", p.Files), zap.String("problem", p.String())}
			if p.Skipped() {
				r.log.Error("certificate not loaded", fields...)
			} else {
				r.log.Warn("certificate loaded with a problem", fields...)
			}
		}
	}
	return set
}

// checkDefaultCertificate rejects a configuration whose tls.default_certificate names a certificate
// that is not in the directory: the data planes could not apply it.
func checkDefaultCertificate(cfg *config.Config, set *certs.Set, dir string) error {
	name := cfg.Global.TLS.DefaultCertificate
	if name == "" || set.Get(name) != nil {
		return nil
	}
	var have []string
	for _, c := range set.Certificates() {
		have = append(have, c.GetName())
	}
	return config.ErrorList{{File: cfg.Global.File, Msg: fmt.Sprintf("tls.default_certificate %q: no such certificate in %s (found: %s)", name, dir, strings.Join(have, ", "))}}
}

func (r *Reloader) audit(ctx context.Context, e store.AuditEntry) {
	if err := r.store.Audit(ctx, e); err != nil {
		r.log.Error("write audit log", zap.String("action", e.Action), zap.Error(err))
	}
}
