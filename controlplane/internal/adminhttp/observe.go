package adminhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"sort"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/pkg/ipmask"
)

// Observed reads what the data planes reported about themselves, their pools, WebSockets and
// security; *store.Store is one.
type Observed interface {
	LatestSystemMetrics(ctx context.Context) (map[string]store.SystemSample, error)
	PoolStats(ctx context.Context, since time.Time) ([]store.PoolStat, error)
	WebSockets(ctx context.Context, now, since, longBefore time.Time) (store.WebSocketReport, error)
	Security(ctx context.Context, now, since time.Time) (store.SecurityReport, error)
}

const (
	// poolsDefaultWindow is how far back /api/stats/connection-pools looks for reports (data
	// planes send them every 30 s).
	poolsDefaultWindow = time.Hour
	// wsWindow is the period of the WebSocket peak and average duration; wsLongLived the age
	// from which an open connection is listed as long-lived.
	wsWindow    = 24 * time.Hour
	wsLongLived = time.Hour
	// securityDefaultPeriod is the period /api/security covers without period.
	securityDefaultPeriod = 24 * time.Hour
	// maxPeriod bounds every period parameter (the longest retention of the event tables).
	maxPeriod = 365 * 24 * time.Hour
	// topAttackers is how many addresses /api/security lists.
	topAttackers = 10
)

// handleObserved serves the data planes' own reports:
//
//	GET /api/stats/connection-pools?window=1h
//	GET /api/websockets
//	GET /api/security?period=24h
func handleObserved(mux *http.ServeMux, o Observed, now func() time.Time) {
	if o == nil {
		return
	}
	mux.HandleFunc("GET /api/stats/connection-pools", func(w http.ResponseWriter, r *http.Request) {
		window, err := durationParam(r.URL.Query(), "window", poolsDefaultWindow, maxPeriod)
		if err != nil {
			writeErr(w, err)
			return
		}
		since := now().Add(-window)
		pools, err := o.PoolStats(r.Context(), since)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"since": since.UTC().Truncate(time.Second), "pools": pools})
	})
	mux.HandleFunc("GET /api/websockets", func(w http.ResponseWriter, r *http.Request) {
		t := now()
		rep, err := o.WebSockets(r.Context(), t, t.Add(-wsWindow), t.Add(-wsLongLived))
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"active": rep.Active, "peak_24h": rep.Peak, "peak_at": rep.PeakAt,
			"closed_24h": rep.Closed, "avg_duration_s": rep.AvgDurationS, "long_lived_threshold_s": int64(wsLongLived.Seconds()),
			"long_lived": rep.LongLived})
	})
	mux.HandleFunc("GET /api/security", func(w http.ResponseWriter, r *http.Request) {
		period, err := durationParam(r.URL.Query(), "period", securityDefaultPeriod, maxPeriod)
		if err != nil {
			writeErr(w, err)
			return
		}
		t := now()
		rep, err := o.Security(r.Context(), t, t.Add(-period))
		if err != nil {
			writeErr(w, err)
			return
		}
		// Addresses leave the admin surface masked; /api/bans shows the real ones for lifting.
		for i := range rep.ActiveBans {
			rep.ActiveBans[i].ClientIP = maskIP(rep.ActiveBans[i].ClientIP)
		}
		writeJSON(w, http.StatusOK, map[string]any{"period_s": int64(period.Seconds()), "active_bans": rep.ActiveBans,
			"bans_active": len(rep.ActiveBans), "violations": rep.Violations, "waf_blocks": rep.WAFBlocks,
			"waf_rules": rep.WAFRules, "events": rep.Events, "top_attackers": maskAttackers(rep.TopAttackers)})
	})
}

// maskIP masks an address the project's default way (ipmask.Default: the last octet, or the
// interface identifier of IPv6). Text that is not an address gives "".
func maskIP(s string) string {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return ""
	}
	return ipmask.Mask(addr, ipmask.Default, nil)
}

// maskAttackers masks the addresses and merges those that mask the same (one /24), most events
// first, at most topAttackers.
func maskAttackers(in []store.Attacker) []store.Attacker {
	byMask := map[string]int64{}
	for _, a := range in {
		byMask[maskIP(a.ClientIP)] += a.Events
	}
	out := make([]store.Attacker, 0, len(byMask))
	for ip, n := range byMask {
		out = append(out, store.Attacker{ClientIP: ip, Events: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Events != out[j].Events {
			return out[i].Events > out[j].Events
		}
		return out[i].ClientIP < out[j].ClientIP
	})
	return out[:min(len(out), topAttackers)]
}

// writeDataplanes answers GET /api/dataplanes: every data plane the fleet knows, as the gRPC
// admin shows it, with "system", its latest SystemMetrics from the database. A node that sent
// metrics before the control plane restarted, and has not connected since, is listed too
// (connected false).
func writeDataplanes(w http.ResponseWriter, r *http.Request, fleet Fleet, o Observed) {
	var systems map[string]store.SystemSample
	if o != nil {
		var err error
		if systems, err = o.LatestSystemMetrics(r.Context()); err != nil {
			writeErr(w, err)
			return
		}
	}
	out := []map[string]any{}
	seen := map[string]bool{}
	for _, d := range fleet.Dataplanes() {
		b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(d)
		var m map[string]any
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		if s, ok := systems[d.GetNodeId()]; ok {
			m["system"] = s
		}
		seen[d.GetNodeId()] = true
		out = append(out, m)
	}
	var rest []string
	for id := range systems {
		if !seen[id] {
			rest = append(rest, id)
		}
	}
	sort.Strings(rest)
	for _, id := range rest {
		out = append(out, map[string]any{"nodeId": id, "connected": false, "system": systems[id]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"dataplanes": out})
}
