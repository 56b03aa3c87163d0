package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/adminhttp"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/aicontext"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/alerts"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/backup"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/certmon"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	backendhealth "github.com/proxy-manager/proxy-manager/controlplane/internal/healthcheck" // healthcheck is the probe command (health.go)
	"github.com/proxy-manager/proxy-manager/controlplane/internal/maintenance"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/reloader"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/retention"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/watch"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/webhook"
	"github.com/proxy-manager/proxy-manager/pkg/grpcauth"
	"github.com/proxy-manager/proxy-manager/pkg/logging"
	"github.com/proxy-manager/proxy-manager/ui"
)

// serve runs the control plane until ctx is cancelled (SIGINT/SIGTERM), then shuts down in one
// order: report not ready, stop the gRPC and admin servers (letting calls finish), stop watching,
// and close the database after its writer has drained.
func serve(ctx context.Context, args []string) error {
	started := time.Now() // the uptime /api/stats reports
	s, err := parseSettings(args)
	if err != nil {
		return err
	}
	log, err := logging.New(s.logLevel, s.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr may not support sync
	log = log.With(zap.String("component", "controlplane"))
	log.Info("starting", zap.String("version", version), zap.String("global", s.globalConfig),
		zap.String("sites", s.sitesDir), zap.String("db", s.dbPath))

	// Startup checks: fail now, with the reason, rather than half-start.
	if err := checkPaths(s); err != nil {
		return err
	}
	token, err := grpcauth.ReadToken(s.tokenFile)
	if err != nil {
		return err
	}
	lis, err := listenAll(s)
	if err != nil {
		return err
	}
	defer lis.close()

	// Held while running: a restore over this database refuses while it is (backup.Restore).
	dbLock, err := backup.TryLock(s.dbPath + ".lock")
	if err != nil {
		return fmt.Errorf("database %s is in use by another control plane or a restore: %w", s.dbPath, err)
	}
	defer dbLock.Unlock() //nolint:errcheck // released with the process anyway

	st, err := store.Open(ctx, s.dbPath, log.Named("store"))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close database", zap.Error(err))
		}
	}()

	fl := fleet.New(log.Named("fleet"))
	// Before any data plane can connect: each is sent the bans in force right after its Hello.
	bl, err := bans.New(ctx, log.Named("bans"), st, fl, bans.Options{})
	if err != nil {
		return err
	}
	rl, err := reloader.New(ctx, log.Named("config"), s.globalConfig, s.sitesDir, s.certsDir, st, fl)
	if err != nil {
		return err
	}
	if _, _, errs := rl.Reload(ctx, "startup"); len(errs) > 0 {
		// Keep running: the data planes keep their last snapshot, and fixing the file is picked up.
		log.Error("no valid configuration at startup; waiting for a fix", zap.Int("errors", len(errs)))
	}

	ret, err := retention.New(log.Named("retention"), st, rl, retention.Options{})
	if err != nil {
		return err
	}

	// Active health checks and certificate expiry follow the snapshot in force (issue 7).
	hc := backendhealth.New(log.Named("healthcheck"), st, fl, backendhealth.Options{})
	cm, err := certmon.New(ctx, log.Named("certmon"), st, certmon.Options{})
	if err != nil {
		return err
	}

	// Live log ring, error log and /metrics, fed by every stored event batch.
	obs, err := newObservability(log, s, st, fl, bl, rl.Global)
	if err != nil {
		return err
	}
	defer func() {
		if err := obs.errLog.Close(); err != nil {
			log.Error("close error log", zap.Error(err))
		}
	}()

	// Alerts to the webhooks of the configuration in force; detectors call wh.Send (never blocks).
	wh := webhook.New(log.Named("webhook"), rl, st, webhook.Options{})
	// Alert detectors (issue 8): every alert goes to the log and to the webhooks.
	al := alerts.New(log.Named("alerts"), alerts.Senders{alerts.LogSender{Log: log.Named("alerts")}, wh}, fl, fl, st,
		alerts.Options{Global: rl.Global})

	// Maintenance windows (issue 9): reloaded from the database, pushed like the bans; an open
	// circuit reported in an event batch shows the route's maintenance page.
	mt, err := maintenance.New(ctx, log.Named("maintenance"), st, fl, fl, maintenance.Options{Global: rl.Global})
	if err != nil {
		return err
	}

	// Three-tier backups (issue 10) on the schedule of backup:, failures raise backup_failed.
	bk, err := backup.NewJob(log.Named("backup"), rl, al, backup.JobOptions{DB: s.dbPath, DefaultDir: s.backupDir})
	if err != nil {
		return err
	}

	h := &probes{store: st, reloader: rl}
	grpcSrv, healthSrv := newGRPCServer(log, token, fl, st, rl, bl, obs.feed, obs.metrics, al, mt)
	adminSrv := &http.Server{
		Handler: adminhttp.Handler(adminhttp.Config{Health: h, Fleet: fl, Config: rl, Bans: bl, PersonalData: st, Audit: st, Retention: ret, Backups: bk,
			Logs: st, LiveLogs: obs.ring, Observed: st, Metrics: obs.metrics.Handler(log.Named("metrics")), Dashboard: ui.Dashboard(),
			BackendHealth: hc, Certificates: cm, Incidents: al, Traffic: st, StartedAt: started,
			Webhooks: wh, Reloader: rl, Maintenance: mt.Handler(), AIContext: aicontext.Sources{Store: st, Fleet: fl, Config: rl, Version: version, StartedAt: started}}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(log.Named("admin-http")),
	}
	w, err := watch.New(log.Named("watch"), watch.Options{Files: []string{s.globalConfig}, Dirs: []string{s.sitesDir}, Trees: []string{s.certsDir}})
	if err != nil {
		return fmt.Errorf("watch configuration: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(al.Start(gctx, hc, cm, rl)) // subscribed before the checks start: a backend down at start is alerted
	for _, l := range lis.grpc {
		g.Go(func() error { return grpcSrv.Serve(l) })
	}
	g.Go(func() error {
		if err := adminSrv.Serve(lis.admin); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		return w.Run(gctx, func() { rl.Reload(gctx, "file_watcher") })
	})
	g.Go(func() error { return bl.Run(gctx) })
	g.Go(func() error { return ret.Run(gctx) })
	g.Go(func() error { return bk.Run(gctx) })
	g.Go(func() error { return hc.Run(gctx, fl, rl) })
	g.Go(func() error { return cm.Run(gctx, fl) })
	g.Go(func() error { return wh.Run(gctx) })
	g.Go(func() error { return mt.Run(gctx) })
	h.started.Store(true)
	log.Info("ready", zap.Strings("grpc", lis.grpcAddrs()), zap.String("admin", lis.admin.Addr().String()))

	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down", zap.Duration("timeout", s.shutdownTimeout))
		h.stopping.Store(true)
		healthSrv.Shutdown()
		sctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
		defer cancel()
		// Unary admin calls finish within the grace; the data planes' streams never end by
		// themselves, so they are cut after it. Cutting is safe: a batch committed but not yet
		// acknowledged is re-sent by its data plane and recognised as stored.
		stopped := make(chan struct{})
		go func() { grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(min(s.shutdownTimeout, 3*time.Second)):
			grpcSrv.Stop()
		}
		return adminSrv.Shutdown(sctx)
	})
	err = g.Wait()
	if ctx.Err() != nil && err == nil {
		log.Info("stopped")
	}
	return err
}

// probes answers the admin health probes.
type probes struct {
	store    interface{ Ping(context.Context) error }
	reloader interface {
		Status() (loaded bool, version uint64, lastErrors []string)
	}
	started, stopping atomic.Bool
}

func (h *probes) Started() bool { return h.started.Load() }

func (h *probes) Ready(ctx context.Context) error {
	if h.stopping.Load() {
		return errors.New("shutting down")
	}
	if loaded, _, errs := h.reloader.Status(); !loaded {
		if len(errs) > 0 {
			return fmt.Errorf("no valid configuration: %s", errs[0])
		}
		return errors.New("no configuration loaded yet")
	}
	if err := h.store.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}
