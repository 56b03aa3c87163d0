package adminhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/ui"
)

// gdprAPI serves the admin handler over a real store holding an access log row and a WAF block
// of 203.0.113.7, and an access log row of 198.51.100.9.
func gdprAPI(t *testing.T) (http.Handler, *store.Store) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	log := zaptest.NewLogger(t)
	now := time.Now()
	req := func(id, ip string) *proxyv1.RequestEvent {
		return &proxyv1.RequestEvent{Time: timestamppb.New(now), RequestId: id, RouteId: "vault", Host: "vault.example.org",
			Method: "GET", Path: "/", Status: 200, Duration: durationpb.New(time.Millisecond), ClientIp: ip}
	}
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b", Sequence: 1,
		Requests: []*proxyv1.RequestEvent{req("mine", "203.0.113.7"), req("shared", "203.0.113.xxx"), req("theirs", "198.51.100.9")},
		Security: []*proxyv1.SecurityEvent{{Time: timestamppb.New(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_WAF,
			RouteId: "vault", ClientIp: "203.0.113.7", Path: "/search", Rule: "sql_injection", Action: "blocked"}}}
	if _, err := st.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Health: fakeHealth{started: true}, Fleet: fleet.New(log), Config: fakeStatus{loaded: true},
		PersonalData: st, Dashboard: ui.Dashboard()}
	return Handler(cfg), st
}

func gdprDo(h http.Handler, method, target, contentType, body, origin string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = "127.0.0.1:8080"
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if origin != "" {
		r.Header.Set("Origin", origin)
		r.Header.Set(CSRFHeader, csrfToken(h))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestGDPRExportThenErase(t *testing.T) {
	h, st := gdprAPI(t)
	export := func() store.Export {
		t.Helper()
		w := gdprDo(h, http.MethodGet, "/api/gdpr/export?ip=203.0.113.7", "", "", "")
		if w.Code != http.StatusOK {
			t.Fatalf("export: %d %s", w.Code, w.Body)
		}
		var ex store.Export
		if err := json.Unmarshal(w.Body.Bytes(), &ex); err != nil {
			t.Fatalf("export: %v: %s", err, w.Body)
		}
		return ex
	}
	ex := export()
	rows := map[string]int{}
	for _, tr := range ex.Tables {
		if !tr.Shared {
			rows[tr.Table] = len(tr.Rows)
		} else if tr.Withheld != 1 || len(tr.Rows) != 0 {
			if tr.Table == "request_logs" {
				t.Errorf("shared request_logs: %d withheld, %d listed; want 1 withheld", tr.Withheld, len(tr.Rows))
			}
		}
	}
	if rows["request_logs"] != 1 || rows["security_events"] != 1 || rows["waf_blocks"] != 1 {
		t.Fatalf("export rows per table %v", rows)
	}

	w := gdprDo(h, http.MethodPost, "/api/gdpr/erase", "application/json", `{"ip": "203.0.113.7", "note": "request by e-mail"}`, "")
	if w.Code != http.StatusOK {
		t.Fatalf("erase: %d %s", w.Code, w.Body)
	}
	var er store.Erasure
	if err := json.Unmarshal(w.Body.Bytes(), &er); err != nil {
		t.Fatal(err)
	}
	if er.Deleted["request_logs"] != 1 || er.Deleted["waf_blocks"] != 1 || er.Deleted["security_events"] != 1 {
		t.Errorf("erase counts %+v", er.Deleted)
	}
	if ex := export(); ex.Records() != 0 || len(ex.Kept.Rows) != 1 {
		t.Errorf("export after erasure: %d records, %d kept; want 0 and the erasure", ex.Records(), len(ex.Kept.Rows))
	}
	entries, err := st.AuditEntries(context.Background(), 5, "gdpr_erase")
	if err != nil || len(entries) != 1 || entries[0].Source != "api" || !strings.HasPrefix(entries[0].Notes, "request by e-mail; from ") {
		t.Fatalf("audit = %+v, %v", entries, err)
	}

	// The shared masked row, asked for explicitly; the other person's row stays.
	w = gdprDo(h, http.MethodPost, "/api/gdpr/erase", "application/json; charset=utf-8", `{"ip": "203.0.113.7", "include_masked": true}`, "http://127.0.0.1:8080")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"deleted_shared_masked":{"request_logs":1`) {
		t.Fatalf("erase include_masked: %d %s", w.Code, w.Body)
	}
	if n, _ := st.CountRequestLogs(context.Background()); n != 1 {
		t.Errorf("%d request logs left, want the other person's one", n)
	}
}

func TestGDPRRefusals(t *testing.T) {
	h, _ := gdprAPI(t)
	testCases := []struct {
		desc                           string
		method, target, ctype, body, o string
		want                           int
	}{
		{"no selector", "GET", "/api/gdpr/export", "", "", "", http.StatusBadRequest},
		{"two selectors", "GET", "/api/gdpr/export?ip=203.0.113.7&user=alice", "", "", "", http.StatusBadRequest},
		{"not an address", "GET", "/api/gdpr/export?ip=203.0.113.x", "", "", "", http.StatusBadRequest},
		{"unknown parameter", "GET", "/api/gdpr/export?mail=a@b.c", "", "", "", http.StatusBadRequest},
		{"limit out of range", "GET", "/api/gdpr/export?ip=203.0.113.7&limit=0", "", "", "", http.StatusBadRequest},
		{"bad include_masked", "GET", "/api/gdpr/export?ip=203.0.113.7&include_masked=yes please", "", "", "", http.StatusBadRequest},
		{"export by e-mail", "GET", "/api/gdpr/export?email=alice@example.org&limit=5", "", "", "", http.StatusOK},
		{"cross-site export", "GET", "/api/gdpr/export?ip=203.0.113.7", "", "", "https://evil.example", http.StatusForbidden},
		{"erase as a form", "POST", "/api/gdpr/erase", "application/x-www-form-urlencoded", "ip=203.0.113.7", "", http.StatusUnsupportedMediaType},
		{"erase cross-site", "POST", "/api/gdpr/erase", "application/json", `{"ip":"203.0.113.7"}`, "https://evil.example", http.StatusForbidden},
		{"erase unknown field", "POST", "/api/gdpr/erase", "application/json", `{"ip":"203.0.113.7","everything":true}`, "", http.StatusBadRequest},
		{"erase without selector", "POST", "/api/gdpr/erase", "application/json", `{}`, "", http.StatusBadRequest},
		{"erase too big", "POST", "/api/gdpr/erase", "application/json", `{"note":"` + strings.Repeat("x", maxEraseBody) + `"}`, "", http.StatusBadRequest},
		{"erase by GET", "GET", "/api/gdpr/erase?ip=203.0.113.7", "", "", "", http.StatusMethodNotAllowed},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			target := strings.ReplaceAll(tc.target, " ", "%20")
			if w := gdprDo(h, tc.method, target, tc.ctype, tc.body, tc.o); w.Code != tc.want {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.target, w.Code, w.Body, tc.want)
			}
		})
	}
}
