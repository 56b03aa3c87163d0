package adminhttp

import (
	"context"
	"errors"
	"net/http"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/retention"
)

// Retention runs the retention job on demand; *retention.Job is one.
type Retention interface {
	RunNow(ctx context.Context, source string) (retention.Report, error)
}

// handleRetention serves
//
//	POST /api/retention/run   the retention job's report: {"source", "started", "finished",
//	                          "deleted": [{"table", "retention", "route", "route_active", "period",
//	                          "cutoff", "rows"}], "total", "freed_pages", "errors"}
//	                          409 while a run is in progress; 500 with the report when part failed
//
// The run lasts as long as the request: a client that goes away cancels what is left (what was
// deleted stays deleted, with its proof in the audit log).
func handleRetention(mux *http.ServeMux, r Retention) {
	if r == nil {
		return
	}
	mux.HandleFunc("POST /api/retention/run", func(w http.ResponseWriter, req *http.Request) {
		rep, err := r.RunNow(req.Context(), "api")
		switch {
		case errors.Is(err, retention.ErrRunning):
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, rep)
		default:
			writeJSON(w, http.StatusOK, rep)
		}
	})
}
