package adminhttp

import (
	"errors"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// handleBans serves the ban API, the same data as AdminService.ListBans and LiftBan:
//
//	GET    /api/bans                    {"bans": [{"clientIp", "routeId", "bannedAt", "expiresAt", "reason"}]}
//	DELETE /api/bans/{ip}[?route=<id>]  {"lifted": n}; 404 when no ban was in force
//
// A DELETE from another site is refused by the guard (guard.go: its Origin, its Sec-Fetch-Site,
// no CSRF token), and a browser cannot send one cross-site without a CORS preflight, which this
// server never grants.
func handleBans(mux *http.ServeMux, b Bans) {
	if b == nil {
		return
	}
	mux.HandleFunc("GET /api/bans", func(w http.ResponseWriter, _ *http.Request) {
		// Every field, empty ones too: "bans": [] when there are none, "routeId": "" for a ban on
		// every route, so a script or the dashboard sees one shape.
		j, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(&proxyv1.ListBansResponse{Bans: b.List()})
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(j) // the client went away; nothing to do
	})
	mux.HandleFunc("DELETE /api/bans/{ip}", func(w http.ResponseWriter, r *http.Request) {
		ip, route := r.PathValue("ip"), r.URL.Query().Get("route")
		n, err := b.Lift(r.Context(), ip, route, "api", "from "+r.RemoteAddr)
		switch {
		case errors.Is(err, bans.ErrBadAddress):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		case n == 0:
			writeJSON(w, http.StatusNotFound, map[string]any{"lifted": 0, "error": "no ban in force for " + ip})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"lifted": n})
		}
	})
}
