package adminhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// PersonalData exports and erases what is held about one person; *store.Store is one.
type PersonalData interface {
	Export(ctx context.Context, subj store.Subject, limit int) (*store.Export, error)
	Erase(ctx context.Context, subj store.Subject, who, source, notes string) (*store.Erasure, error)
}

// maxExportLimit bounds the rows per table one export lists.
const maxExportLimit = 10_000

// maxEraseBody bounds an erase request's body: a selector and a note.
const maxEraseBody = 16 << 10

// handleGDPR serves the rights of the people in the logs (GDPR art. 15 and 17):
//
//	GET  /api/gdpr/export?ip=|email=|user=[&include_masked=true][&limit=n]   the store.Export
//	POST /api/gdpr/erase  {"ip"|"email"|"user": "...", "include_masked": bool, "note": "..."}
//	                      the store.Erasure: rows deleted per table, and what was kept and why
//
// A bad selector is 400. The erase request must be JSON: with localOnly's Origin check, a form
// posted by another site cannot reach it (a browser cannot send JSON cross-site without a CORS
// preflight, which this server never grants).
func handleGDPR(mux *http.ServeMux, pd PersonalData) {
	if pd == nil {
		return
	}
	mux.HandleFunc("GET /api/gdpr/export", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		for k := range q {
			switch k {
			case "ip", "email", "user", "include_masked", "limit":
			default:
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("unknown parameter %q (want ip, email or user, include_masked, limit)", k)})
				return
			}
		}
		subj := store.Subject{IP: q.Get("ip"), Email: q.Get("email"), User: q.Get("user")}
		if v := q.Get("include_masked"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "include_masked: want true or false"})
				return
			}
			subj.IncludeMasked = b
		}
		limit := store.DefaultExportLimit
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxExportLimit {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("limit: want 1 to %d", maxExportLimit)})
				return
			}
			limit = n
		}
		ex, err := pd.Export(r.Context(), subj, limit)
		if err != nil {
			writeGDPRError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ex)
	})
	mux.HandleFunc("POST /api/gdpr/erase", func(w http.ResponseWriter, r *http.Request) {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send the request as application/json"})
			return
		}
		var body struct {
			store.Subject
			Note string `json:"note"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEraseBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "request body: " + err.Error()})
			return
		}
		notes := "from " + r.RemoteAddr
		if body.Note != "" {
			notes = body.Note + "; " + notes
		}
		er, err := pd.Erase(r.Context(), body.Subject, "admin", "api", notes)
		if err != nil {
			writeGDPRError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, er)
	})
}

func writeGDPRError(w http.ResponseWriter, err error) {
	status := http.StatusServiceUnavailable
	if errors.Is(err, store.ErrBadSubject) {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
