package adminhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	"github.com/proxy-manager/proxy-manager/ui"
)

func TestAuditAPI(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	log := zaptest.NewLogger(t)
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	for i, e := range []store.AuditEntry{
		{User: "system", Action: "config_reload", ResourceType: "config", ResourceID: "1", Source: "startup"},
		{User: "system", Action: "config_file_changed", ResourceType: "site", ResourceID: "vault.yaml", OldValue: "a: 1\n", NewValue: "a: 2\n", Diff: "-a: 1\n+a: 2\n", Source: "file_watcher"},
		{User: "admin", Action: "ban_lifted", ResourceType: "ban", ResourceID: "203.0.113.7", Source: "api", Notes: "from 127.0.0.1:5000"},
		{User: "system", Action: "config_reload", ResourceType: "config", ResourceID: "2", Source: "file_watcher"},
	} {
		e.Time = t0.Add(time.Duration(i) * time.Hour)
		if err := st.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fleet.New(log), Config: fakeStatus{loaded: true}, Audit: st, Dashboard: ui.Dashboard()})

	testCases := []struct {
		desc      string
		query     string
		wantCode  int
		wantIDs   []int64
		wantLimit int
	}{
		{desc: "all, newest first, default limit", query: "", wantCode: 200, wantIDs: []int64{4, 3, 2, 1}, wantLimit: 100},
		{desc: "limit", query: "?limit=2", wantCode: 200, wantIDs: []int64{4, 3}, wantLimit: 2},
		{desc: "limit above the maximum is lowered", query: "?limit=5000", wantCode: 200, wantIDs: []int64{4, 3, 2, 1}, wantLimit: 1000},
		{desc: "action", query: "?action=config_reload", wantCode: 200, wantIDs: []int64{4, 1}, wantLimit: 100},
		{desc: "since RFC 3339", query: "?since=2026-11-22T10:00:00Z", wantCode: 200, wantIDs: []int64{4, 3}, wantLimit: 100},
		{desc: "since unix seconds", query: "?since=" + strconv.FormatInt(t0.Add(time.Hour).Unix(), 10), wantCode: 200, wantIDs: []int64{4, 3, 2}, wantLimit: 100},
		{desc: "resource by type", query: "?resource=site", wantCode: 200, wantIDs: []int64{2}, wantLimit: 100},
		{desc: "resource by id", query: "?resource=203.0.113.7", wantCode: 200, wantIDs: []int64{3}, wantLimit: 100},
		{desc: "filters together", query: "?action=config_reload&since=2026-11-22T09:00:00%2B00:00&limit=1", wantCode: 200, wantIDs: []int64{4}, wantLimit: 1},
		{desc: "nothing matches", query: "?action=backup_restored", wantCode: 200, wantIDs: []int64{}, wantLimit: 100},
		{desc: "bad limit", query: "?limit=ten", wantCode: 400},
		{desc: "zero limit", query: "?limit=0", wantCode: 400},
		{desc: "bad since", query: "?since=yesterday", wantCode: 400},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/audit"+tc.query, nil)
			r.Host = "localhost:8080"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.wantCode, w.Body.String())
			}
			if tc.wantCode != 200 {
				return
			}
			var body struct {
				Entries []map[string]any `json:"entries"`
				Limit   int              `json:"limit"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Entries == nil {
				t.Fatalf("entries missing or null: %s", w.Body.String())
			}
			var ids []int64
			for _, e := range body.Entries {
				ids = append(ids, int64(e["id"].(float64)))
				if h, _ := e["hash"].(string); len(h) != 64 {
					t.Errorf("entry %v without its hash", e["id"])
				}
			}
			if body.Limit != tc.wantLimit || len(ids) != len(tc.wantIDs) {
				t.Fatalf("limit %d ids %v, want %d %v", body.Limit, ids, tc.wantLimit, tc.wantIDs)
			}
			for i := range ids {
				if ids[i] != tc.wantIDs[i] {
					t.Fatalf("ids %v, want %v", ids, tc.wantIDs)
				}
			}
		})
	}

	// One entry in full, as a script reads it.
	r := httptest.NewRequest(http.MethodGet, "/api/audit?resource=vault.yaml", nil)
	r.Host = "127.0.0.1:8080"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body struct {
		Entries []auditJSON `json:"entries"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.Entries) != 1 {
		t.Fatalf("%v: %s", err, w.Body.String())
	}
	if e := body.Entries[0]; e.Time != "2026-11-22T09:00:00Z" || e.Action != "config_file_changed" || e.OldValue != "a: 1\n" ||
		e.NewValue != "a: 2\n" || e.Diff != "-a: 1\n+a: 2\n" || e.Source != "file_watcher" || e.User != "system" {
		t.Errorf("entry = %+v", e)
	}

	// From a web page of another site: refused like every admin endpoint.
	r = httptest.NewRequest(http.MethodGet, "/api/audit", nil)
	r.Host = "evil.example:8080"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: status %d", w.Code)
	}
}
