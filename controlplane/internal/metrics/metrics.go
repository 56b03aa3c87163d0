// Package metrics is the control plane's Prometheus registry, served at /metrics on the admin
// listener: counters of the event path (fed as an ingest.Observer) and gauges read at scrape
// time from the fleet, the ban registry and the database.
//
// Labels are bounded: route (Route.id, from the configuration), domain (configured
// certificates), state and result (fixed sets). No path, address or node label.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// Fleet reports the data planes and the live snapshot; *fleet.Fleet is one.
type Fleet interface {
	Dataplanes() []*proxyv1.Dataplane
	Current() (*proxyv1.Snapshot, <-chan struct{})
}

// Bans lists the bans in force; *bans.Registry is one.
type Bans interface {
	List() []*proxyv1.Ban
}

// Store reads the database's gauges; *store.Store is one.
type Store interface {
	ScrapeGauges(ctx context.Context, now time.Time) (store.Gauges, error)
}

// HealthStates are the states a route's health can be in; each gets a series, 1 for the current.
var HealthStates = []string{"healthy", "degraded", "down", "unknown"}

// scrapeTimeout bounds the database reads of one scrape.
const scrapeTimeout = 5 * time.Second

// Metrics is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	eventsStored  prometheus.Counter
	eventsDropped prometheus.Counter
	batches       *prometheus.CounterVec
	ingest        prometheus.Histogram
}

// New registers every series. fleet, bans and st are read at each scrape.
func New(log *zap.Logger, fleet Fleet, bans Bans, st Store) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		eventsStored: prometheus.NewCounter(prometheus.CounterOpts{Name: "controlplane_events_stored_total",
			Help: "Events (requests, WebSockets, security) stored from the data planes' batches."}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "controlplane_events_dropped_total",
			Help: "Events the data planes reported dropping because their buffer was full."}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "controlplane_event_batches_total",
			Help: "Event batches received, by result: stored, duplicate (stored before, acknowledged again) or failed."},
			[]string{"result"}),
		ingest: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "controlplane_ingest_duration_seconds",
			Help:    "Time to store one event batch (one SQLite transaction), until it can be acknowledged.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
	}
	for _, r := range []string{"stored", "duplicate", "failed"} {
		m.batches.WithLabelValues(r) // every result has a series from the start
	}
	m.reg.MustRegister(m.eventsStored, m.eventsDropped, m.batches, m.ingest,
		&gauges{log: log, fleet: fleet, bans: bans, store: st, now: time.Now},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler(log *zap.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(log), ErrorHandling: promhttp.ContinueOnError})
}

// ObserveBatch counts a batch (an ingest.Observer).
func (m *Metrics) ObserveBatch(b *proxyv1.EventBatch, stored bool, took time.Duration, err error) {
	m.ingest.Observe(took.Seconds())
	switch {
	case err != nil:
		m.batches.WithLabelValues("failed").Inc()
	case !stored:
		m.batches.WithLabelValues("duplicate").Inc()
	default:
		m.batches.WithLabelValues("stored").Inc()
		m.eventsStored.Add(float64(len(b.GetRequests()) + len(b.GetWebsockets()) + len(b.GetSecurity())))
		m.eventsDropped.Add(float64(b.GetDroppedEvents()))
	}
}
