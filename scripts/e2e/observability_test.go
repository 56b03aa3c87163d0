package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// getJSON fetches url and decodes its JSON answer into v, requiring status want.
func getJSON(cl *http.Client, url string, want int, v any) error {
	res, err := cl.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("GET %s: %d, want %d: %s", url, res.StatusCode, want, body)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w: %s", url, err, body)
	}
	return nil
}

// metricLine returns the value of the sample line of a Prometheus text exposition that starts with
// prefix (the series name and its labels, as the exposition writes them).
func metricLine(text, prefix string) (string, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			return rest, true
		}
	}
	return "", false
}

// A backend whose health check fails from the start is down at once: the data plane answers 503
// with the request id instead of waiting on it, /api/health and the data plane's /metrics say so;
// once its checks succeed again it is served again, without a reload.
func TestHealthChecksReachTheDataPlane(t *testing.T) {
	var healthy atomic.Bool
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "app")
	}))
	t.Cleanup(be.Close)
	site := flatSite("app.test", be.URL) + "health_check:\n  enabled: true\n  interval: 1s\n  timeout: 500ms\n  path: /health\n  expected_status: 200\n"
	cl := newCluster(t, "{}\n", map[string]string{"app.yaml": site})
	cl.startCP()
	cl.startDP("node-1")

	type health struct {
		Routes []struct {
			RouteID   string `json:"route_id"`
			State     string `json:"state"`
			LastError string `json:"last_error"`
		} `json:"routes"`
	}
	state := func() (string, error) {
		var h health
		if err := getJSON(cl.client, "http://"+cl.adminAddr+"/api/health", 200, &h); err != nil {
			return "", err
		}
		if len(h.Routes) != 1 || h.Routes[0].RouteID != "app.test/" {
			return "", fmt.Errorf("routes %+v, want app.test/ alone", h.Routes)
		}
		return h.Routes[0].State, nil
	}
	eventually(t, 10*time.Second, "app.test/ down in /api/health", func() error {
		if s, err := state(); err != nil || s != "down" {
			return fmt.Errorf("state %q (%v)", s, err)
		}
		return nil
	})
	eventually(t, 5*time.Second, "503 from the data plane", func() error {
		res, body, err := get(t.Context(), cl.client, cl.httpAddr, "app.test", "/", "X-Request-ID", "e2e-down-1")
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "e2e-down-1") {
			return fmt.Errorf("status %d, body %.200q", res.StatusCode, body)
		}
		return nil
	})
	var metrics string
	eventually(t, 5*time.Second, "backend health in the data plane's /metrics", func() error {
		res, err := cl.client.Get("http://" + cl.opsAddr + "/metrics")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		metrics = string(b)
		if v, ok := metricLine(metrics, `proxy_backend_health{route="app.test/",state="down"}`); !ok || v != "1" {
			return fmt.Errorf("down gauge %q", v)
		}
		return nil
	})
	if v, ok := metricLine(metrics, `proxy_requests_total{method="GET",route="app.test/",status_code="503"}`); !ok || v == "0" {
		t.Errorf("503s not counted in /metrics: %q", v)
	}

	healthy.Store(true)
	// Served again at degraded: once the successes are half of the minute's checks (as many as
	// the failures so far, a few seconds' worth; more under load).
	eventually(t, 45*time.Second, "served again once its checks succeed", func() error {
		res, body, err := get(t.Context(), cl.client, cl.httpAddr, "app.test", "/")
		if err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK || body != "app" {
			return fmt.Errorf("status %d, body %.200q", res.StatusCode, body)
		}
		return nil
	})
	if s, err := state(); err != nil || (s != "degraded" && s != "healthy") {
		t.Errorf("state after recovery %q (%v), want degraded or healthy", s, err)
	}
}

