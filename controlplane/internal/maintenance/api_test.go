package maintenance

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/pkg/config"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func TestAPI(t *testing.T) {
	e := newEnv(t)
	global := &config.Global{Maintenance: config.Maintenance{Allow: config.PrefixList{netip.MustParsePrefix("10.0.0.0/8")}}}
	m := e.start(t, Options{Global: func() *config.Global { return global }})
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)

	const js = "application/json"
	future := t0.Add(time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		want                            string // in the body
	}{
		{"no content type", "POST", "/api/maintenance", "", `{"route":"` + panel + `"}`, 415, "must be JSON"},
		{"a form", "POST", "/api/maintenance", "application/x-www-form-urlencoded", "route=x", 415, "must be JSON"},
		{"not JSON", "POST", "/api/maintenance", js, `route=x`, 400, "body:"},
		{"unknown field", "POST", "/api/maintenance", js, `{"route":"` + panel + `","start":"now"}`, 400, `unknown field \"start\"`},
		{"two objects", "POST", "/api/maintenance", js, `{"route":"` + panel + `"} {}`, 400, "one JSON object"},
		{"no route", "POST", "/api/maintenance", js, `{}`, 400, "route is required"},
		{"unknown route", "POST", "/api/maintenance", js, `{"route":"nope/"}`, 404, `unknown route \"nope/\"`},
		{"bad start", "POST", "/api/maintenance", js, `{"route":"` + panel + `","scheduled_start":"tomorrow"}`, 400, "not an RFC 3339 time"},
		{"bad end", "POST", "/api/maintenance", js, `{"route":"` + panel + `","scheduled_end":"2026-13-01T00:00:00Z"}`, 400, "scheduled_end"},
		{"end before start", "POST", "/api/maintenance", js, `{"route":"` + panel + `","scheduled_start":"` + future + `","scheduled_end":"2026-11-22T01:30:00Z"}`, 400, "is not after the start"},
		{"end in the past", "POST", "/api/maintenance", js, `{"route":"` + panel + `","scheduled_end":"2026-11-22T00:00:00Z"}`, 400, "is not after the start"},
		{"bad allow", "POST", "/api/maintenance", js, `{"route":"` + panel + `","allow":["10.0.0.0/33"]}`, 400, "neither a CIDR nor an IP address"},
		{"too big", "POST", "/api/maintenance", js, `{"route":"` + panel + `","html_content":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "larger than"},
		{"delete nothing", "DELETE", "/api/maintenance?route=" + panel, "", "", 404, "no maintenance window"},
		{"delete no route", "DELETE", "/api/maintenance", "", "", 400, "route is required"},
		{"delete form", "DELETE", "/api/maintenance", "text/plain", "route", 415, "must be JSON"},
		{"on now", "POST", "/api/maintenance", js + "; charset=utf-8", `{"route":"` + panel + `","html_content":"<h1>Back soon</h1>","allow":["203.0.113.7"],"reason":"upgrade"}`, 201, `"state": "active"`},
		{"scheduled", "POST", "/api/maintenance", js, `{"route":"` + vault + `","scheduled_start":"` + future + `"}`, 201, `"state": "scheduled"`},
		{"list", "GET", "/api/maintenance", "", "", 200, `"circuit_open": []`},
		{"delete by path", "DELETE", "/api/maintenance/" + vault, "", "", 200, `"ended": [`},
		{"delete by body", "DELETE", "/api/maintenance", js, `{"route":"` + panel + `"}`, 200, `"ended": [`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			buf := string(body)
			if resp.StatusCode != tc.status || !strings.Contains(buf, tc.want) {
				t.Fatalf("%s %s: %d %s, want %d with %q", tc.method, tc.path, resp.StatusCode, buf, tc.status, tc.want)
			}
			if resp.StatusCode >= 400 && !json.Valid([]byte(buf)) {
				t.Fatalf("error body is not JSON: %s", buf)
			}
			if tc.name == "on now" {
				// In force and pushed when the POST answers, with the global allow-list added.
				l, _ := e.fl.Maintenance()
				if r := l.GetRoutes(); len(r) != 1 || r[0].GetRouteId() != panel || !slices.Equal(r[0].GetAllow(), []string{"203.0.113.7/32", "10.0.0.0/8"}) {
					t.Fatalf("list after POST %v", l)
				}
			}
		})
	}
	want := []string{"maintenance_on/admin/api", "maintenance_off/admin/api"}
	if a := e.audits(t, panel); !slices.Equal(a, want) {
		t.Fatalf("panel audit %v, want %v", a, want)
	}
	want = []string{"maintenance_scheduled/admin/api", "maintenance_cancelled/admin/api"}
	if a := e.audits(t, vault); !slices.Equal(a, want) {
		t.Fatalf("vault audit %v, want %v", a, want)
	}
	e.waitList(t, "no route", func(l *proxyv1.MaintenanceList) bool { return len(l.GetRoutes()) == 0 })
}
