package adminhttp

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/webhook"
)

// Webhooks lists the webhook delivery attempts and sends test alerts; *webhook.Dispatcher is one.
type Webhooks interface {
	Deliveries(ctx context.Context, q store.WebhookDeliveryQuery) ([]store.WebhookDelivery, error)
	Test(ctx context.Context, name string) (webhook.Result, error)
}

// AuditWriter appends to the audit trail; *store.Store is one.
type AuditWriter interface {
	Audit(ctx context.Context, e store.AuditEntry) error
}

// Limits of GET /api/webhooks/deliveries.
const (
	defaultDeliveries = 100
	maxDeliveries     = 1000
)

// handleWebhooks serves
//
//	GET  /api/webhooks/deliveries[?limit=&webhook=&event=]  delivery attempts, newest first:
//	     {"deliveries": [{"delivery_id", "message_id", "time", "webhook", "event", "route_id",
//	     "host", "attempt", "status_code", "error", "duration_ms", "suppressed_count"}]};
//	     limit default 100, at most 1000; event one of the alert types or "test"
//	POST /api/webhooks/test?name=  sends a test alert to that webhook at once (whatever its
//	     throttle and events) and answers with the outcome: {"webhook", "message_id",
//	     "delivered", "attempts": [{"attempt", "time", "status_code", "error", "duration_ms"}]};
//	     200 when delivered, 502 when not, 404 for an unknown name, 400 without one; a test
//	     sent is written to the audit log (action webhook_test) when audit is set
func handleWebhooks(mux *http.ServeMux, wh Webhooks, audit AuditWriter) {
	if wh == nil {
		return
	}
	mux.HandleFunc("GET /api/webhooks/deliveries", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := limitParam(q, defaultDeliveries, maxDeliveries)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		event := q.Get("event")
		if event != "" && event != string(alert.Test) && !slices.Contains(alert.Types(), alert.Type(event)) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": paramErr("event", event, "an alert type (service_down, cert_expired, ...) or test").Error()})
			return
		}
		ds, err := wh.Deliveries(r.Context(), store.WebhookDeliveryQuery{Webhook: q.Get("webhook"), Event: event, Limit: limit})
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
	})
	mux.HandleFunc("POST /api/webhooks/test", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name: give the name of a webhook of global.yaml (?name=)"})
			return
		}
		res, err := wh.Test(r.Context(), name)
		if err == nil && audit != nil {
			notes := "from " + r.RemoteAddr + ": not delivered"
			if res.Delivered {
				notes = "from " + r.RemoteAddr + ": delivered"
			}
			if aerr := audit.Audit(r.Context(), store.AuditEntry{User: "admin", Action: "webhook_test", ResourceType: "webhook",
				ResourceID: name, Source: "api", Notes: notes}); aerr != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "the test was sent, but the audit log refused it: " + aerr.Error()})
				return
			}
		}
		switch {
		case errors.Is(err, webhook.ErrUnknownWebhook):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		case !res.Delivered:
			writeJSON(w, http.StatusBadGateway, res)
		default:
			writeJSON(w, http.StatusOK, res)
		}
	})
}