// Every certificate in force is listed with its days left and level; warn_days filters, and a bad
// warn_days is a 400 that names it.
func TestCertificateMonitor(t *testing.T) {
	ca := newTestCA(t)
	a := backend(t, "A")
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", a.URL)})
	crt, key := ca.issue(t, 7, "a.test", "www.a.test")
	certbotLineage(t, filepath.Join(cl.dir, "certs"), "a.test", 1, crt, key)
	cl.startCP()

	type certs struct {
		Certificates []struct {
			Domain   string   `json:"domain"`
			SANs     []string `json:"sans"`
			DaysLeft int      `json:"days_left"`
			Level    string   `json:"level"`
		} `json:"certificates"`
	}
	var all certs
	eventually(t, 10*time.Second, "a.test in /api/certs", func() error {
		if err := getJSON(cl.client, "http://"+cl.adminAddr+"/api/certs", 200, &all); err != nil {
			return err
		}
		if len(all.Certificates) != 1 {
			return fmt.Errorf("%d certificates", len(all.Certificates))
		}
		return nil
	})
	// The test CA issues for 24 hours: under a week left, so critical.
	c := all.Certificates[0]
	if c.Domain != "a.test" || c.DaysLeft != 0 || c.Level != "critical" || strings.Join(c.SANs, ",") != "a.test,www.a.test" {
		t.Errorf("certificate %+v, want a.test, 0 days left, critical, SANs a.test,www.a.test", c)
	}
	var soon certs
	if err := getJSON(cl.client, "http://"+cl.adminAddr+"/api/certs?warn_days=0", 200, &soon); err != nil || len(soon.Certificates) != 1 {
		t.Errorf("warn_days=0: %+v (%v), want the certificate", soon, err)
	}
	var bad map[string]string
	if err := getJSON(cl.client, "http://"+cl.adminAddr+"/api/certs?warn_days=soon", 400, &bad); err != nil || !strings.Contains(bad["error"], "warn_days") {
		t.Errorf("warn_days=soon: %v (%v), want a 400 naming warn_days", bad, err)
	}
}

