package adminhttp

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestConnectionPoolsAPI(t *testing.T) {
	f := newObsFixture(t)
	type pool struct {
		NodeID    string    `json:"node_id"`
		Backend   string    `json:"backend"`
		Time      time.Time `json:"time"`
		Active    int64     `json:"active"`
		Idle      int64     `json:"idle"`
		AgeMS     int64     `json:"avg_connection_age_ms"`
		Requests  int64     `json:"requests"`
		ReuseRate float64   `json:"reuse_rate"`
	}
	tests := []struct {
		query string
		want  []pool
	}{
		// The latest report of the api pool; the blog pool reported 2 h ago, outside the hour.
		{"", []pool{{NodeID: "node-1", Backend: "http://api:8080", Time: f.now.Add(-30 * time.Second), Active: 4, Idle: 4,
			AgeMS: 45000, Requests: 150, ReuseRate: 130.0 / 150}}},
		{"window=3h", []pool{
			{NodeID: "node-1", Backend: "http://api:8080", Time: f.now.Add(-30 * time.Second), Active: 4, Idle: 4, AgeMS: 45000, Requests: 150, ReuseRate: 130.0 / 150},
			{NodeID: "node-1", Backend: "http://blog:80", Time: f.now.Add(-2 * time.Hour), Active: 1, Idle: 2, AgeMS: 60000, Requests: 10, ReuseRate: 0.5}}},
		{"window=10s", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := f.get("/api/stats/connection-pools?" + tc.query)
			var b struct{ Pools []pool }
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &b) != nil || len(b.Pools) != len(tc.want) {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			for i, p := range b.Pools {
				want := tc.want[i]
				if math.Abs(p.ReuseRate-want.ReuseRate) > 1e-9 || !p.Time.Equal(want.Time) {
					t.Fatalf("pool %d = %+v, want %+v", i, p, want)
				}
				p.ReuseRate, p.Time, want.ReuseRate, want.Time = 0, time.Time{}, 0, time.Time{}
				if p != want {
					t.Fatalf("pool %d = %+v, want %+v", i, p, want)
				}
			}
		})
	}
	dumpExample(t, "connection-pools", f.get("/api/stats/connection-pools").Body.Bytes())
}

