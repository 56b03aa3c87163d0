package adminhttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/bans"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/fleet"
	"github.com/proxy-manager/proxy-manager/controlplane/internal/store"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"github.com/proxy-manager/proxy-manager/ui"
)

// banAPI serves the admin handler over a real ban registry on a store in a temp dir, holding
// three bans: 203.0.113.7 on route vault and on every route, 2001:db8::1 on vault.
func banAPI(t *testing.T) (http.Handler, *store.Store, *fleet.Fleet) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t)
	log := zaptest.NewLogger(t)
	now := time.Now()
	ban := func(ip, route string) *proxyv1.SecurityEvent {
		return &proxyv1.SecurityEvent{Time: timestamppb.New(now), Kind: proxyv1.SecurityKind_SECURITY_KIND_BANNED, RouteId: route,
			ClientIp: ip, BanUntil: timestamppb.New(now.Add(time.Hour)), Reason: "rate limit on /login: 3 violations"}
	}
	b := &proxyv1.EventBatch{NodeId: "n1", BootId: "b", Sequence: 1, Security: []*proxyv1.SecurityEvent{
		ban("203.0.113.7", "vault"), ban("203.0.113.7", ""), ban("2001:db8::1", "vault")}}
	if _, err := st.SaveBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	fl := fleet.New(log)
	reg, err := bans.New(ctx, log, st, fl, bans.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Health: fakeHealth{started: true}, Fleet: fl, Config: fakeStatus{loaded: true}, Bans: reg, Dashboard: ui.Dashboard()}
	return Handler(cfg), st, fl
}

func TestBanAPI(t *testing.T) {
	h, st, fl := banAPI(t)
	do := func(method, target, origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		r.Host = "localhost:8080"
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	type listed struct {
		Bans []struct {
			ClientIP  string    `json:"clientIp"`
			RouteID   string    `json:"routeId"`
			BannedAt  time.Time `json:"bannedAt"`
			ExpiresAt time.Time `json:"expiresAt"`
			Reason    string    `json:"reason"`
		} `json:"bans"`
	}
	list := func() listed {
		t.Helper()
		w := do(http.MethodGet, "/api/bans", "")
		var l listed
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &l) != nil {
			t.Fatalf("GET /api/bans: %d %s", w.Code, w.Body)
		}
		return l
	}
	l := list()
	if len(l.Bans) != 3 || l.Bans[0].Reason != "rate limit on /login: 3 violations" || l.Bans[0].ExpiresAt.Sub(l.Bans[0].BannedAt) != time.Hour {
		t.Fatalf("GET /api/bans = %+v", l)
	}

	tests := []struct {
		desc, target, origin string
		want, lifted, left   int
	}{
		{desc: "cross-site delete refused", target: "/api/bans/203.0.113.7", origin: "https://evil.example", want: http.StatusForbidden, left: 3},
		{desc: "not an address", target: "/api/bans/203.0.113.x", want: http.StatusBadRequest, left: 3},
		{desc: "no ban for the address", target: "/api/bans/203.0.113.9", want: http.StatusNotFound, left: 3},
		{desc: "no ban on that route", target: "/api/bans/2001:db8::1?route=panel", want: http.StatusNotFound, left: 3},
		{desc: "one route of an address", target: "/api/bans/203.0.113.7?route=vault", want: http.StatusOK, lifted: 1, left: 2},
		{desc: "an IPv6 address, written differently", target: "/api/bans/2001:DB8:0::1", want: http.StatusOK, lifted: 1, left: 1},
		{desc: "every ban of an address", target: "/api/bans/203.0.113.7", want: http.StatusOK, lifted: 1, left: 0},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			w := do(http.MethodDelete, tc.target, tc.origin)
			var res struct {
				Lifted int `json:"lifted"`
			}
			if w.Code != tc.want || json.Unmarshal(w.Body.Bytes(), &res) != nil || res.Lifted != tc.lifted {
				t.Fatalf("DELETE %s: %d %s; want %d with %d lifted", tc.target, w.Code, w.Body, tc.want, tc.lifted)
			}
			if l := list(); len(l.Bans) != tc.left {
				t.Fatalf("after DELETE %s: %d bans listed, want %d", tc.target, len(l.Bans), tc.left)
			}
			if pushed, _ := fl.Bans(); len(pushed.GetBans()) != tc.left {
				t.Fatalf("after DELETE %s: %d bans pushed to data planes, want %d", tc.target, len(pushed.GetBans()), tc.left)
			}
		})
	}
	var none map[string][]any
	if w := do(http.MethodGet, "/api/bans", ""); json.Unmarshal(w.Body.Bytes(), &none) != nil || none["bans"] == nil || len(none["bans"]) != 0 {
		t.Fatalf("GET /api/bans without bans: %s, want an empty list", w.Body)
	}
	entries, err := st.AuditEntries(context.Background(), 10, "ban_lifted")
	if err != nil || len(entries) != 3 || entries[0].Source != "api" || entries[0].User != "admin" {
		t.Fatalf("audit log: %+v, %v", entries, err)
	}
	if w := do(http.MethodPost, "/api/bans", ""); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /api/bans: %d", w.Code)
	}
}
