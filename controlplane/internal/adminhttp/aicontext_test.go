package adminhttp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/aicontext"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/ui"
)

// The report itself is tested in package aicontext over a seeded database; here, the endpoint
// over an empty one: formats, headers and refused parameters.
func TestAIContextEndpoint(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	fl := fleet.New(zaptest.NewLogger(t))
	src := aicontext.Sources{Store: st, Fleet: fl, Config: fakeStatus{loaded: true}, Version: "test",
		StartedAt: now.Add(-time.Hour), Now: func() time.Time { return now }}
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fl, Config: fakeStatus{loaded: true}, AIContext: src,
		Dashboard: ui.Dashboard()})
	get := func(target string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Host = "localhost:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	for _, target := range []string{"/api/ai-context", "/api/ai-context?format=markdown", "/api/ai-context?format=md&max_bytes=4096"} {
		w := get(target)
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/markdown; charset=utf-8" ||
			w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v", target, w.Code, w.Header())
		}
		body := w.Body.String()
		if !strings.HasPrefix(body, "# proxy-manager: AI context report\n\nGenerated 2026-11-22T10:30:00Z.") ||
			!strings.Contains(body, "Nothing looks wrong.") {
			t.Errorf("%s:\n%s", target, body)
		}
	}

	w := get("/api/ai-context?format=json&max_bytes=262144")
	var rep aicontext.Report
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("json: %d %v", w.Code, w.Header())
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil || rep.GeneratedAt != "2026-11-22T10:30:00Z" ||
		rep.System.UptimeSeconds != 3600 || rep.Routes == nil || len(rep.Wrong) != 0 {
		t.Errorf("json: %v %+v", err, rep)
	}

	for _, target := range []string{"/api/ai-context?format=html", "/api/ai-context?max_bytes=x",
		"/api/ai-context?max_bytes=100", "/api/ai-context?max_bytes=262145"} {
		if w := get(target); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s: %d %s", target, w.Code, w.Body)
		}
	}
}
