package edge

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/health"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/metrics"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// obsHarness is an edge wired as the data plane wires it for observability: request counters
// shared by the Handler and every Build, the health holder, and the exporter's /metrics.
type obsHarness struct {
	*harness
	requests *metrics.Requests
	health   *health.Holder
	metrics  *httptest.Server
}

func newObsHarness(t *testing.T, sink Sink, queue metrics.Queue) *obsHarness {
	t.Helper()
	o := &obsHarness{
		harness:  &harness{holder: &Holder{}, events: &eventLog{}, pools: proxy.NewPools(proxy.Options{})},
		requests: metrics.NewRequests(), health: &health.Holder{},
	}
	if sink == nil {
		sink = o.events
	}
	handler, err := New(Config{Runtimes: o.holder, Events: sink, Metrics: o.requests, Health: o.health})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := metrics.New(metrics.Sources{
		Requests: o.requests, Start: time.Now(), Queue: queue, Snapshot: o.holder.Applied,
		Health: o.health.List, WebSockets: handler.WebSockets().Open, BackendFailures: o.pools.Counters,
	})
	if err != nil {
		t.Fatal(err)
	}
	o.front = httptest.NewServer(handler)
	o.metrics = httptest.NewServer(exp.Handler())
	t.Cleanup(func() {
		o.front.Close()
		o.metrics.Close()
		o.pools.Close()
	})
	return o
}

func (o *obsHarness) apply(t *testing.T, version uint64, routes ...*proxyv1.Route) {
	t.Helper()
	rt, err := Build(&proxyv1.Snapshot{Version: version, Routes: routes}, o.pools, BuildOptions{Metrics: o.requests})
	if err != nil {
		t.Fatal(err)
	}
	o.holder.Store(rt)
}

