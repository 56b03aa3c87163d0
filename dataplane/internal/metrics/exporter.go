package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Queue is the event buffer as the metrics see it; *events.Queue is one.
type Queue interface {
	Len() int
	Cap() int
	DroppedTotal() uint64
}

// Sources are where the metrics come from. Requests is required; a nil func leaves its series
// out (and its SystemMetrics field 0).
type Sources struct {
	Requests *Requests
	// Start is when the data plane started (uptime); Now is the clock, nil for time.Now.
	Start time.Time
	Now   func() time.Time
	// Connections are the client connections open now, on every listener.
	Connections func() int64
	WebSockets  func() int64
	Bans        func() int
	// Snapshot is the version served and when it was applied (zero before the first).
	Snapshot func() (version uint64, applied time.Time)
	Queue    Queue
	// Health is the control plane's latest health list, nil before the first.
	Health func() *proxyv1.HealthList
	// BackendFailures are the backend timeouts and oversized responses since start.
	BackendFailures func() proxy.Counters
	// ProxyProtocol counts the connections the PROXY protocol check handled.
	ProxyProtocol func() listen.ProxyProtocolStats
	// Log receives what cannot be measured (no /proc for the RSS); nil: nothing.
	Log *zap.Logger
}

// Exporter serves the Prometheus metrics and builds the SystemMetrics reports.
type Exporter struct {
	src     Sources
	reg     *prometheus.Registry
	rssWarn atomic.Bool // logged once that the RSS cannot be read
}

// New registers the data plane's collectors, and Go's runtime and process collectors, in a
// registry of the Exporter's own.
func New(src Sources) (*Exporter, error) {
	if src.Requests == nil {
		return nil, errors.New("metrics: Sources.Requests is required")
	}
	if src.Now == nil {
		src.Now = time.Now
	}
	if src.Log == nil {
		src.Log = zap.NewNop()
	}
	e := &Exporter{src: src, reg: prometheus.NewRegistry()}
	// The runtime and process collectors of package prometheus, not of package collectors
	// (which deprecation points to): that one links database/sql for its DB stats collector,
	// and the data plane must link no database (cmd/dataplane/deps_test.go). They are the same
	// collectors.
	for _, c := range []prometheus.Collector{
		newCollector(src),
		prometheus.NewGoCollector(), //nolint:staticcheck // see above
		prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}), //nolint:staticcheck // see above
	} {
		if err := e.reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register collector: %w", err)
		}
	}
	return e, nil
}

// Handler serves the metrics in the Prometheus text format (or OpenMetrics, as negotiated).
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{
		ErrorLog:      zap.NewStdLog(e.src.Log),
		ErrorHandling: promhttp.ContinueOnError, // a failing collector must not hide the others
	})
}

// Gatherer gives the metrics as protobuf families, for tests and tools.
func (e *Exporter) Gatherer() prometheus.Gatherer { return e.reg }
