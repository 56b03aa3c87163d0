package adminhttp

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// AuditLog reads the audit trail; *store.Store is one.
type AuditLog interface {
	QueryAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error)
}

// Limits of GET /api/audit.
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 1000
)

// auditJSON is one entry as the API shows it; empty fields are left out.
type auditJSON struct {
	ID           int64  `json:"id"`
	Time         string `json:"time"`
	User         string `json:"user"`
	Action       string `json:"action"`
	ResourceType string `json:"resource_type"`
	ResourceID   string `json:"resource_id,omitempty"`
	OldValue     string `json:"old_value,omitempty"`
	NewValue     string `json:"new_value,omitempty"`
	Diff         string `json:"diff,omitempty"`
	Source       string `json:"source,omitempty"`
	Notes        string `json:"notes,omitempty"`
	Hash         string `json:"hash"`
}

// handleAudit serves the audit trail, newest first:
//
//	GET /api/audit?limit=&action=&since=&resource=   {"entries": [...], "limit": n}
//
// limit is 100 by default and at most 1000 (a larger one is lowered); action matches exactly;
// since is RFC 3339 or unix seconds; resource matches the resource type or the resource id.
func handleAudit(mux *http.ServeMux, a AuditLog) {
	if a == nil {
		return
	}
	mux.HandleFunc("GET /api/audit", func(w http.ResponseWriter, r *http.Request) {
		q, err := parseAuditQuery(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		entries, err := a.QueryAudit(r.Context(), q)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		out := make([]auditJSON, 0, len(entries))
		for _, e := range entries {
			out = append(out, auditJSON{ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339), User: e.User, Action: e.Action,
				ResourceType: e.ResourceType, ResourceID: e.ResourceID, OldValue: e.OldValue, NewValue: e.NewValue,
				Diff: e.Diff, Source: e.Source, Notes: e.Notes, Hash: e.Hash})
		}
		writeJSON(w, http.StatusOK, map[string]any{"entries": out, "limit": q.Limit})
	})
}

func parseAuditQuery(r *http.Request) (store.AuditQuery, error) {
	v := r.URL.Query()
	q := store.AuditQuery{Limit: auditDefaultLimit, Action: v.Get("action"), Resource: v.Get("resource")}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return q, fmt.Errorf("limit %q: want a positive number (at most %d)", s, auditMaxLimit)
		}
		q.Limit = min(n, auditMaxLimit)
	}
	if s := v.Get("since"); s != "" {
		t, err := parseSince(s)
		if err != nil {
			return q, err
		}
		q.Since = t
	}
	return q, nil
}

// parseSince reads an RFC 3339 time or unix seconds.
func parseSince(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("since %q: want an RFC 3339 time (2026-11-22T08:00:00Z) or unix seconds", s)
	}
	return t, nil
}
