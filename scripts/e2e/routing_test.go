package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func flatSite(host, backendURL string) string {
	return fmt.Sprintf("host: %s\nbackend: %s\n", host, backendURL)
}

// Checked by 1: host and path routes reach the right backend; an unknown host gets a 404 page that
// carries the request id.
func TestRouting(t *testing.T) {
	a, b, c := backend(t, "A"), backend(t, "B"), backend(t, "C")
	cl := newCluster(t, "{}\n", map[string]string{
		"a.yaml": flatSite("a.test", a.URL),
		"b.yaml": fmt.Sprintf(`enabled: true
service:
  name: b
routes:
  - domains: ["b.test", "*.b.test"]
    path: /
    backend: %s
  - domains: ["b.test"]
    path: /api
    backend: %s
`, b.URL, c.URL),
	})
	cl.startCP()
	cl.startDP("node-1")
	ctx := context.Background()

	routes := []struct {
		host, path, want string
	}{
		{"a.test", "/", "backend=A path=/"},
		{"A.TEST:8080", "/x", "backend=A path=/x"},
		{"b.test", "/page", "backend=B path=/page"},
		{"b.test", "/api/users", "backend=C path=/api/users"},
		{"b.test", "/apiary", "backend=B path=/apiary"},
		{"deep.sub.b.test", "/api/users", "backend=B path=/api/users"},
	}
	for _, r := range routes {
		resp, body, err := get(ctx, cl.client, cl.httpAddr, r.host, r.path)
		if err != nil {
			t.Fatalf("GET %s%s: %v", r.host, r.path, err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(body, r.want+" ") {
			t.Errorf("GET %s%s: %d %q, want 200 from %q", r.host, r.path, resp.StatusCode, body, r.want)
		}
		if resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("GET %s%s: no X-Request-ID on the response", r.host, r.path)
		}
	}

	// What the backend is told about the client and the original request.
	_, body, err := get(ctx, cl.client, cl.httpAddr, "a.test", "/hdr", "X-Request-ID", "e2e-keep-this-id", "X-Forwarded-For", "6.6.6.6")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"xff=127.0.0.1 ", "xrip=127.0.0.1 ", "xfh=a.test ", "xfp=http ", "rid=e2e-keep-this-id"} {
		if !strings.Contains(body, want) {
			t.Errorf("backend saw %q, want it to contain %q (a client-sent X-Forwarded-For is not trusted)", body, want)
		}
	}

	// Unknown host: 404 page with the request id, HTML by default and JSON on request.
	resp, body, err := get(ctx, cl.client, cl.httpAddr, "unknown.test", "/")
	if err != nil {
		t.Fatal(err)
	}
	rid := resp.Header.Get("X-Request-ID")
	if resp.StatusCode != 404 || rid == "" || !strings.Contains(body, rid) || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("unknown host: %d %s X-Request-ID=%q body %q; want a 404 HTML page with the request id", resp.StatusCode, resp.Header.Get("Content-Type"), rid, body)
	}
	resp, body, err = get(ctx, cl.client, cl.httpAddr, "unknown.test", "/", "Accept", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != 404 || page.Status != 404 || page.RequestID != resp.Header.Get("X-Request-ID") {
		t.Errorf("unknown host as JSON: %d %q (%v); want a JSON 404 with the request id", resp.StatusCode, body, err)
	}
}

// A backend that cannot be reached gives a 502 page with the request id.
func TestBadGateway(t *testing.T) {
	dead := freeAddr(t) // nothing listens there
	cl := newCluster(t, "{}\n", map[string]string{"a.yaml": flatSite("a.test", "http://"+dead)})
	cl.startCP()
	cl.startDP("node-1")
	resp, body, err := get(context.Background(), cl.client, cl.httpAddr, "a.test", "/")
	if err != nil {
		t.Fatal(err)
	}
	rid := resp.Header.Get("X-Request-ID")
	if resp.StatusCode != 502 || rid == "" || !strings.Contains(body, rid) {
		t.Fatalf("dead backend: %d, X-Request-ID %q, body %q; want 502 with the request id", resp.StatusCode, rid, body)
	}
	if strings.Contains(body, dead) {
		t.Errorf("the error page leaks the backend address %s: %q", dead, body)
	}
}
