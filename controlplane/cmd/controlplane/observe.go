package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/errorlog"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/live"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/metrics"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/config"
)

// Error-log destinations (PROXY_ERROR_LOG).
const (
	errorLogFile   = "file"
	errorLogStdout = "stdout"
)

// defaultErrorLogKeep is how long error-log files are kept before a configuration says.
const defaultErrorLogKeep = 30 * 24 * time.Hour

// observability is what watches the event path: the live ring with its error log, and the
// Prometheus metrics. Both are fed by every stored batch (ingest observers).
type observability struct {
	ring    *live.Ring
	feed    *live.Feed
	errLog  *errorlog.Log
	metrics *metrics.Metrics
}

// newObservability opens the error log in <database directory>/logs (or on stdout) and
// registers the metrics. global gives the configuration in force (nil before one), whose
// defaults.data_retention.error_logs says how long error-log files are kept.
func newObservability(log *zap.Logger, s settings, st *store.Store, fl metrics.Fleet, bl metrics.Bans, global func() *config.Global) (*observability, error) {
	opts := errorlog.Options{Keep: func() time.Duration {
		if g := global(); g != nil && g.Defaults.DataRetention != nil && g.Defaults.DataRetention.ErrorLogs > 0 {
			return g.Defaults.DataRetention.ErrorLogs
		}
		return defaultErrorLogKeep
	}}
	switch s.errorLog {
	case errorLogFile:
		opts.Dir = filepath.Join(filepath.Dir(s.dbPath), "logs")
	case errorLogStdout:
		opts.Writer = os.Stdout
	default:
		return nil, fmt.Errorf("error log (PROXY_ERROR_LOG) %q: want %s or %s", s.errorLog, errorLogFile, errorLogStdout)
	}
	el, err := errorlog.Open(opts)
	if err != nil {
		return nil, err
	}
	ring := live.NewRing(live.Capacity)
	return &observability{
		ring:    ring,
		feed:    live.NewFeed(log.Named("live"), ring, el),
		errLog:  el,
		metrics: metrics.New(log.Named("metrics"), fl, bl, st),
	}, nil
}
