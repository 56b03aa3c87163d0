package metrics

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// scrape serves /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	if dir := os.Getenv("API_EXAMPLES"); dir != "" { // for docs/API.md
		if err := os.WriteFile(filepath.Join(dir, "metrics-cp.txt"), w.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, w.Body)
	}
	return fams
}

// value is the value of the series of family name whose labels include labels (name=value
// pairs); NaN when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return math.NaN()
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return math.NaN()
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	path := filepath.Join(t.TempDir(), "proxy.db")
	st, err := store.Open(ctx, path, log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fl := fleet.New(log)
	fl.Publish(&proxyv1.Snapshot{Version: 5})
	now := time.Now()

	// Two batches through the store as ingest stores them: 3 requests and a ban, 4 dropped events;
	// then the same first batch again (a re-send), and a failed one.
	b1 := &proxyv1.EventBatch{NodeId: "n1", BootId: "b", Sequence: 1, DroppedEvents: 4,
		Requests: []*proxyv1.RequestEvent{{RouteId: "api", Status: 200}, {RouteId: "api", Status: 502}, {RouteId: "blog", Status: 200}},
		Security: []*proxyv1.SecurityEvent{{Time: timestamppb.New(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED,
			RouteId: "api", ClientIp: "203.0.113.7", BanUntil: timestamppb.New(now.Add(time.Hour))}}}
	type result struct {
		stored bool
		took   time.Duration
	}
	var results []result
	for i, b := range []*proxyv1.EventBatch{b1, b1} {
		start := time.Now()
		stored, err := st.SaveBatch(ctx, b)
		if err != nil || stored != (i == 0) {
			t.Fatalf("batch %d: stored %v, %v", i, stored, err)
		}
		results = append(results, result{stored, time.Since(start)})
		fl.RecordBatch(b.GetNodeId(), 4, stored, b.GetDroppedEvents())
	}
	// The registry loads the ban stored above.
	reg, err := bans.New(ctx, log, st, fl, bans.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := New(log, fl, reg, st)
	for _, r := range results {
		m.ObserveBatch(b1, r.stored, r.took, nil)
	}
	m.ObserveBatch(&proxyv1.EventBatch{NodeId: "n1"}, false, time.Millisecond, errors.New("disk full"))

	// The health checker and certificate monitor (other packages) write these tables; here the
	// rows are written directly.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`INSERT INTO health_state (route_id, backend_url, state, success_ratio, since, last_check)
		 SELECT route_id, 'http://api:8080', 'degraded', 0.7, 0, 0 FROM routes WHERE route_key = 'api'`,
		`INSERT INTO certificates (domain, cert_path, key_path, expires_at, last_checked)
		 VALUES ('example.org', '/c', '/k', ` + itoa(now.Add(10*24*time.Hour+time.Minute).Unix()) + `, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	runAt := now.Add(-time.Hour).Truncate(time.Second)
	if err := st.Audit(ctx, store.AuditEntry{Time: runAt, User: "system", Action: "retention_run", ResourceType: "retention"}); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, m.Handler(log))
	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"controlplane_events_stored_total", nil, 4},
		{"controlplane_events_dropped_total", nil, 4},
		{"controlplane_event_batches_total", []string{"result", "stored"}, 1},
		{"controlplane_event_batches_total", []string{"result", "duplicate"}, 1},
		{"controlplane_event_batches_total", []string{"result", "failed"}, 1},
		{"controlplane_ingest_duration_seconds", nil, 3}, // samples
		{"controlplane_dataplanes_connected", nil, 0},
		{"controlplane_dataplanes_known", nil, 1},
		{"controlplane_snapshot_version", nil, 5},
		{"controlplane_bans_active", nil, 1},
		{"controlplane_route_health_state", []string{"route", "api", "state", "degraded"}, 1},
		{"controlplane_route_health_state", []string{"route", "api", "state", "healthy"}, 0},
		{"controlplane_retention_last_run_timestamp_seconds", nil, float64(runAt.Unix())},
		{"controlplane_metrics_scrape_error", nil, 0},
	}
	for _, tc := range tests {
		if got := value(fams, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if d := value(fams, "controlplane_certificate_days_left", "domain", "example.org"); d < 10 || d > 10.01 {
		t.Errorf("certificate days left = %v, want 10", d)
	}
	if v := value(fams, "controlplane_sqlite_size_bytes", "file", "db"); !(v > 0) {
		t.Errorf("sqlite db size = %v", v)
	}
	if len(fams["controlplane_route_health_state"].GetMetric()) != len(HealthStates) {
		t.Errorf("health series: %v", fams["controlplane_route_health_state"])
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	// Bounded labels: none of the series carries a path, an address or a node.
	for name, f := range fams {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "path", "ip", "client_ip", "node", "node_id", "request_id":
					t.Errorf("%s has an unbounded label %s", name, l.GetName())
				}
			}
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
