package edge

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// The snapshot's error pages reach the visitor: the route's page for a status, else the global
// one, else the built-in page; JSON clients get JSON from all of them.
func TestConfiguredErrorPages(t *testing.T) {
	down := closedPort(t)
	h := newHarness(t, proxy.Options{})
	own := withPolicy(newRoute("own", down, "/", "own.test"), &proxyv1.Policy{
		Limits:     &proxyv1.Limits{MaxRequestBody: 10},
		ErrorPages: map[int32]string{502: "<p>own 502 {{.Route}} {{.RequestID}}</p>", 413: "<p>own 413 max {{.MaxSize}} {{.RequestID}}</p>"},
	})
	plain := newRoute("plain", down, "/", "plain.test")
	rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{own, plain},
		ErrorPages: map[int32]string{404: "<p>global 404 [{{.Route}}] {{.RequestID}}</p>", 502: "<p>global 502 {{.Route}} {{.RequestID}}</p>"}}, h.pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.holder.Store(rt)

	testCases := []struct {
		desc       string
		method     string
		host, body string
		accept     string
		wantStatus int
		want       string
	}{
		{desc: "route page", host: "own.test", wantStatus: 502, want: "<p>own 502 own "},
		{desc: "413 with the route's limit", method: http.MethodPost, host: "own.test", body: strings.Repeat("x", 20), wantStatus: 413, want: "<p>own 413 max 10 bytes "},
		{desc: "global page for a route without its own", host: "plain.test", wantStatus: 502, want: "<p>global 502 plain "},
		{desc: "global page for no route", host: "unknown.test", wantStatus: 404, want: "<p>global 404 [] "},
		{desc: "JSON client", host: "own.test", accept: "application/json", wantStatus: 502, want: `{"status":502,"error":"Bad Gateway"`},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			header := http.Header{"Accept": {"text/html"}}
			if tc.accept != "" {
				header.Set("Accept", tc.accept)
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			res, got := h.do(t, method, tc.host, "/x", body, header)
			id := res.Header.Get("X-Request-ID")
			if res.StatusCode != tc.wantStatus || !strings.HasPrefix(got, tc.want) || !strings.Contains(got, id) {
				t.Errorf("status %d body %q (id %s); want %d starting with %q", res.StatusCode, got, id, tc.wantStatus, tc.want)
			}
		})
	}
}

// A template the data plane cannot run refuses the snapshot (the control plane checks the same,
// so this is a snapshot built elsewhere).
func TestBrokenErrorPageRefusesSnapshot(t *testing.T) {
	h := newHarness(t, proxy.Options{})
	r := withPolicy(newRoute("r", "http://127.0.0.1:1", "/", "r.test"), &proxyv1.Policy{ErrorPages: map[int32]string{404: "{{.Nope}}"}})
	if _, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{r}}, h.pools, BuildOptions{}); err == nil || !strings.Contains(err.Error(), `route "r": error_pages: 404`) {
		t.Errorf("route: %v", err)
	}
	if _, err := Build(&proxyv1.Snapshot{Version: 1, ErrorPages: map[int32]string{502: "{{if}}"}}, h.pools, BuildOptions{}); err == nil || !strings.Contains(err.Error(), "global error_pages: 502") {
		t.Errorf("global: %v", err)
	}
}
