package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector reads the counters and gauges of Sources when scraped.
type collector struct {
	src Sources

	requests, duration, wafBlocks             *prometheus.Desc
	connections, websockets, bans             *prometheus.Desc
	snapshotVersion, snapshotAge              *prometheus.Desc
	eventsDropped, queueLength, queueCapacity *prometheus.Desc
	backendHealth, backendSuccess             *prometheus.Desc
	backendFailures, proxyProtocol            *prometheus.Desc
}

// HealthStates are the values of proxy_backend_health's state label.
var HealthStates = [...]string{"healthy", "degraded", "down", "unknown"}

func newCollector(src Sources) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		src:             src,
		requests:        d("proxy_requests_total", "Requests answered, by route id, status code and method.", "route", "status_code", "method"),
		duration:        d("proxy_request_duration_seconds", "Time from a request's arrival to the end of its response.", "route"),
		wafBlocks:       d("proxy_waf_blocks_total", "Requests the route's WAF blocked (403).", "route"),
		connections:     d("proxy_active_connections", "Client connections open now, on every listener (HTTP/1.1, HTTP/2, HTTP/3)."),
		websockets:      d("proxy_websockets_active", "WebSockets open now."),
		bans:            d("proxy_bans_active", "Bans held: pushed by the control plane and decided here."),
		snapshotVersion: d("proxy_snapshot_version", "Version of the snapshot served; 0 before the first."),
		snapshotAge:     d("proxy_snapshot_age_seconds", "Time since the snapshot served was applied."),
		eventsDropped:   d("proxy_events_dropped_total", "Events dropped because the buffer to the control plane was full."),
		queueLength:     d("proxy_event_queue_length", "Events waiting to be sent to the control plane."),
		queueCapacity:   d("proxy_event_queue_capacity", "Request events the buffer holds at most."),
		backendHealth:   d("proxy_backend_health", "The control plane's health-check state of each route's backend: 1 for the current state.", "route", "state"),
		backendSuccess:  d("proxy_backend_health_success_ratio", "Share of the health checks of the last minute that succeeded.", "route"),
		backendFailures: d("proxy_backend_failures_total", "Backend exchanges that failed, by kind, over all routes.", "kind"),
		proxyProtocol:   d("proxy_proxy_protocol_connections_total", "Connections the PROXY protocol check handled, by result.", "result"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.duration, c.wafBlocks, c.connections, c.websockets,
		c.bans, c.snapshotVersion, c.snapshotAge, c.eventsDropped, c.queueLength, c.queueCapacity,
		c.backendHealth, c.backendSuccess, c.backendFailures, c.proxyProtocol} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectRequests(ch)
	s := c.src
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if s.Connections != nil {
		gauge(c.connections, float64(s.Connections()))
	}
	if s.WebSockets != nil {
		gauge(c.websockets, float64(s.WebSockets()))
	}
	if s.Bans != nil {
		gauge(c.bans, float64(s.Bans()))
	}
	if s.Snapshot != nil {
		v, applied := s.Snapshot()
		gauge(c.snapshotVersion, float64(v))
		if !applied.IsZero() {
			gauge(c.snapshotAge, s.Now().Sub(applied).Seconds())
		}
	}
	if s.Queue != nil {
		counter(c.eventsDropped, float64(s.Queue.DroppedTotal()))
		gauge(c.queueLength, float64(s.Queue.Len()))
		gauge(c.queueCapacity, float64(s.Queue.Cap()))
	}
	if s.Health != nil {
		for _, b := range s.Health().GetBackends() {
			for _, st := range HealthStates {
				v := 0.0
				if b.GetState() == st {
					v = 1
				}
				gauge(c.backendHealth, v, b.GetRouteId(), st)
			}
			gauge(c.backendSuccess, b.GetSuccessRatio(), b.GetRouteId())
		}
	}
	if s.BackendFailures != nil {
		f := s.BackendFailures()
		counter(c.backendFailures, float64(f.ConnectTimeouts), "connect_timeout")
		counter(c.backendFailures, float64(f.ReadTimeouts), "read_timeout")
		counter(c.backendFailures, float64(f.WriteTimeouts), "write_timeout")
		counter(c.backendFailures, float64(f.ResponsesTooLarge), "response_too_large")
	}
	if s.ProxyProtocol != nil {
		p := s.ProxyProtocol()
		counter(c.proxyProtocol, float64(p.Accepted), "accepted")
		counter(c.proxyProtocol, float64(p.Untrusted), "untrusted")
		counter(c.proxyProtocol, float64(p.Malformed), "malformed")
		counter(c.proxyProtocol, float64(p.TimedOut), "timed_out")
	}
}

// collectRequests emits each route's request counts (the non-zero ones), duration histogram
// and WAF blocks. Routes that served nothing yet still show an empty histogram.
func (c *collector) collectRequests(ch chan<- prometheus.Metric) {
	for _, r := range c.src.Requests.all() {
		for m := range r.byMethod {
			counts := r.byMethod[m].Load()
			if counts == nil {
				continue
			}
			for st := range counts {
				if n := counts[st].Load(); n > 0 {
					ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), r.id, statusLabel(st), methods[m])
				}
			}
		}
		// The count is the buckets' total, read once, so that it always equals the +Inf bucket.
		cumulative := make(map[float64]uint64, nBuckets)
		var total uint64
		for i := range r.buckets {
			total += r.buckets[i].Load()
			if i < nBuckets {
				cumulative[Buckets[i]] = total
			}
		}
		sum := float64(r.sumNanos.Load()) / 1e9
		ch <- prometheus.MustNewConstHistogram(c.duration, total, sum, cumulative, r.id)
		if r.id != Unmatched {
			ch <- prometheus.MustNewConstMetric(c.wafBlocks, prometheus.CounterValue, float64(r.wafBlocks.Load()), r.id)
		}
	}
}
