package adminhttp

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type logsBody struct {
	Source  string `json:"source"`
	Limit   int    `json:"limit"`
	Entries []struct {
		RequestID string    `json:"request_id"`
		Route     string    `json:"route"`
		Status    int       `json:"status"`
		Time      time.Time `json:"time"`
		Error     string    `json:"error"`
		NodeID    string    `json:"node_id"`
	} `json:"entries"`
}

func (b logsBody) ids() []string {
	var ids []string
	for _, e := range b.Entries {
		ids = append(ids, e.RequestID)
	}
	return ids
}

func TestLogsAPI(t *testing.T) {
	f := newObsFixture(t)
	rfc := func(d time.Duration) string { return url.QueryEscape(f.now.Add(d).Format(time.RFC3339)) }
	all := []string{"req-reset", "req-500", "req-502", "req-404", "req-ok-1", "req-old"}
	tests := []struct {
		query  string
		source string
		limit  int
		want   []string
	}{
		{"", "database", 100, all},
		{"request_id=req-502", "database", 100, []string{"req-502"}},
		{"request_id=nope", "database", 100, nil},
		{"route=blog", "database", 100, []string{"req-reset", "req-404", "req-ok-1"}},
		{"route=api&status=5xx", "database", 100, []string{"req-500", "req-502", "req-old"}},
		{"status=500", "database", 100, []string{"req-500"}},
		{"status=4xx", "database", 100, []string{"req-reset", "req-404"}},
		{"since=1h", "database", 100, all[:5]},
		{"since=" + rfc(-time.Hour) + "&until=" + rfc(-8*time.Minute), "database", 100, []string{"req-404", "req-ok-1"}},
		{"since=" + strconv.FormatInt(f.now.Add(-time.Hour).Unix(), 10), "database", 100, all[:5]},
		{"limit=2", "database", 2, all[:2]},
		{"limit=5000", "database", 1000, all},
		{"live=1", "live", 100, all},
		{"live=1&request_id=req-404", "live", 100, []string{"req-404"}},
		{"live=1&status=5xx&limit=2", "live", 2, []string{"req-500", "req-502"}},
		{"live=true&route=blog&since=5m", "live", 100, []string{"req-reset"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := f.get("/api/logs?" + tc.query)
			var b logsBody
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &b) != nil {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if b.Source != tc.source || b.Limit != tc.limit || !slices.Equal(b.ids(), tc.want) {
				t.Fatalf("source %s limit %d ids %v, want %s %d %v", b.Source, b.Limit, b.ids(), tc.source, tc.limit, tc.want)
			}
			for i := 1; i < len(b.Entries); i++ {
				if b.Entries[i].Time.After(b.Entries[i-1].Time) {
					t.Fatalf("not newest first: %v", b.Entries)
				}
			}
		})
	}
	dumpExample(t, "logs", f.get("/api/logs?request_id=req-502").Body.Bytes())
	dumpExample(t, "logs-live", f.get("/api/logs?live=1&limit=2").Body.Bytes())
}

func TestLogsAPIBadParameters(t *testing.T) {
	f := newObsFixture(t)
	tests := []struct{ path, param string }{
		{"/api/logs?status=abc", "status"},
		{"/api/logs?status=600", "status"},
		{"/api/logs?status=6xx", "status"},
		{"/api/logs?status=99", "status"},
		{"/api/logs?since=yesterday", "since"},
		{"/api/logs?since=-1h", "since"},
		{"/api/logs?until=2026-13-01", "until"},
		{"/api/logs?limit=0", "limit"},
		{"/api/logs?limit=-3", "limit"},
		{"/api/logs?limit=ten", "limit"},
		{"/api/logs?live=maybe", "live"},
		{"/api/logs?since=1h&until=2h", "until"},
		{"/api/logs?request_id=" + strings.Repeat("x", 200), "request_id"},
		{"/api/errors?since=soon", "since"},
		{"/api/errors?limit=0", "limit"},
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

func TestErrorsAPI(t *testing.T) {
	f := newObsFixture(t)
	type body struct {
		Total    int64 `json:"total"`
		ByStatus []struct {
			Key   string `json:"key"`
			Count int64  `json:"count"`
		} `json:"by_status"`
		ByError []struct {
			Key   string `json:"key"`
			Count int64  `json:"count"`
		} `json:"by_error"`
		Recent []struct {
			RequestID string `json:"request_id"`
		} `json:"recent"`
	}
	tests := []struct {
		query    string
		total    int64
		statuses []string
		errors   int
		recent   []string
	}{
		{"", 3, []string{"499", "500", "502"}, 2, []string{"req-reset", "req-500", "req-502"}},
		{"since=7d", 4, []string{"499", "500", "502", "503"}, 3, []string{"req-reset", "req-500", "req-502", "req-old"}},
		{"since=7d&route=api", 3, []string{"500", "502", "503"}, 2, []string{"req-500", "req-502", "req-old"}},
		{"route=blog&limit=1", 1, []string{"499"}, 1, []string{"req-reset"}},
		{"since=7d&limit=1", 4, []string{"499", "500", "502", "503"}, 3, []string{"req-reset"}},
		{"route=nope", 0, nil, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := f.get("/api/errors?" + tc.query)
			var b body
			if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &b) != nil {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var statuses, recent []string
			for _, s := range b.ByStatus {
				statuses = append(statuses, s.Key)
			}
			slices.Sort(statuses)
			for _, r := range b.Recent {
				recent = append(recent, r.RequestID)
			}
			if b.Total != tc.total || !slices.Equal(statuses, tc.statuses) || len(b.ByError) != tc.errors || !slices.Equal(recent, tc.recent) {
				t.Fatalf("got %s", w.Body)
			}
		})
	}
	dumpExample(t, "errors", f.get("/api/errors?limit=2").Body.Bytes())

	// The same failures went to today's error-log file, one JSON line each, with the request id.
	day := f.now.UTC().Format("2006-01-02")
	raw, err := os.ReadFile(filepath.Join(f.logDir, "errors-"+day+".log"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var e struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("error log line %q: %v", line, err)
		}
		ids = append(ids, e.RequestID)
	}
	if want := []string{"req-old", "req-502", "req-500", "req-reset"}; !slices.Equal(ids, want) {
		t.Fatalf("error log holds %v, want %v", ids, want)
	}
}
