package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/breaker"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/cpclient"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/edge"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/geoip"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/health"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/maintenance"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/metrics"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/ops"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/ratelimit"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/sched"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/pkg/grpcauth"
	"github.com/proxy-manager/proxy-manager/pkg/logging"
)

// serve runs the data plane until ctx is cancelled (SIGINT/SIGTERM), then shuts down in one order:
// report not ready, stop accepting and drain in-flight requests, deliver buffered events, stop.
func serve(ctx context.Context, args []string) error {
	started := time.Now()
	s, err := parseSettings(args)
	if err != nil {
		return err
	}
	log, err := logging.New(s.logLevel, s.logFormat)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr may not support sync
	log = log.With(zap.String("component", "dataplane"), zap.String("node", s.nodeID))
	log.Info("starting", zap.String("version", version), zap.String("controlplane", s.controlPlane))
	if s.schedSlice > 0 {
		if err := sched.SetSlice(s.schedSlice); err != nil {
			log.Warn("scheduler slice not set; the kernel's default applies", zap.Duration("slice", s.schedSlice), zap.Error(err))
		} else {
			log.Info("scheduler slice set", zap.Duration("slice", s.schedSlice))
		}
	}

	token, err := grpcauth.ReadToken(s.tokenFile)
	if err != nil {
		return err
	}
	var hashKey []byte
	if s.ipHashKeyFile != "" {
		if hashKey, err = os.ReadFile(s.ipHashKeyFile); err != nil {
			return fmt.Errorf("PROXY_IP_HASH_KEY_FILE: %w", err)
		}
		hashKey = []byte(strings.TrimSpace(string(hashKey)))
	}
	// Bind first: a port in use is a startup error, not a half-started process.
	opsLis, err := net.Listen("tcp", s.opsAddr)
	if err != nil {
		return fmt.Errorf("ops address %s (PROXY_OPS_ADDR): %w", s.opsAddr, err)
	}
	defer opsLis.Close()

	queue := events.NewQueue(s.eventBuffer)
	pools := proxy.NewPools(proxy.Options{})
	defer pools.Close()
	holder := &edge.Holder{}
	edges := &listen.EdgeHolder{}
	// Bans decided here and pushed by the control plane; the cpclient hands it every BanList.
	banned := bans.New(bans.Options{Log: log.Named("bans")})
	// Request counters per route (Prometheus), and the control plane's health-check states.
	requests, healthState := metrics.NewRequests(), &health.Holder{}
	// Routes in maintenance, as the control plane pushes them.
	maint := maintenance.NewHolder(log.Named("maintenance"))
	handler, err := edge.New(edge.Config{Runtimes: holder, Events: queue, Log: log.Named("edge"), Bans: banned,
		Metrics: requests, Health: healthState, Maintenance: maint})
	if err != nil {
		return err
	}
	servers, err := listen.Listen(listen.Config{
		HTTPAddr: s.listenAddr, TLSAddr: s.tlsAddr, H3Addr: s.h3Addr,
		Handler: handler, Edges: edges, Reject: handler.Reject, ErrorLog: zap.NewStdLog(log.Named("http")),
		Log: log.Named("listen"),
	})
	if err != nil {
		return bindError(err)
	}
	conn, err := cpclient.Dial(s.controlPlane, token)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Circuit breakers outlive snapshots; their state changes travel with the events.
	breakers := breaker.NewRegistry(queue.PushCircuit)
	// The GeoIP database is loaded once per path the snapshots name, and polled for new versions.
	geo := geoip.NewSource(log.Named("geoip"), geoip.DefaultPollInterval)
	apply := &applier{runtime: &edge.Applier{Holder: holder, Pools: pools, Options: edge.BuildOptions{IPHashKey: hashKey, Breakers: breakers,
		GeoIP: geo, GeoIPLogins: geoip.NewLogins(geoip.WarmUpTime, geoip.WarmUpLogins),
		RateLimits: ratelimit.NewTable(ratelimit.DefaultCapacity), Metrics: requests}}, edges: edges}
	// /metrics on the ops listener, and the system metrics sent to the control plane.
	exporter, err := metrics.New(metrics.Sources{Requests: requests, Start: started, Queue: queue,
		Connections: servers.ActiveConnections, WebSockets: handler.WebSockets().Open, Bans: banned.Len,
		Snapshot: holder.Applied, Health: healthState.List, BackendFailures: pools.Counters,
		ProxyProtocol: servers.ProxyProtocolStats, Log: log.Named("metrics")})
	if err != nil {
		return err
	}
	client := cpclient.New(log.Named("cpclient"), conn, apply, queue,
		cpclient.Options{NodeID: s.nodeID, BinaryVersion: version, PoolStats: pools.Stats, Bans: banned,
			Health: healthState, Maintenance: maint, System: exporter.System})
	state := ops.NewState(client.Version)
	opsSrv := &http.Server{Handler: ops.Handler(state, s.profiling, exporter.Handler()), ReadHeaderTimeout: 5 * time.Second}

	// The control-plane client outlives the HTTP server: it must deliver the events of the
	// requests drained during shutdown. It stops only after Flush.
	cpCtx, stopCP := context.WithCancel(context.Background())
	defer stopCP()
	var cpGroup errgroup.Group
	cpGroup.Go(func() error { client.RunSnapshots(cpCtx); return nil })
	cpGroup.Go(func() error { client.RunEvents(cpCtx); return nil })

	g, gctx := errgroup.WithContext(ctx)
	g.Go(servers.Serve)
	g.Go(func() error { return serveHTTP(opsSrv, opsLis, "ops") })
	g.Go(func() error { geo.Run(gctx); return nil })
	state.SetStarted()
	log.Info("listening", addrField("http", servers.HTTPAddr()), addrField("https", servers.TLSAddr()),
		addrField("http3", servers.H3Addr()), zap.String("ops", opsLis.Addr().String()))

	g.Go(func() error {
		<-gctx.Done()
		return shutdown(log, s.shutdownTimeout, state, servers, opsSrv, handler, client)
	})
	err = g.Wait()
	stopCP()
	_ = cpGroup.Wait() // the runners return nil; they stop when cpCtx ends
	if err == nil {
		log.Info("stopped")
	}
	return err
}

