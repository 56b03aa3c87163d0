package adminhttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/ui"
)

type fakeHealth struct {
	ready   error
	started bool
}

func (f fakeHealth) Ready(context.Context) error { return f.ready }
func (f fakeHealth) Started() bool               { return f.started }

func TestHandler(t *testing.T) {
	tests := []struct {
		desc       string
		health     fakeHealth
		path, host string
		origin     string
		want       int
	}{
		{desc: "live", path: "/health/live", host: "localhost:8080", want: 200},
		{desc: "ready", health: fakeHealth{started: true}, path: "/health/ready", host: "127.0.0.1:8080", want: 200},
		{desc: "not ready", health: fakeHealth{ready: errors.New("no configuration")}, path: "/health/ready", host: "[::1]:8080", want: 503},
		{desc: "starting", path: "/health/startup", host: "localhost", want: 503},
		{desc: "started", health: fakeHealth{started: true}, path: "/health/startup", host: "localhost", want: 200},
		{desc: "rebinding host refused", path: "/health/live", host: "evil.example:8080", want: 421},
		{desc: "cross origin refused", path: "/health/live", host: "localhost:8080", origin: "https://evil.example", want: 403},
		{desc: "same origin allowed", path: "/health/live", host: "localhost:8080", origin: "http://localhost:8080", want: 200},
		{desc: "unknown path", path: "/nope", host: "localhost", want: 404},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			Handler(testConfig(t, tc.health)).ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("%s %s (Host %s): status %d, want %d; body %s", r.Method, tc.path, tc.host, w.Code, tc.want, w.Body)
			}
		})
	}
}

type fakeStatus struct {
	loaded  bool
	version uint64
	errs    []string
}

func (f fakeStatus) Status() (bool, uint64, []string) { return f.loaded, f.version, f.errs }

func testConfig(t *testing.T, h fakeHealth) Config {
	fl := fleet.New(zaptest.NewLogger(t))
	fl.Publish(&proxyv1.Snapshot{Version: 4, Routes: []*proxyv1.Route{{Id: "a.test/", Hosts: []string{"a.test"}, PathPrefix: "/", BackendUrl: "http://a:80"}}})
	fl.RecordBatch("node-1", 10, true, 2)
	return Config{Health: h, Fleet: fl, Config: fakeStatus{loaded: true, version: 4, errs: []string{"a.yaml:3:1: bad"}}, Dashboard: ui.Dashboard(),
		Traffic: openStore(t), StartedAt: time.Now()}
}

func TestAPIAndDashboard(t *testing.T) {
	h := Handler(testConfig(t, fakeHealth{started: true}))
	get := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Host = "localhost:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	var st struct {
		Ready        bool     `json:"ready"`
		Version      uint64   `json:"version"`
		ConfigErrors []string `json:"config_errors"`
		Dataplanes   int      `json:"dataplanes"`
	}
	if w := get("/api/status"); w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &st) != nil || !st.Ready || st.Version != 4 || len(st.ConfigErrors) != 1 || st.Dataplanes != 1 {
		t.Errorf("/api/status: %d %s", w.Code, w.Body)
	}
	var dps struct {
		Dataplanes []struct {
			NodeID        string `json:"nodeId"`
			EventsDropped string `json:"eventsDropped"`
		} `json:"dataplanes"`
	}
	if w := get("/api/dataplanes"); w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &dps) != nil || len(dps.Dataplanes) != 1 || dps.Dataplanes[0].NodeID != "node-1" || dps.Dataplanes[0].EventsDropped != "2" {
		t.Errorf("/api/dataplanes: %d %s", w.Code, w.Body)
	}
	if w := get("/api/routes"); w.Code != 200 || !strings.Contains(w.Body.String(), `"backend":"http://a:80"`) || !strings.Contains(w.Body.String(), `"version":4`) {
		t.Errorf("/api/routes: %d %s", w.Code, w.Body)
	}
	if w := get("/dashboard/"); w.Code != 200 || !strings.Contains(w.Body.String(), "<title>proxy-manager</title>") {
		t.Errorf("/dashboard/: %d %s", w.Code, w.Body)
	}
	if w := get("/dashboard/dashboard.js"); w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Errorf("/dashboard/dashboard.js: %d %s", w.Code, w.Header())
	}
	if w := get("/"); w.Code != http.StatusFound || w.Header().Get("Location") != "/dashboard/" {
		t.Errorf("/: %d %v, want a redirect to the dashboard", w.Code, w.Header())
	}
}