// scrape fetches /metrics and parses it with the Prometheus text parser.
func (o *obsHarness) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(o.metrics.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the series of family name with exactly labels, and whether it is
// there.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsOfRealRequests(t *testing.T) {
	queue := events.NewQueue(100)
	o := newObsHarness(t, queue, queue)
	backend := echoBackend(t, "b")
	o.apply(t, 3,
		newRoute("site.test/", backend.URL, "/", "site.test"),
		withPolicy(newRoute("waf.test/", backend.URL, "/", "waf.test"), &proxyv1.Policy{Waf: &proxyv1.Waf{Enabled: true, Mode: "block", Rules: allRules()}}),
	)
	o.health.SetHealth(&proxyv1.HealthList{Version: 1, Backends: []*proxyv1.BackendHealth{
		{RouteId: "site.test/", BackendUrl: backend.URL, State: "degraded", SuccessRatio: 0.75},
	}})
	for _, r := range []struct{ method, host, target string }{
		{http.MethodGet, "site.test", "/a"},
		{http.MethodGet, "site.test", "/b?x=1"},
		{http.MethodGet, "site.test", "/c"},
		{http.MethodPost, "site.test", "/form"},
		{"PROPFIND", "site.test", "/dav"},
		{http.MethodGet, "nowhere.test", "/"},
		{http.MethodGet, "waf.test", "/search?q=" + url.QueryEscape("1' OR '1'='1' --")},
	} {
		o.do(t, r.method, r.host, r.target, nil, nil)
	}
	// The count is taken as the event is pushed, just after the client has its response.
	deadline := time.Now().Add(5 * time.Second)
	for o.requests.Total() < 7 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	fams := o.scrape(t)

	want := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"proxy_requests_total", map[string]string{"route": "site.test/", "status_code": "200", "method": "GET"}, 3},
		{"proxy_requests_total", map[string]string{"route": "site.test/", "status_code": "200", "method": "POST"}, 1},
		{"proxy_requests_total", map[string]string{"route": "site.test/", "status_code": "200", "method": "OTHER"}, 1},
		{"proxy_requests_total", map[string]string{"route": metrics.Unmatched, "status_code": "404", "method": "GET"}, 1},
		{"proxy_requests_total", map[string]string{"route": "waf.test/", "status_code": "403", "method": "GET"}, 1},
		{"proxy_request_duration_seconds", map[string]string{"route": "site.test/"}, 5},
		{"proxy_request_duration_seconds", map[string]string{"route": "waf.test/"}, 1},
		{"proxy_waf_blocks_total", map[string]string{"route": "waf.test/"}, 1},
		{"proxy_waf_blocks_total", map[string]string{"route": "site.test/"}, 0},
		{"proxy_snapshot_version", nil, 3},
		{"proxy_websockets_active", nil, 0},
		{"proxy_events_dropped_total", nil, 0},
		{"proxy_event_queue_capacity", nil, 100},
		{"proxy_backend_health", map[string]string{"route": "site.test/", "state": "degraded"}, 1},
		{"proxy_backend_health", map[string]string{"route": "site.test/", "state": "healthy"}, 0},
		{"proxy_backend_health", map[string]string{"route": "site.test/", "state": "down"}, 0},
		{"proxy_backend_health_success_ratio", map[string]string{"route": "site.test/"}, 0.75},
		{"proxy_backend_failures_total", map[string]string{"kind": "connect_timeout"}, 0},
	}
	for _, w := range want {
		got, ok := value(fams, w.name, w.labels)
		if !ok || got != w.value {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, got, ok, w.value)
		}
	}
	// Every request event (and the WAF's security event) waits in the queue: nothing ships them.
	if n, _ := value(fams, "proxy_event_queue_length", nil); n < 7 {
		t.Errorf("proxy_event_queue_length = %v, want at least the 7 request events", n)
	}
	if age, ok := value(fams, "proxy_snapshot_age_seconds", nil); !ok || age < 0 || age > 60 {
		t.Errorf("proxy_snapshot_age_seconds = %v (present %v)", age, ok)
	}
	// The histogram's buckets are the documented ones and +Inf, cumulative, ending with all
	// requests.
	for _, m := range fams["proxy_request_duration_seconds"].GetMetric() {
		h := m.GetHistogram()
		bs := h.GetBucket()
		if len(bs) != len(metrics.Buckets)+1 {
			t.Fatalf("%d buckets, want %d and +Inf", len(bs), len(metrics.Buckets))
		}
		for i, b := range bs[:len(metrics.Buckets)] {
			if b.GetUpperBound() != metrics.Buckets[i] || i > 0 && b.GetCumulativeCount() < bs[i-1].GetCumulativeCount() {
				t.Errorf("bucket %d: %v", i, b)
			}
		}
		if last := bs[len(bs)-1]; !math.IsInf(last.GetUpperBound(), 1) || last.GetCumulativeCount() != h.GetSampleCount() ||
			(h.GetSampleCount() > 0 && h.GetSampleSum() <= 0) {
			t.Errorf("histogram %v", h)
		}
	}
	// Go's runtime and the process are there too.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	// Label sets are bounded: no path, host or client address ever becomes a label.
	allowed := map[string]bool{"route": true, "status_code": true, "method": true, "state": true, "kind": true, "result": true}
	for name, f := range fams {
		if !strings.HasPrefix(name, "proxy_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !allowed[l.GetName()] {
					t.Errorf("%s has label %s=%q", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestMetricsKeepCountsAcrossSnapshotsAndDropRemovedRoutes(t *testing.T) {
	o := newObsHarness(t, nil, nil)
	backend := echoBackend(t, "b")
	o.apply(t, 1, newRoute("a.test/", backend.URL, "/", "a.test"), newRoute("b.test/", backend.URL, "/", "b.test"))
	o.do(t, http.MethodGet, "a.test", "/", nil, nil)
	o.do(t, http.MethodGet, "b.test", "/", nil, nil)
	o.events.wait(t, 2)
	o.apply(t, 2, newRoute("a.test/", backend.URL, "/", "a.test"))
	o.do(t, http.MethodGet, "a.test", "/", nil, nil)
	o.events.wait(t, 3)
	fams := o.scrape(t)
	if n, _ := value(fams, "proxy_requests_total", map[string]string{"route": "a.test/", "status_code": "200", "method": "GET"}); n != 2 {
		t.Errorf("a.test/ after a reload: %v requests, want 2", n)
	}
	if _, ok := value(fams, "proxy_request_duration_seconds", map[string]string{"route": "b.test/"}); ok {
		t.Error("b.test/ is still exported after the snapshot removed it")
	}
	if n := o.requests.Total(); n != 3 {
		t.Errorf("Total() = %d, want 3 (the removed route's request included)", n)
	}
}

// callCounter is a backend that counts its calls and answers 200.
func callCounter(t *testing.T, calls *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBackendDownIsAnswered503AtOnce(t *testing.T) {
	o := newObsHarness(t, nil, nil)
	var calls atomic.Int64
	backend := callCounter(t, &calls)
	o.apply(t, 1, newRoute("api.test/", backend.URL, "/", "api.test"), newRoute("other.test/", backend.URL, "/", "other.test"))
	list := func(state, backendURL string) {
		o.health.SetHealth(&proxyv1.HealthList{Backends: []*proxyv1.BackendHealth{{RouteId: "api.test/", BackendUrl: backendURL, State: state}}})
	}

	list("down", backend.URL)
	res, body := o.do(t, http.MethodGet, "api.test", "/x", nil, nil)
	id := res.Header.Get(requestid.Header)
	if res.StatusCode != http.StatusServiceUnavailable || id == "" || !strings.Contains(body, id) || !strings.Contains(body, "down") {
		t.Fatalf("down: status %d, request id %q, page:\n%s", res.StatusCode, id, body)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the backend was called %d times while down", n)
	}
	ev := o.events.wait(t, 1)[0]
	if ev.GetStatus() != 503 || ev.GetError() != "backend down (health check)" || ev.GetRequestId() != id {
		t.Errorf("event: status %d, error %q, request id %q", ev.GetStatus(), ev.GetError(), ev.GetRequestId())
	}
	// Another route on the same backend, not checked, is served.
	if res, _ := o.do(t, http.MethodGet, "other.test", "/", nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("other route: %d", res.StatusCode)
	}

	steps := []struct {
		desc, state, backend string
		want                 int
	}{
		{"back to healthy", "healthy", backend.URL, http.StatusOK},
		{"degraded still serves", "degraded", backend.URL, http.StatusOK},
		{"unknown still serves", "unknown", backend.URL, http.StatusOK},
		{"down again", "down", backend.URL, http.StatusServiceUnavailable},
		// The snapshot moved the route to another backend since the check: the list is stale.
		{"down, about another backend", "down", "http://old-backend.internal:8080", http.StatusOK},
		{"down, backend not named", "down", "", http.StatusServiceUnavailable},
	}
	for _, st := range steps {
		list(st.state, st.backend)
		before := calls.Load()
		res, _ := o.do(t, http.MethodGet, "api.test", "/x", nil, nil)
		called := calls.Load() - before
		if res.StatusCode != st.want || (st.want == http.StatusOK) != (called == 1) {
			t.Errorf("%s: status %d, backend called %d times, want %d", st.desc, res.StatusCode, called, st.want)
		}
	}
}