func serveHTTP(srv *http.Server, l net.Listener, name string) error {
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	return nil
}

// maxFlush bounds how long shutdown waits for the control plane to take the buffered events.
const maxFlush = 10 * time.Second

// shutdown drains the listeners within timeout, then spends what is left of it (at most
// maxFlush) delivering the buffered events. Only a drain that ran out of time is an error.
func shutdown(log *zap.Logger, timeout time.Duration, state *ops.State, servers *listen.Servers, opsSrv *http.Server, handler *edge.Handler, client *cpclient.Client) error {
	log.Info("shutting down", zap.Duration("timeout", timeout))
	state.SetStopping()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Shutdown does not wait for hijacked connections, so WebSockets are closed (1001 Going Away)
	// alongside the drain, under the same deadline; their CLOSE events are queued before it returns.
	var drain errgroup.Group
	drain.Go(func() error {
		// Stops accepting on every listener at once (TCP, QUIC, port 80), then drains.
		if err := servers.Shutdown(ctx); err != nil {
			return fmt.Errorf("in-flight requests did not finish within %v: %w", timeout, err)
		}
		return nil
	})
	drain.Go(func() error {
		if err := handler.CloseWebSockets(ctx); err != nil {
			return fmt.Errorf("WebSockets did not close within %v: %w", timeout, err)
		}
		return nil
	})
	drainErr := drain.Wait()
	if drainErr != nil {
		log.Error("closing remaining connections", zap.Error(drainErr))
	}
	// Delivering events is worth a wait, but not the whole budget when the control plane is away:
	// what cannot be sent is logged with its count.
	fctx, fcancel := context.WithTimeout(ctx, maxFlush)
	defer fcancel()
	if err := client.Flush(fctx); err != nil {
		log.Warn("events not delivered before exit", zap.Error(err))
	} else {
		log.Info("events delivered")
	}
	if err := opsSrv.Shutdown(ctx); err != nil {
		opsSrv.Close()
	}
	return drainErr
}

// applier makes a snapshot live: the edge settings (certificates, switches) and the routing
// runtime are both built before either is stored, so a snapshot that fails either is NACKed and
// changes nothing.
type applier struct {
	runtime *edge.Applier
	edges   *listen.EdgeHolder
}

func (a *applier) Apply(snap *proxyv1.Snapshot) error {
	e, err := listen.NewEdge(snap)
	if err != nil {
		return fmt.Errorf("edge settings: %w", err)
	}
	if err := a.runtime.Apply(snap); err != nil {
		return err
	}
	a.edges.Store(e)
	return nil
}

// bindError names the environment variable of a listener that could not bind.
func bindError(err error) error {
	var be *listen.BindError
	if !errors.As(err, &be) {
		return err
	}
	env := map[string]string{listen.ListenerHTTP: "PROXY_LISTEN_ADDR", listen.ListenerHTTPS: "PROXY_TLS_ADDR", listen.ListenerHTTP3: "PROXY_H3_ADDR"}[be.Listener]
	return fmt.Errorf("%s address %s (%s): %w", be.Listener, be.Addr, env, be.Err)
}

// addrField logs a listener's address, or "off" for a listener that is not configured (a nil
// net.Addr, which zap.Stringer would log as a panic).
func addrField(key string, a net.Addr) zap.Field {
	if a == nil {
		return zap.String(key, "off")
	}
	return zap.String(key, a.String())
}
