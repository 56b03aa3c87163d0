// Package adminhttp is the control plane's admin HTTP surface: health probes, the dashboard and its
// JSON API. It listens on loopback or a Unix socket only, and its guard (guard.go) refuses what a
// web page in the admin's browser could send it: a foreign Host (DNS rebinding), a foreign Origin,
// a mutating request without JSON or, from a browser, without the CSRF token.
package adminhttp

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Health tells the probes what state the control plane is in.
type Health interface {
	// Ready returns nil when the control plane can do its job: a configuration is live and the
	// database answers.
	Ready(ctx context.Context) error
	// Started reports whether startup (migrations, listeners, first load) has finished.
	Started() bool
}

// Fleet is what the API shows about the data planes and the live snapshot.
type Fleet interface {
	Dataplanes() []*proxyv1.Dataplane
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// ConfigStatus reports the last configuration load.
type ConfigStatus interface {
	Status() (loaded bool, version uint64, lastErrors []string)
}

// Bans lists and lifts the bans in force; *bans.Registry is one.
type Bans interface {
	List() []*proxyv1.Ban
	Lift(ctx context.Context, ip, routeID, source, notes string) (int, error)
}

// Config is what the admin surface serves.
type Config struct {
	Health Health
	Fleet  Fleet
	Config ConfigStatus
	Bans   Bans
	// Audit serves /api/audit; *store.Store is one.
	Audit AuditLog
	// PersonalData serves /api/gdpr/export and /api/gdpr/erase; *store.Store is one.
	PersonalData PersonalData
	// Retention serves POST /api/retention/run.
	Retention Retention
	// Backups serves GET /api/backups (backups.go).
	Backups Backups
	// Logs serves /api/logs and /api/errors, LiveLogs /api/logs?live=1; *store.Store and
	// *live.Ring are ones.
	Logs     LogStore
	LiveLogs LiveLogs
	// Observed serves the system metrics of /api/dataplanes, /api/stats/connection-pools,
	// /api/websockets and /api/security; *store.Store is one.
	Observed Observed
	// Metrics serves /metrics (Prometheus text format); *metrics.Metrics' Handler is one.
	Metrics http.Handler
	// Now is the clock of the API's periods; default time.Now.
	Now func() time.Time
	// Traffic serves /api/stats, /api/routes, /api/slow-requests and /api/analytics/*; *store.Store
	// is one. StartedAt is when the control plane started, for its uptime.
	Traffic   Traffic
	StartedAt time.Time
	Dashboard fs.FS // index.html at the root

	// BackendHealth serves /api/health; *healthcheck.Checker is one.
	BackendHealth BackendHealth
	// Certificates serves /api/certs; *certmon.Monitor is one.
	Certificates CertificateExpiry
	// Incidents serves POST /api/alerts/security-incident; *alerts.Alerts is one.
	Incidents Incidents
	// Webhooks serves /api/webhooks/deliveries and /api/webhooks/test; *webhook.Dispatcher is one.
	Webhooks Webhooks
	// Reloader serves POST /api/admin/reload; *reloader.Reloader is one.
	Reloader Reloader
	// AIContext serves GET /api/ai-context; aicontext.Sources is one.
	AIContext AIContext
	// Maintenance serves /api/maintenance; (*maintenance.Manager).Handler is one.
	Maintenance http.Handler
}

// Handler returns the admin HTTP handler.
func Handler(cfg Config) http.Handler {
	h := cfg.Health
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /health/startup", func(w http.ResponseWriter, _ *http.Request) {
		if !h.Started() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "started"})
	})
	mux.HandleFunc("GET /health/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		loaded, version, errs := cfg.Config.Status()
		st := map[string]any{"ready": true, "config_loaded": loaded, "version": version, "config_errors": errs,
			"dataplanes": len(cfg.Fleet.Dataplanes())}
		if err := h.Ready(r.Context()); err != nil {
			st["ready"], st["reason"] = false, err.Error()
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /api/dataplanes", func(w http.ResponseWriter, r *http.Request) {
		writeDataplanes(w, r, cfg.Fleet, cfg.Observed)
	})
	handleBans(mux, cfg.Bans)
	handleGDPR(mux, cfg.PersonalData)
	handleAudit(mux, cfg.Audit)
	handleRetention(mux, cfg.Retention)
	handleBackups(mux, cfg.Backups)
	handleHealthChecks(mux, cfg.BackendHealth, cfg.Certificates)
	handleLogs(mux, cfg.Logs, cfg.LiveLogs, cfg.now())
	handleObserved(mux, cfg.Observed, cfg.now())
	handleAlerts(mux, cfg.Incidents)
	aw, _ := cfg.Audit.(AuditWriter) // *store.Store reads and writes the trail
	handleWebhooks(mux, cfg.Webhooks, aw)
	handleReload(mux, cfg.Reloader)
	handleAIContext(mux, cfg.AIContext)
	if cfg.Maintenance != nil {
		mux.Handle("/api/maintenance", cfg.Maintenance)
		mux.Handle("/api/maintenance/", cfg.Maintenance)
	}
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	handleTraffic(mux, cfg.Traffic, cfg.Fleet, cfg.StartedAt, time.Now)
	mux.Handle("GET /dashboard/", http.StripPrefix("/dashboard/", http.FileServerFS(cfg.Dashboard)))
	mux.Handle("GET /{$}", http.RedirectHandler("/dashboard/", http.StatusFound))
	mux.Handle("GET /dashboard", http.RedirectHandler("/dashboard/", http.StatusMovedPermanently))
	return newGuard(mux) // guard.go: Host, Origin, JSON bodies and the CSRF token
}

// now is the API's clock.
func (c Config) now() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

// writeProto writes m as JSON the way grpcurl shows it, so the API and the gRPC admin agree.
func writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b) // the client went away; nothing to do
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}
