// Package reloader turns the configuration files into snapshot versions: it loads and validates
// them, builds a snapshot when they changed, records the version, and publishes it to the fleet.
// A configuration that does not load is rejected as a whole and the last good one stays live.
package reloader

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

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
	store      Store
	pub        Publisher
	now        func() time.Time

	mu       sync.Mutex
	version  uint64
	hash     string
	lastErr  []string
	loaded   bool
	lastHash string // hash of the version recorded before this process started
}

// New returns a Reloader that continues the version sequence recorded in st.
func New(ctx context.Context, log *zap.Logger, globalPath, sitesDir string, st Store, pub Publisher) (*Reloader, error) {
	v, h, err := st.LastSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("read last snapshot version: %w", err)
	}
	return &Reloader{log: log, globalPath: globalPath, sitesDir: sitesDir, store: st, pub: pub, now: time.Now, version: v, lastHash: h}, nil
}

// Status reports whether a configuration was ever accepted, the current version, and the errors
// of the last rejected attempt (nil once a later attempt succeeded).
func (r *Reloader) Status() (loaded bool, version uint64, lastErrors []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded, r.version, append([]string(nil), r.lastErr...)
}

// Reload reads the configuration and publishes a new version if it changed. source says what asked
// for it ("startup", "file_watcher", "grpc", "api"); it goes into the log and the audit trail.
func (r *Reloader) Reload(ctx context.Context, source string) (changed bool, version uint64, errs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	cfg, err := config.Load(r.globalPath, r.sitesDir)
	var snap *proxyv1.Snapshot
	if err == nil {
		if r.loaded && cfg.Hash == r.hash {
			r.lastErr = nil
			return false, r.version, nil
		}
		next := r.version + 1
		if !r.loaded && r.version > 0 && cfg.Hash == r.lastHash {
			// Restarted on the configuration of the recorded version: publish it under the same
			// number, so data planes that already run it are not sent it again.
			next = r.version
		}
		snap, err = snapshot.Build(cfg, next, now)
	}
	if err != nil {
		errs = r.reject(ctx, source, err, now)
		return false, r.version, errs
	}

	// The database records history; failing to write it must not keep a valid change from the
	// data planes (a full disk never blocks traffic), so those errors are logged, not returned.
	if err := r.store.SaveSnapshotVersion(ctx, snap.GetVersion(), cfg.Hash, now); err != nil {
		r.log.Error("record snapshot version", zap.Uint64("version", snap.GetVersion()), zap.Error(err))
	}
	if err := r.store.SyncRoutes(ctx, snap.GetRoutes(), now); err != nil {
		r.log.Error("record routes", zap.Uint64("version", snap.GetVersion()), zap.Error(err))
	}
	r.pub.Publish(snap)
	old := r.hash
	r.version, r.hash, r.loaded, r.lastErr = snap.GetVersion(), cfg.Hash, true, nil
	r.log.Info("configuration accepted", zap.String("source", source), zap.Uint64("version", r.version),
		zap.Int("routes", len(snap.GetRoutes())), zap.Int("sites", len(cfg.Sites)), zap.String("config_hash", cfg.Hash))
	r.audit(ctx, store.AuditEntry{
		Time: now, User: "system", Action: "config_reload", ResourceType: "config",
		ResourceID: fmt.Sprint(r.version), OldValue: old, NewValue: cfg.Hash, Source: source,
		Notes: fmt.Sprintf("version %d: %d routes from %d sites", r.version, len(snap.GetRoutes()), len(cfg.Sites)),
	})
	return true, r.version, nil
}

// reject logs every error with its file, line and column, and records the rejection.
func (r *Reloader) reject(ctx context.Context, source string, err error, now time.Time) []string {
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
		Time: now, User: "system", Action: "config_rejected", ResourceType: "config",
		ResourceID: fmt.Sprint(r.version), NewValue: strings.Join(errs, "\n"), Source: source,
		Notes: fmt.Sprintf("%d errors; version %d stays live", len(errs), r.version),
	})
	return errs
}

func (r *Reloader) audit(ctx context.Context, e store.AuditEntry) {
	if err := r.store.Audit(ctx, e); err != nil {
		r.log.Error("write audit log", zap.String("action", e.Action), zap.Error(err))
	}
}
