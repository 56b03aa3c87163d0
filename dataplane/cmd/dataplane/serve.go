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

	"github.com/proxy-manager/proxy-manager/dataplane/internal/cpclient"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/edge"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/ops"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/pkg/grpcauth"
	"github.com/proxy-manager/proxy-manager/pkg/logging"
)

// serve runs the data plane until ctx is cancelled (SIGINT/SIGTERM), then shuts down in one order:
// report not ready, stop accepting and drain in-flight requests, deliver buffered events, stop.
func serve(ctx context.Context, args []string) error {
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
	httpLis, err := net.Listen("tcp", s.listenAddr)
	if err != nil {
		return fmt.Errorf("listen address %s (PROXY_LISTEN_ADDR): %w", s.listenAddr, err)
	}
	defer httpLis.Close()
	opsLis, err := net.Listen("tcp", s.opsAddr)
	if err != nil {
		return fmt.Errorf("ops address %s (PROXY_OPS_ADDR): %w", s.opsAddr, err)
	}
	defer opsLis.Close()

	queue := events.NewQueue(s.eventBuffer)
	pools := proxy.NewPools(proxy.Options{ErrorLog: zap.NewStdLog(log.Named("proxy"))})
	defer pools.Close()
	holder := &edge.Holder{}
	conn, err := cpclient.Dial(s.controlPlane, token)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := cpclient.New(log.Named("cpclient"), conn,
		&edge.Applier{Holder: holder, Pools: pools, Options: edge.BuildOptions{IPHashKey: hashKey}},
		queue, cpclient.Options{NodeID: s.nodeID, BinaryVersion: version})
	handler, err := edge.New(edge.Config{Runtimes: holder, Events: queue})
	if err != nil {
		return err
	}
	state := ops.NewState(client.Version)

	httpSrv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second, // slow-header clients (slowloris) cannot hold connections
		IdleTimeout:       120 * time.Second,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	opsSrv := &http.Server{Handler: ops.Handler(state), ReadHeaderTimeout: 5 * time.Second}

	// The control-plane client outlives the HTTP server: it must deliver the events of the
	// requests drained during shutdown. It stops only after Flush.
	cpCtx, stopCP := context.WithCancel(context.Background())
	defer stopCP()
	var cpGroup errgroup.Group
	cpGroup.Go(func() error { client.RunSnapshots(cpCtx); return nil })
	cpGroup.Go(func() error { client.RunEvents(cpCtx); return nil })

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(httpSrv, httpLis, "http") })
	g.Go(func() error { return serveHTTP(opsSrv, opsLis, "ops") })
	state.SetStarted()
	log.Info("listening", zap.String("http", httpLis.Addr().String()), zap.String("ops", opsLis.Addr().String()))

	g.Go(func() error {
		<-gctx.Done()
		return shutdown(log, s.shutdownTimeout, state, httpSrv, opsSrv, client)
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

// shutdown drains the HTTP server within timeout, then spends what is left of it (at most
// maxFlush) delivering the buffered events. Only a drain that ran out of time is an error.
func shutdown(log *zap.Logger, timeout time.Duration, state *ops.State, httpSrv, opsSrv *http.Server, client *cpclient.Client) error {
	log.Info("shutting down", zap.Duration("timeout", timeout))
	state.SetStopping()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var drainErr error
	if err := httpSrv.Shutdown(ctx); err != nil {
		drainErr = fmt.Errorf("in-flight requests did not finish within %v: %w", timeout, err)
		log.Error("closing remaining connections", zap.Error(err))
		httpSrv.Close()
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
