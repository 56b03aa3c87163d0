package adminhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/alert"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/alerts"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/ui"
)

type recordAlerts struct {
	mu  sync.Mutex
	got []alert.Alert
}

func (r *recordAlerts) Send(a alert.Alert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
}

func TestSecurityIncidentAPI(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	log := zaptest.NewLogger(t)
	fl := fleet.New(log)
	rec := &recordAlerts{}
	al := alerts.New(log, rec, fl, fl, st, alerts.Options{})
	h := Handler(Config{Health: fakeHealth{started: true}, Fleet: fl, Config: fakeStatus{loaded: true}, Audit: st, Dashboard: ui.Dashboard(), Incidents: al})

	for _, tc := range []struct {
		desc, body   string
		wantCode     int
		wantAffected string
	}{
		{desc: "list", body: `{"summary": "Database dump leaked", "details": "A backup was readable from the web for 2 hours.", "affected": ["vault.example.org", "user emails"]}`,
			wantCode: 201, wantAffected: "vault.example.org, user emails"},
		{desc: "one string", body: `{"summary": "Admin password reused", "affected": "panel.example.org"}`, wantCode: 201, wantAffected: "panel.example.org"},
		{desc: "no summary", body: `{"details": "x"}`, wantCode: 400},
		{desc: "two-line summary", body: `{"summary": "a\nb"}`, wantCode: 400},
		{desc: "unknown field", body: `{"summary": "a", "severity": "low"}`, wantCode: 400},
		{desc: "affected not text", body: `{"summary": "a", "affected": 3}`, wantCode: 400},
		{desc: "not JSON", body: `summary=a`, wantCode: 400},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := len(rec.got)
			r := httptest.NewRequest(http.MethodPost, "/api/alerts/security-incident", strings.NewReader(tc.body))
			r.Host = "localhost:8080"
			r.Header.Set("Content-Type", "application/json") // the admin guard refuses other bodies
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.wantCode, w.Body.String())
			}
			if tc.wantCode != 201 {
				if len(rec.got) != before {
					t.Fatalf("a refused incident raised %+v", rec.got[before:])
				}
				return
			}
			if len(rec.got) != before+1 {
				t.Fatalf("alerts raised: %d", len(rec.got)-before)
			}
			a := rec.got[before]
			if a.Type != alert.SecurityIncident || a.Severity != alert.Critical || a.Host != "" || a.RouteID != "" {
				t.Fatalf("alert %+v", a)
			}
			var in map[string]any
			_ = json.Unmarshal([]byte(tc.body), &in)
			if a.Title != "Security incident: "+in["summary"].(string) || a.Fields[0].Value != tc.wantAffected {
				t.Fatalf("alert %+v", a)
			}
		})
	}
	entries, err := st.AuditEntries(ctx, 10, "security_incident")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[1].Notes != "Database dump leaked" || entries[1].User != "192.0.2.1" || entries[1].ResourceType != "security" ||
		!strings.Contains(entries[1].NewValue, `"affected":["vault.example.org","user emails"]`) {
		t.Fatalf("audit entries %+v", entries)
	}
}

// FuzzDecodeAffected: any JSON value gives the strings it holds or an error, never a panic.
func FuzzDecodeAffected(f *testing.F) {
	for _, s := range []string{`"a"`, `["a", "b"]`, `null`, `3`, `[1]`, `{"a": 1}`, `["a", null]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var out []string
		if err := decodeAffected(raw, &out); err == nil && len(raw) > 0 && raw[0] == '"' && len(out) != 1 {
			t.Fatalf("one string gave %q", out)
		}
	})
}
