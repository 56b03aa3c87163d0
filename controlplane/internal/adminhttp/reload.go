package adminhttp

import (
	"context"
	"net/http"
	"strings"
)

// Reloader re-reads the configuration files and certificates now and publishes a new snapshot
// when they changed; *reloader.Reloader is one. It writes the audit log itself (config_reload,
// config_unchanged or config_rejected, with the user).
type Reloader interface {
	ReloadBy(ctx context.Context, source, user string) (changed bool, version uint64, errs []string)
}

// handleReload serves POST /api/admin/reload (the seeds' appendix A.3), the HTTP twin of
// AdminService.Reload:
//
//	200 {"changed": true|false, "version": n}      the files in force (new or unchanged)
//	422 {"changed": false, "version": n, "errors": [...], "error": "..."}  rejected: version n
//	    keeps serving; error joins the errors, as every failed admin request has one
//
// Like every mutating request it passes the guard (guard.go): no foreign Host or Origin, and a
// CSRF token from a browser.
func handleReload(mux *http.ServeMux, rl Reloader) {
	if rl == nil {
		return
	}
	mux.HandleFunc("POST /api/admin/reload", func(w http.ResponseWriter, r *http.Request) {
		changed, version, errs := rl.ReloadBy(r.Context(), "api", "from "+r.RemoteAddr)
		if len(errs) > 0 {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"changed": false, "version": version, "errors": errs,
				"error": "configuration rejected: " + strings.Join(errs, "; ")})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"changed": changed, "version": version})
	})
}
