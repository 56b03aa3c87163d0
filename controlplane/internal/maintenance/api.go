package maintenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
)

// Limits of one request: a page is a complete HTML document with inline styles, not a site.
const (
	maxBody  = 1 << 20
	maxHTML  = 512 << 10
	maxAllow = 64
	// maxOpen bounds the windows in force and scheduled, which are held in memory.
	maxOpen = 1000
)

// Errors of Add and End, for the API's status codes.
var (
	ErrBadRequest   = errors.New("bad maintenance request")
	ErrUnknownRoute = errors.New("unknown route")
	ErrNotFound     = errors.New("no maintenance window")
)

// Request turns maintenance on for a route (POST /api/maintenance).
type Request struct {
	Route          string   `json:"route"`
	HTML           string   `json:"html_content"`
	ScheduledStart string   `json:"scheduled_start"` // RFC 3339; empty: now
	ScheduledEnd   string   `json:"scheduled_end"`   // RFC 3339; empty: until DELETE
	Allow          []string `json:"allow"`           // CIDRs or addresses
	Reason         string   `json:"reason"`          // a note for the audit log and the list
}

// Add validates r, stores the window with its audit entry and applies it (a window without a
// scheduled start is in force and pushed when Add returns). by says who asked, for the audit log.
func (m *Manager) Add(ctx context.Context, r Request, by string) (store.MaintenanceWindow, error) {
	now := m.clock.Now().Truncate(time.Second)
	w := store.MaintenanceWindow{Route: strings.TrimSpace(r.Route), HTML: r.HTML, Reason: r.Reason, Start: now,
		CreatedAt: now, CreatedBy: by, Allow: []string{}}
	if w.Route == "" {
		return w, fmt.Errorf("%w: route is required", ErrBadRequest)
	}
	if len(r.HTML) > maxHTML || !utf8.ValidString(r.HTML) {
		return w, fmt.Errorf("%w: html_content must be UTF-8 and at most %d bytes", ErrBadRequest, maxHTML)
	}
	if len(r.Reason) > 500 {
		return w, fmt.Errorf("%w: reason is longer than 500 bytes", ErrBadRequest)
	}
	if r.ScheduledStart != "" {
		t, err := time.Parse(time.RFC3339, r.ScheduledStart)
		if err != nil {
			return w, fmt.Errorf("%w: scheduled_start %q is not an RFC 3339 time (2026-11-22T02:00:00Z)", ErrBadRequest, r.ScheduledStart)
		}
		if t.After(now) {
			w.Start = t.Truncate(time.Second)
		}
	}
	if r.ScheduledEnd != "" {
		t, err := time.Parse(time.RFC3339, r.ScheduledEnd)
		if err != nil {
			return w, fmt.Errorf("%w: scheduled_end %q is not an RFC 3339 time (2026-11-22T04:00:00Z)", ErrBadRequest, r.ScheduledEnd)
		}
		w.End = t.Truncate(time.Second)
		if !w.End.After(w.Start) {
			return w, fmt.Errorf("%w: scheduled_end %s is not after the start %s", ErrBadRequest, w.End.UTC().Format(time.RFC3339), w.Start.UTC().Format(time.RFC3339))
		}
	}
	if len(r.Allow) > maxAllow {
		return w, fmt.Errorf("%w: allow has %d entries, at most %d", ErrBadRequest, len(r.Allow), maxAllow)
	}
	for _, a := range r.Allow {
		p, err := canonicalPrefix(strings.TrimSpace(a))
		if err != nil {
			return w, fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		w.Allow = union(w.Allow, []string{p})
	}
	w.Active = !w.Start.After(now)

	m.opMu.Lock()
	if len(m.windows) >= maxOpen {
		m.opMu.Unlock()
		return w, fmt.Errorf("%w: %d windows are open already (in force or scheduled); end some first", ErrBadRequest, len(m.windows))
	}
	id, err := m.store.AddMaintenance(ctx, w, m.audit(w, action(w.Active), "api", by, ""))
	if errors.Is(err, store.ErrUnknownRoute) {
		m.opMu.Unlock()
		return w, fmt.Errorf("%w %q: no route in force has this id (see GET /api/routes)", ErrUnknownRoute, w.Route)
	}
	if err != nil {
		m.opMu.Unlock()
		return w, err
	}
	w.ID = id
	m.windows = append(m.windows, w)
	m.publishLocked()
	m.opMu.Unlock()
	m.poke() // re-arm the timer for the new boundaries
	return w, nil
}

// action is the audit action of a new window: on now, or scheduled.
func action(active bool) string {
	if active {
		return "maintenance_on"
	}
	return "maintenance_scheduled"
}

// End ends every open window of route (in force or scheduled) and pushes the list; ErrNotFound
// when there is none.
func (m *Manager) End(ctx context.Context, route, by string) ([]store.MaintenanceWindow, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	now := m.clock.Now()
	var ended []store.MaintenanceWindow
	kept := m.windows[:0]
	var errs []error
	for _, w := range m.windows {
		if w.Route != route {
			kept = append(kept, w)
			continue
		}
		act := "maintenance_off"
		if !w.Active {
			act = "maintenance_cancelled"
		}
		if _, err := m.store.EndMaintenance(ctx, w.ID, now, by, m.audit(w, act, "api", by, "")); err != nil {
			errs = append(errs, err)
			kept = append(kept, w)
			continue
		}
		w.EndedAt, w.EndedBy = now.Truncate(time.Second), by
		ended = append(ended, w)
	}
	m.windows = kept
	m.publishLocked()
	if err := errors.Join(errs...); err != nil {
		return ended, err
	}
	if len(ended) == 0 {
		return nil, fmt.Errorf("%w for route %q", ErrNotFound, route)
	}
	return ended, nil
}

// Windows returns the open windows (in force and scheduled), by start.
func (m *Manager) Windows() []store.MaintenanceWindow {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	out := make([]store.MaintenanceWindow, len(m.windows))
	copy(out, m.windows)
	return out
}

// audit is the audit entry of a change to w. The page itself is summarised by its size: the
// audit log records what changed, not a copy of every page.
func (m *Manager) audit(w store.MaintenanceWindow, act, source, by, notes string) store.AuditEntry {
	v := map[string]any{"route": w.Route, "scheduled_start": w.Start.UTC().Format(time.RFC3339), "allow": w.Allow,
		"html_bytes": len(w.HTML), "reason": w.Reason}
	if !w.End.IsZero() {
		v["scheduled_end"] = w.End.UTC().Format(time.RFC3339)
	}
	j, err := json.Marshal(v)
	if err != nil {
		j = []byte(fmt.Sprintf("%q", err.Error())) // a map of strings always marshals
	}
	e := store.AuditEntry{Time: m.clock.Now(), User: "admin", Action: act, ResourceType: "route", ResourceID: w.Route,
		Source: source, Notes: notes}
	if source == "schedule" {
		e.User = "system"
	}
	if act == "maintenance_on" || act == "maintenance_scheduled" {
		e.NewValue = string(j)
	} else {
		e.OldValue = string(j)
	}
	if by != "" && source == "api" {
		e.Notes = strings.TrimPrefix(e.Notes+"; "+by, "; ")
	}
	return e
}

// Handler serves the API:
//
//	GET    /api/maintenance                  the windows in force and scheduled, and the routes shown
//	                                         in maintenance because their circuit is open
//	POST   /api/maintenance                  a Request as JSON; 201 with the window
//	DELETE /api/maintenance?route=<id>       ends the route's windows; also /api/maintenance/<id>
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/maintenance", m.serveList)
	mux.HandleFunc("POST /api/maintenance", m.servePost)
	mux.HandleFunc("DELETE /api/maintenance", func(w http.ResponseWriter, r *http.Request) {
		m.serveDelete(w, r, r.URL.Query().Get("route"))
	})
	mux.HandleFunc("DELETE /api/maintenance/{route...}", func(w http.ResponseWriter, r *http.Request) {
		m.serveDelete(w, r, r.PathValue("route"))
	})
	return mux
}

