package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

var (
	descConnected = prometheus.NewDesc("controlplane_dataplanes_connected",
		"Data planes with a live snapshot stream.", nil, nil)
	descKnown = prometheus.NewDesc("controlplane_dataplanes_known",
		"Data planes seen since the control plane started.", nil, nil)
	descSnapshot = prometheus.NewDesc("controlplane_snapshot_version",
		"Version of the snapshot the control plane serves (0 before the first).", nil, nil)
	descBans = prometheus.NewDesc("controlplane_bans_active",
		"Bans in force, pushed to every data plane.", nil, nil)
	descHealth = prometheus.NewDesc("controlplane_route_health_state",
		"Health-check state of a route's backend: 1 for the current state, 0 for the others.", []string{"route", "state"}, nil)
	descCert = prometheus.NewDesc("controlplane_certificate_days_left",
		"Days before a certificate expires (negative once expired).", []string{"domain"}, nil)
	descRetention = prometheus.NewDesc("controlplane_retention_last_run_timestamp_seconds",
		"Unix time the last retention run started (0: never).", nil, nil)
	descDBSize = prometheus.NewDesc("controlplane_sqlite_size_bytes",
		"Size of the SQLite database: the main file and its write-ahead log.", []string{"file"}, nil)
	descScrapeErr = prometheus.NewDesc("controlplane_metrics_scrape_error",
		"1 when the database gauges could not be read at this scrape (see the log).", nil, nil)
)

// gauges reads the current values at each scrape, so they are never stale.
type gauges struct {
	log   *zap.Logger
	fleet Fleet
	bans  Bans
	store Store
	now   func() time.Time
}

func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnected, descKnown, descSnapshot, descBans, descHealth, descCert,
		descRetention, descDBSize, descScrapeErr} {
		ch <- d
	}
}

func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	dps := g.fleet.Dataplanes()
	var connected int
	for _, d := range dps {
		if d.GetConnected() {
			connected++
		}
	}
	snap, _ := g.fleet.Current()
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, float64(connected))
	ch <- prometheus.MustNewConstMetric(descKnown, prometheus.GaugeValue, float64(len(dps)))
	ch <- prometheus.MustNewConstMetric(descSnapshot, prometheus.GaugeValue, float64(snap.GetVersion()))
	if g.bans != nil {
		ch <- prometheus.MustNewConstMetric(descBans, prometheus.GaugeValue, float64(len(g.bans.List())))
	}

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	s, err := g.store.ScrapeGauges(ctx, g.now())
	if err != nil {
		g.log.Error("read database gauges for /metrics", zap.Error(err))
		ch <- prometheus.MustNewConstMetric(descScrapeErr, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErr, prometheus.GaugeValue, 0)
	for _, h := range s.Health {
		for _, st := range HealthStates {
			v := 0.0
			if st == h.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descHealth, prometheus.GaugeValue, v, h.Route, st)
		}
	}
	for domain, days := range s.CertDaysLeft {
		ch <- prometheus.MustNewConstMetric(descCert, prometheus.GaugeValue, days, domain)
	}
	var last float64
	if !s.LastRetentionRun.IsZero() {
		last = float64(s.LastRetentionRun.Unix())
	}
	ch <- prometheus.MustNewConstMetric(descRetention, prometheus.GaugeValue, last)
	ch <- prometheus.MustNewConstMetric(descDBSize, prometheus.GaugeValue, float64(s.DBBytes), "db")
	ch <- prometheus.MustNewConstMetric(descDBSize, prometheus.GaugeValue, float64(s.WALBytes), "wal")
}
