package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
)

func TestExporterSources(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	exp, err := New(Sources{
		Requests:    NewRequests(),
		Now:         func() time.Time { return now },
		Connections: func() int64 { return 12 },
		Bans:        func() int { return 4 },
		Snapshot:    func() (uint64, time.Time) { return 9, now.Add(-90 * time.Second) },
		BackendFailures: func() proxy.Counters {
			return proxy.Counters{ConnectTimeouts: 1, ReadTimeouts: 2, WriteTimeouts: 3, ResponsesTooLarge: 4}
		},
		ProxyProtocol: func() listen.ProxyProtocolStats {
			return listen.ProxyProtocolStats{Accepted: 5, Untrusted: 6, Malformed: 7, TimedOut: 8}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	exp.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"proxy_active_connections":                                   12,
		"proxy_bans_active":                                          4,
		"proxy_snapshot_version":                                     9,
		"proxy_snapshot_age_seconds":                                 90,
		`proxy_backend_failures_total{kind="connect_timeout"}`:       1,
		`proxy_backend_failures_total{kind="read_timeout"}`:          2,
		`proxy_backend_failures_total{kind="write_timeout"}`:         3,
		`proxy_backend_failures_total{kind="response_too_large"}`:    4,
		`proxy_proxy_protocol_connections_total{result="accepted"}`:  5,
		`proxy_proxy_protocol_connections_total{result="untrusted"}`: 6,
		`proxy_proxy_protocol_connections_total{result="malformed"}`: 7,
		`proxy_proxy_protocol_connections_total{result="timed_out"}`: 8,
	}
	got := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			if l := m.GetLabel(); len(l) == 1 {
				key += `{` + l[0].GetName() + `="` + l[0].GetValue() + `"}`
			}
			got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// Sources not given leave their series out rather than report a false 0.
	for _, name := range []string{"proxy_websockets_active", "proxy_event_queue_length", "proxy_backend_health"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s exported without a source", name)
		}
	}
}

func TestExporterNeedsRequests(t *testing.T) {
	if _, err := New(Sources{}); err == nil || !strings.Contains(err.Error(), "Requests") {
		t.Fatalf("New without Requests: %v", err)
	}
}

// TestCountWhileScraped runs requests' counting against scrapes and route churn (for -race).
func TestCountWhileScraped(t *testing.T) {
	q := NewRequests()
	exp, err := New(Sources{Requests: q})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			r := q.Route([]string{"a.test/", "b.test/"}[i%2])
			for j := range 2000 {
				r.Observe([]string{"GET", "POST", "MKCOL"}[j%3], 200+j%5, time.Duration(j)*time.Microsecond, j%7 == 0)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if _, err := exp.Gatherer().Gather(); err != nil {
				t.Error(err)
			}
			q.Retain(map[string]bool{"a.test/": true, "b.test/": true})
		}
	})
	wg.Wait()
	if n := q.Total(); n != 8000 {
		t.Fatalf("Total() = %d, want 8000", n)
	}
}
