package adminhttp

import (
	"net/http"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/backup"
)

// Backups reports the backup job's status; *backup.Job is one.
type Backups interface {
	Status() backup.Status
}

// handleBackups serves
//
//	GET /api/backups   {"enabled", "dir", "list_error", "tiers": {"full"|"differential"|"incremental":
//	                   {"enabled", "schedule", "keep", "next_run", "last_success", "last_file",
//	                   "last_size", "last_duration_ms", "last_note", "last_failure", "last_error",
//	                   "consecutive_failures", "kept", "kept_bytes"}}}
func handleBackups(mux *http.ServeMux, b Backups) {
	if b == nil {
		return
	}
	mux.HandleFunc("GET /api/backups", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
}