func TestWebSocketsAPI(t *testing.T) {
	f := newObsFixture(t)
	w := f.get("/api/websockets")
	var b struct {
		Active       int64      `json:"active"`
		Peak         int64      `json:"peak_24h"`
		PeakAt       *time.Time `json:"peak_at"`
		Closed       int64      `json:"closed_24h"`
		AvgDurationS float64    `json:"avg_duration_s"`
		LongLived    []struct {
			RequestID string `json:"request_id"`
			Route     string `json:"route"`
			DurationS int64  `json:"duration_s"`
		} `json:"long_lived"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &b) != nil {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	// c1 (-3h) and c2 (-90m) are open; c4 (-2h..-1h) overlapped both: 3 at -90m. c3 ended at
	// -23h after 3 h, c4 after 1 h.
	if b.Active != 2 || b.Peak != 3 || b.PeakAt == nil || !b.PeakAt.Equal(f.now.Add(-90*time.Minute)) || b.Closed != 2 || b.AvgDurationS != 7200 {
		t.Fatalf("got %s", w.Body)
	}
	if len(b.LongLived) != 2 || b.LongLived[0].RequestID != "req-ws-c1" || b.LongLived[0].DurationS != 3*3600 ||
		b.LongLived[1].RequestID != "req-ws-c2" || b.LongLived[1].Route != "chat" {
		t.Fatalf("long-lived: %s", w.Body)
	}
	dumpExample(t, "websockets", w.Body.Bytes())
}

func TestSecurityAPI(t *testing.T) {
	f := newObsFixture(t)
	type count struct {
		Key   string `json:"key"`
		Count int64  `json:"count"`
	}
	type body struct {
		ActiveBans []struct {
			ClientIP string `json:"client_ip"`
			Route    string `json:"route"`
			Reason   string `json:"reason"`
		} `json:"active_bans"`
		BansActive   int     `json:"bans_active"`
		Violations   int64   `json:"violations"`
		WAFBlocks    []count `json:"waf_blocks"`
		Events       []count `json:"events"`
		TopAttackers []struct {
			ClientIP string `json:"client_ip"`
			Events   int64  `json:"events"`
		} `json:"top_attackers"`
	}
	tests := []struct {
		query      string
		violations int64
		attackers  string
	}{
		// 203.0.113.7 and .9 mask alike: their ban and two WAF matches count together. A ban is
		// a rate-limit violation too (action banned).
		{"", 2, "203.0.113.xxx=3 198.51.100.xxx=1"},
		{"period=7d", 3, "203.0.113.xxx=3 198.51.100.xxx=2"},
		{"period=1m", 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := f.get("/api/security?" + tc.query)
			var b body
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &b) != nil {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var attackers []string
			for _, a := range b.TopAttackers {
				attackers = append(attackers, a.ClientIP+"="+itoa(a.Events))
			}
			if b.BansActive != 1 || b.ActiveBans[0].ClientIP != "203.0.113.xxx" || b.ActiveBans[0].Route != "api" ||
				b.Violations != tc.violations || strings.Join(attackers, " ") != tc.attackers {
				t.Fatalf("got %s", w.Body)
			}
			if strings.Contains(w.Body.String(), "203.0.113.7") || strings.Contains(w.Body.String(), "198.51.100.4") {
				t.Fatalf("an address left unmasked: %s", w.Body)
			}
		})
	}
	w := f.get("/api/security")
	var b body
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if len(b.WAFBlocks) != 2 || b.WAFBlocks[0] != (count{"blocked", 1}) || b.WAFBlocks[1] != (count{"logged", 1}) {
		t.Fatalf("waf blocks: %s", w.Body)
	}
	dumpExample(t, "security", w.Body.Bytes())
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestObservedBadParameters(t *testing.T) {
	f := newObsFixture(t)
	tests := []struct{ path, param string }{
		{"/api/stats/connection-pools?window=soon", "window"},
		{"/api/stats/connection-pools?window=0", "window"},
		{"/api/stats/connection-pools?window=-1h", "window"},
		{"/api/security?period=forever", "period"},
		{"/api/security?period=400d", "period"},
		{"/api/security?period=0s", "period"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			w := f.get(tc.path)
			var b map[string]string
			if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &b) != nil || !strings.HasPrefix(b["error"], tc.param) {
				t.Fatalf("%d %s, want 400 naming %s", w.Code, w.Body, tc.param)
			}
		})
	}
}

func TestDataplanesAPISystemMetrics(t *testing.T) {
	f := newObsFixture(t)
	w := f.get("/api/dataplanes")
	var b struct {
		Dataplanes []struct {
			NodeID       string `json:"nodeId"`
			EventsStored string `json:"eventsStored"`
			EventBatches string `json:"eventBatches"`
			System       *struct {
				Time              time.Time  `json:"time"`
				Goroutines        int64      `json:"goroutines"`
				ActiveConnections int64      `json:"active_connections"`
				UptimeS           int64      `json:"uptime_s"`
				SnapshotVersion   int64      `json:"snapshot_version"`
				SnapshotAppliedAt *time.Time `json:"snapshot_applied_at"`
			} `json:"system"`
		} `json:"dataplanes"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &b) != nil || len(b.Dataplanes) != 1 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	d := b.Dataplanes[0]
	// The latest of the two samples (-10s), not the first.
	if d.NodeID != "node-1" || d.EventsStored != "15" || d.EventBatches != "2" || d.System == nil || d.System.Goroutines != 42 ||
		!d.System.Time.Equal(f.now.Add(-10*time.Second)) || d.System.ActiveConnections != 17 || d.System.UptimeS != 26*3600 ||
		d.System.SnapshotVersion != 7 || d.System.SnapshotAppliedAt == nil {
		t.Fatalf("got %s", w.Body)
	}
	dumpExample(t, "dataplanes", w.Body.Bytes())
	dumpExample(t, "status", f.get("/api/status").Body.Bytes())
	dumpExample(t, "metrics", f.get("/metrics").Body.Bytes())
}

func TestMetricsEndpoint(t *testing.T) {
	f := newObsFixture(t)
	w := f.get("/metrics")
	// 6 requests, 4 WebSocket and 5 security events in the first batch; the second has only
	// system metrics.
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "controlplane_events_stored_total 15\n") ||
		!strings.Contains(w.Body.String(), `controlplane_event_batches_total{result="stored"} 2`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