// The admin API answers from real traffic through the data plane: a request is found by its id
// in the database and in the live ring, a failed one in /api/errors, the data plane's own report
// in /api/dataplanes, and the control plane's /metrics counts what it stored.
func TestObservabilityAPI(t *testing.T) {
	a := backend(t, "A")
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // a port where nothing listens: 502
	cl := newCluster(t, "{}\n", map[string]string{
		"app.yaml":  flatSite("app.test", a.URL),
		"dead.yaml": flatSite("dead.test", deadURL),
	})
	cl.startCP()
	cl.startDP("node-1")

	for i := range 12 {
		host, want := "app.test", http.StatusOK
		if i%6 == 5 {
			host, want = "dead.test", http.StatusBadGateway
		}
		res, _, err := get(t.Context(), cl.client, cl.httpAddr, host, fmt.Sprintf("/page/%d", i), "X-Request-ID", fmt.Sprintf("obs-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != want {
			t.Fatalf("%s request %d: %d, want %d", host, i, res.StatusCode, want)
		}
	}
	admin := "http://" + cl.adminAddr

	type entry struct {
		RequestID string `json:"request_id"`
		Route     string `json:"route"`
		Path      string `json:"path"`
		Status    int    `json:"status"`
	}
	type logs struct {
		Entries []entry `json:"entries"`
		Source  string  `json:"source"`
	}
	eventually(t, 10*time.Second, "obs-03 in /api/logs", func() error {
		var l logs
		if err := getJSON(cl.client, admin+"/api/logs?request_id=obs-03", 200, &l); err != nil {
			return err
		}
		if len(l.Entries) != 1 || l.Entries[0] != (entry{"obs-03", "app.test/", "/page/3", 200}) || l.Source != "database" {
			return fmt.Errorf("%+v", l)
		}
		return nil
	})
	var live logs
	if err := getJSON(cl.client, admin+"/api/logs?live=1&limit=5", 200, &live); err != nil || len(live.Entries) != 5 || live.Source != "live" {
		t.Errorf("live=1&limit=5: %+v (%v), want 5 entries from the ring", live, err)
	}
	var bad map[string]string
	if err := getJSON(cl.client, admin+"/api/logs?status=6xx", 400, &bad); err != nil || !strings.Contains(bad["error"], "status") {
		t.Errorf("status=6xx: %v (%v), want a 400 naming status", bad, err)
	}

	var errs struct {
		Total    int `json:"total"`
		ByStatus []struct {
			Key   string `json:"key"`
			Count int    `json:"count"`
		} `json:"by_status"`
		Recent []entry `json:"recent"`
	}
	if err := getJSON(cl.client, admin+"/api/errors", 200, &errs); err != nil {
		t.Fatal(err)
	}
	if errs.Total != 2 || len(errs.ByStatus) != 1 || errs.ByStatus[0].Key != "502" || errs.ByStatus[0].Count != 2 ||
		len(errs.Recent) != 2 || errs.Recent[0].RequestID != "obs-11" {
		t.Errorf("/api/errors = %+v, want the two 502s of dead.test, newest obs-11 first", errs)
	}

	// The data plane reports its own state every 5 s.
	eventually(t, 15*time.Second, "node-1's system report in /api/dataplanes", func() error {
		var d struct {
			Dataplanes []struct {
				NodeID string `json:"nodeId"`
				System *struct {
					RequestsTotal   int `json:"requests_total"`
					SnapshotVersion int `json:"snapshot_version"`
				} `json:"system"`
			} `json:"dataplanes"`
		}
		if err := getJSON(cl.client, admin+"/api/dataplanes", 200, &d); err != nil {
			return err
		}
		if len(d.Dataplanes) != 1 || d.Dataplanes[0].NodeID != "node-1" || d.Dataplanes[0].System == nil {
			return fmt.Errorf("%+v", d)
		}
		if s := d.Dataplanes[0].System; s.RequestsTotal < 12 || s.SnapshotVersion < 1 {
			return fmt.Errorf("system %+v, want at least 12 requests and a snapshot", *s)
		}
		return nil
	})

	// The traffic API reads the roll-ups that stored the same requests.
	var stats struct {
		Requests24h int     `json:"requests_24h"`
		Errors24h   int     `json:"errors_24h"`
		ErrorRate   float64 `json:"error_rate_24h"`
		Connected   int     `json:"dataplanes_connected"`
		ActiveConns *int    `json:"active_connections"`
	}
	if err := getJSON(cl.client, admin+"/api/stats", 200, &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Requests24h != 12 || stats.Errors24h != 2 || stats.Connected != 1 || stats.ActiveConns == nil {
		t.Errorf("/api/stats = %+v, want 12 requests, 2 errors, 1 data plane, its connections", stats)
	}
	var routes struct {
		Routes []struct {
			ID          string `json:"id"`
			Requests24h int    `json:"requests_24h"`
			Errors24h   int    `json:"errors_24h"`
			Health      struct {
				State string `json:"state"`
			} `json:"health"`
		} `json:"routes"`
	}
	if err := getJSON(cl.client, admin+"/api/routes", 200, &routes); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int{}
	for _, r := range routes.Routes {
		got[r.ID] = [2]int{r.Requests24h, r.Errors24h}
	}
	if len(got) != 2 || got["app.test/"] != [2]int{10, 0} || got["dead.test/"] != [2]int{2, 2} {
		t.Errorf("/api/routes requests and errors = %v, want app.test/ 10/0 and dead.test/ 2/2", got)
	}
	var codes struct {
		Requests int            `json:"requests"`
		Classes  map[string]int `json:"classes"`
	}
	if err := getJSON(cl.client, admin+"/api/analytics/status-codes?period=24h", 200, &codes); err != nil ||
		codes.Requests != 12 || codes.Classes["2xx"] != 10 || codes.Classes["5xx"] != 2 {
		t.Errorf("status-codes = %+v (%v), want 10 2xx and 2 5xx", codes, err)
	}
	var top struct {
		Routes []struct {
			Route    string `json:"route"`
			Requests int    `json:"requests"`
		} `json:"routes"`
	}
	if err := getJSON(cl.client, admin+"/api/analytics/top-routes?period=7d", 200, &top); err != nil ||
		len(top.Routes) != 2 || top.Routes[0].Route != "app.test/" || top.Routes[0].Requests != 10 {
		t.Errorf("top-routes = %+v (%v), want app.test/ first with 10", top, err)
	}
	var uas struct {
		Classes []struct {
			Name  string `json:"name"`
			Count int    `json:"count"`
		} `json:"classes"`
	}
	if err := getJSON(cl.client, admin+"/api/analytics/user-agents?route=app.test/", 200, &uas); err != nil {
		t.Fatal(err)
	}
	for _, c := range uas.Classes {
		if want := map[bool]int{true: 10, false: 0}[c.Name == "api"]; c.Count != want { // Go-http-client
			t.Errorf("user-agent class %s: %d, want %d", c.Name, c.Count, want)
		}
	}
	var heat struct {
		Requests [][]int `json:"requests"`
	}
	if err := getJSON(cl.client, admin+"/api/analytics/heatmap", 200, &heat); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, day := range heat.Requests {
		for _, n := range day {
			sum += n
		}
	}
	if sum != 12 {
		t.Errorf("heatmap holds %d requests, want 12", sum)
	}
	for _, u := range []string{"/api/analytics/bandwidth?period=30d", "/api/analytics/response-times?route=dead.test/",
		"/api/analytics/geoip", "/api/slow-requests", "/api/security", "/api/websockets", "/api/stats/connection-pools"} {
		if err := getJSON(cl.client, admin+u, 200, nil); err != nil {
			t.Error(err)
		}
	}
	for _, u := range []string{"/api/analytics/top-routes?period=1y", "/api/analytics/heatmap?route=nope", "/api/slow-requests?period=week"} {
		if err := getJSON(cl.client, admin+u, 400, nil); err != nil {
			t.Error(err)
		}
	}

	res, err := cl.client.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if v, ok := metricLine(string(text), "controlplane_events_stored_total"); !ok || v == "0" {
		t.Errorf("controlplane_events_stored_total %q, want the stored events", v)
	}
	if v, ok := metricLine(string(text), "controlplane_dataplanes_connected"); !ok || v != "1" {
		t.Errorf("controlplane_dataplanes_connected %q, want 1", v)
	}
}
