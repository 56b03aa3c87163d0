package adminhttp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// LogStore reads the stored requests; *store.Store is one.
type LogStore interface {
	QueryLogs(ctx context.Context, q store.LogQuery) ([]store.LogEntry, error)
	Errors(ctx context.Context, q store.ErrorQuery) (store.ErrorReport, error)
}

// LiveLogs is the ring of the last requests; *live.Ring is one.
type LiveLogs interface {
	Snapshot(limit int, keep func(*store.LogEntry) bool) []store.LogEntry
}

const (
	logsDefaultLimit = 100
	logsMaxLimit     = 1000
	// errorsDefaultSince is the period /api/errors covers without since.
	errorsDefaultSince = 24 * time.Hour
)

// handleLogs serves the log views:
//
//	GET /api/logs?request_id=&route=&status=&since=&until=&limit=&live=1
//	GET /api/errors?since=&route=&limit=
//
// Both answer newest first; limit is 100 by default and lowered to 1000. live=1 reads the ring
// of the last requests instead of the database (the same filters apply).
func handleLogs(mux *http.ServeMux, st LogStore, ring LiveLogs, now func() time.Time) {
	if st == nil {
		return
	}
	mux.HandleFunc("GET /api/logs", func(w http.ResponseWriter, r *http.Request) {
		q, live, err := parseLogQuery(r, now())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if live {
			if ring == nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "live: no live ring on this control plane"})
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"source": "live", "limit": q.Limit,
				"entries": ring.Snapshot(q.Limit, matchLog(q))})
			return
		}
		logs, err := st.QueryLogs(r.Context(), q)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"source": "database", "limit": q.Limit, "entries": logs})
	})
	mux.HandleFunc("GET /api/errors", func(w http.ResponseWriter, r *http.Request) {
		v, t := r.URL.Query(), now()
		since, err := timeParam(v, "since", t)
		if err == nil && since.IsZero() {
			since = t.Add(-errorsDefaultSince)
		}
		var limit int
		if err == nil {
			limit, err = limitParam(v, logsDefaultLimit, logsMaxLimit)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		rep, err := st.Errors(r.Context(), store.ErrorQuery{Route: v.Get("route"), Since: since, Limit: limit})
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"since": since.UTC(), "route": v.Get("route"), "limit": limit,
			"total": rep.Total, "by_status": rep.ByStatus, "by_error": rep.ByError, "recent": rep.Recent})
	})
}

func parseLogQuery(r *http.Request, now time.Time) (q store.LogQuery, live bool, err error) {
	v := r.URL.Query()
	q.RequestID, q.Route = v.Get("request_id"), v.Get("route")
	if len(q.RequestID) > 128 {
		return q, false, paramErr("request_id", q.RequestID[:16]+"…", "at most 128 characters")
	}
	if s := v.Get("status"); s != "" {
		if q.Status, err = parseStatus(s); err != nil {
			return q, false, err
		}
	}
	if q.Since, err = timeParam(v, "since", now); err != nil {
		return q, false, err
	}
	if q.Until, err = timeParam(v, "until", now); err != nil {
		return q, false, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return q, false, badParam{"until must be after since"}
	}
	if q.Limit, err = limitParam(v, logsDefaultLimit, logsMaxLimit); err != nil {
		return q, false, err
	}
	switch s := v.Get("live"); s {
	case "", "0", "false":
	case "1", "true":
		live = true
	default:
		return q, false, paramErr("live", s, "1 or 0")
	}
	return q, live, nil
}

// parseStatus reads a status code (404) or a class (5xx).
func parseStatus(s string) (store.StatusFilter, error) {
	if len(s) == 3 && strings.HasSuffix(strings.ToLower(s), "xx") && s[0] >= '1' && s[0] <= '5' {
		return store.StatusFilter{Class: int(s[0] - '0')}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return store.StatusFilter{}, paramErr("status", s, "a status code (100-599) or a class (1xx-5xx)")
	}
	return store.StatusFilter{Code: n}, nil
}

// matchLog is the filter of q applied to the live ring.
func matchLog(q store.LogQuery) func(*store.LogEntry) bool {
	return func(e *store.LogEntry) bool {
		return (q.RequestID == "" || e.RequestID == q.RequestID) && (q.Route == "" || e.Route == q.Route) &&
			q.Status.Match(e.Status) && (q.Since.IsZero() || !e.Time.Before(q.Since)) &&
			(q.Until.IsZero() || e.Time.Before(q.Until))
	}
}

// writeErr answers a bad parameter with 400 and anything else with 500.
func writeErr(w http.ResponseWriter, err error) {
	var bad badParam
	if errors.As(err, &bad) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
}