// listResponse is GET /api/maintenance.
type listResponse struct {
	Version     uint64       `json:"version"` // of the list last pushed to the data planes
	Windows     []windowView `json:"windows"`
	CircuitOpen []string     `json:"circuit_open"`
	InForce     []inForce    `json:"in_force"`
}

type windowView struct {
	store.MaintenanceWindow
	State string `json:"state"` // "active" or "scheduled"
}

// inForce is one route of the list the data planes hold.
type inForce struct {
	Route  string    `json:"route"`
	Reason string    `json:"reason"`
	EndsAt time.Time `json:"ends_at,omitzero"`
	Allow  []string  `json:"allow"`
}

func (m *Manager) serveList(w http.ResponseWriter, _ *http.Request) {
	resp := listResponse{Windows: []windowView{}, CircuitOpen: m.CircuitOpen(), InForce: []inForce{}}
	for _, win := range m.Windows() {
		st := "scheduled"
		if win.Active {
			st = "active"
		}
		resp.Windows = append(resp.Windows, windowView{win, st})
	}
	if resp.CircuitOpen == nil {
		resp.CircuitOpen = []string{}
	}
	m.opMu.Lock()
	resp.Version = m.last.GetVersion()
	for _, e := range m.last.GetRoutes() {
		f := inForce{Route: e.GetRouteId(), Reason: e.GetReason(), Allow: e.GetAllow()}
		if e.GetEndsAt() != nil {
			f.EndsAt = e.GetEndsAt().AsTime()
		}
		if f.Allow == nil {
			f.Allow = []string{}
		}
		resp.InForce = append(resp.InForce, f)
	}
	m.opMu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (m *Manager) servePost(w http.ResponseWriter, r *http.Request) {
	if !jsonBody(w, r) {
		return
	}
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "body: one JSON object expected")
		return
	}
	win, err := m.Add(r.Context(), req, "from "+r.RemoteAddr)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	st := "scheduled"
	if win.Active {
		st = "active"
	}
	writeJSON(w, http.StatusCreated, windowView{win, st})
}

func (m *Manager) serveDelete(w http.ResponseWriter, r *http.Request, route string) {
	// A body is not needed; one that is sent must be JSON (the admin server's rule for
	// mutating requests), and may name the route.
	if r.ContentLength != 0 {
		if !jsonBody(w, r) {
			return
		}
		var body struct {
			Route string `json:"route"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
		if route == "" {
			route = body.Route
		}
	}
	if route == "" {
		writeError(w, http.StatusBadRequest, "route is required: DELETE /api/maintenance?route=<route id>")
		return
	}
	ended, err := m.End(r.Context(), route, "from "+r.RemoteAddr)
	if err != nil {
		writeError(w, statusOf(err), err.Error())
		return
	}
	ids := make([]int64, 0, len(ended))
	for _, e := range ended {
		ids = append(ids, e.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"route": route, "ended": ids})
}

// jsonBody answers 415 unless the request says its body is JSON.
func jsonBody(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
		return false
	}
	return true
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownRoute), errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusServiceUnavailable
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	j, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, j = http.StatusInternalServerError, []byte(`{"error": "encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(j, '\n')) // the client went away; nothing to do
}
