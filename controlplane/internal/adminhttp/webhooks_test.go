package adminhttp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/webhook"
	"github.com/proxy-manager/proxy-manager/pkg/config"
	"github.com/proxy-manager/proxy-manager/ui"
)

type globalConfig struct{ g *config.Global }

func (c globalConfig) Global() *config.Global { return c.g }

// TestWebhooksAPI: a test alert through a real dispatcher to a local receiver, then its
// record in /api/webhooks/deliveries.
func TestWebhooksAPI(t *testing.T) {
	var hits atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/broken" {
			http.Error(w, "Unknown Webhook", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	g, err := config.ParseGlobal("global.yaml", []byte(fmt.Sprintf(`
webhooks:
  - {name: ops, url: '%[1]s/ok', format: discord, events: [service_down]}
  - {name: broken, url: '%[1]s/broken', format: slack, events: [service_down]}
`, rcv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	st := openStore(t)
	d := webhook.New(log, globalConfig{g}, st, webhook.Options{})
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fleet.New(log), Config: fakeStatus{loaded: true},
		Webhooks: d, Audit: st, Dashboard: ui.Dashboard()})
	do := func(method, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		r.Host = "localhost:8080"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	tests := []struct {
		method, path string
		want         int
		body         string
	}{
		{http.MethodPost, "/api/webhooks/test?name=ops", http.StatusOK, `"delivered":true`},
		{http.MethodPost, "/api/webhooks/test?name=broken", http.StatusBadGateway, `"error":"HTTP 404 Not Found: Unknown Webhook"`},
		{http.MethodPost, "/api/webhooks/test?name=nope", http.StatusNotFound, `no such webhook: \"nope\"`},
		{http.MethodPost, "/api/webhooks/test", http.StatusBadRequest, `name`},
		{http.MethodGet, "/api/webhooks/test?name=ops", http.StatusMethodNotAllowed, ``},
		{http.MethodGet, "/api/webhooks/deliveries?event=service_dwn", http.StatusBadRequest, `event`},
		{http.MethodGet, "/api/webhooks/deliveries?limit=0", http.StatusBadRequest, `limit`},
		{http.MethodGet, "/api/webhooks/deliveries?webhook=ops&event=test", http.StatusOK, `"webhook":"ops","event":"test","attempt":1,"status_code":204`},
	}
	for _, tc := range tests {
		w := do(tc.method, tc.path)
		if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, w.Code, w.Body, tc.want, tc.body)
		}
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("receiver hit %d times, want 2 (a 404 is not retried)", n)
	}

	w := do(http.MethodGet, "/api/webhooks/deliveries")
	var resp struct {
		Deliveries []store.WebhookDelivery `json:"deliveries"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Deliveries) != 2 || resp.Deliveries[0].Webhook != "broken" || resp.Deliveries[1].Webhook != "ops" {
		t.Errorf("deliveries, newest first: %s", w.Body)
	}
	if strings.Contains(w.Body.String(), rcv.URL) {
		t.Errorf("a webhook URL in the API: %s", w.Body)
	}
	// Both tests sent are in the audit log, the unknown name is not.
	entries, err := st.AuditEntries(context.Background(), 10, "webhook_test")
	if err != nil || len(entries) != 2 || entries[0].ResourceID != "broken" || entries[0].Notes != "from 192.0.2.1:1234: not delivered" ||
		entries[1].ResourceID != "ops" || entries[1].Source != "api" || entries[1].User != "admin" {
		t.Errorf("audit log: %+v, %v", entries, err)
	}
}
