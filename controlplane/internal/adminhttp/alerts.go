package adminhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alerts"
)

// Incidents declares security incidents; *alerts.Alerts is one.
type Incidents interface {
	SecurityIncident(ctx context.Context, in alerts.Incident, by string) error
}

// maxIncidentBody bounds the request body of an incident.
const maxIncidentBody = 64 << 10

// handleAlerts serves the breach notification:
//
//	POST /api/alerts/security-incident  {"summary": "...", "details": "...", "affected": ["...", ...]}
//	                                    ("affected" may also be one string)
//	                                    201 {"raised": "security_incident"}; 400 for a bad body;
//	                                    500 when the audit log could not be written (the alert
//	                                    was raised all the same)
//
// It writes the incident to the audit log and raises a critical security_incident alert to every
// webhook subscribed to it, whatever their routes filter.
func handleAlerts(mux *http.ServeMux, in Incidents) {
	if in == nil {
		return
	}
	mux.HandleFunc("POST /api/alerts/security-incident", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Summary  string          `json:"summary"`
			Details  string          `json:"details"`
			Affected json.RawMessage `json:"affected"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxIncidentBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("decode the incident: %v", err)})
			return
		}
		inc := alerts.Incident{Summary: body.Summary, Details: body.Details}
		if err := decodeAffected(body.Affected, &inc.Affected); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		by := r.RemoteAddr
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			by = host
		}
		err := in.SecurityIncident(r.Context(), inc, by)
		switch {
		case errors.Is(err, alerts.ErrBadIncident):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"raised": "security_incident", "error": err.Error()})
		default:
			writeJSON(w, http.StatusCreated, map[string]string{"raised": "security_incident"})
		}
	})
}

// decodeAffected reads "affected" as a list of strings or one string.
func decodeAffected(raw json.RawMessage, out *[]string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if json.Unmarshal(raw, out) == nil {
		return nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return errors.New(`"affected" must be a string or a list of strings`)
	}
	*out = []string{one}
	return nil
}
