package errorpage

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// shipped are the pages of deploy/error-pages, which deploy/global.yaml configures.
var shipped = []int{403, 404, 413, 429, 431, 502, 503, 504}

// shippedTemplates compiles deploy/error-pages as the global pages of a snapshot.
func shippedTemplates(t testing.TB) *Templates {
	t.Helper()
	src := map[int32]string{}
	for _, code := range shipped {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "error-pages", strconv.Itoa(code)+".html"))
		if err != nil {
			t.Fatal(err)
		}
		src[int32(code)] = string(b)
	}
	ts, err := Compile("global", src, nil)
	if err != nil {
		t.Fatalf("the shipped pages do not compile: %v", err)
	}
	return ts
}

// goldenPage is the fixed data the shipped pages are rendered with.
func goldenPage(status int, ts *Templates) Page {
	p := Page{Status: status, RequestID: "0123456789abcdef0123456789abcdef", Time: goldenTime, Route: "gpanel.example.org/", GlobalTemplates: ts}
	switch status {
	case 413:
		p.Message, p.MaxSize = "The request body is larger than the maximum of 10 MiB.", "10 MiB"
	case 429:
		p.Message, p.RetryAfter = "Too many requests: try again in 42 s.", "42"
	case 431:
		p.Message = "The request headers are larger than the maximum of 16 KiB."
	}
	return p
}

func TestShippedGolden(t *testing.T) {
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := shippedTemplates(t)
	for _, status := range shipped {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://example.org/x", nil)
			req.Header.Set("Accept", "text/html,*/*;q=0.8")
			rec := httptest.NewRecorder()
			if err := rn.Write(rec, req, goldenPage(status, ts)); err != nil {
				t.Fatal(err)
			}
			if rec.Code != status || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			body := rec.Body.String()
			for _, want := range []string{"0123456789abcdef0123456789abcdef", "2026-11-22T14:03:09Z", "gpanel.example.org/", "Error " + strconv.Itoa(status)} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			// No outside requests: everything is inline.
			for _, bad := range []string{"http://", "https://", "<script", "<link", "src="} {
				if strings.Contains(body, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			golden := filepath.Join("testdata", "shipped-"+strconv.Itoa(status)+".html.golden")
			if *update {
				if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if body != string(want) {
				t.Errorf("body differs from %s (run go test -update if the change is intended)\ngot:\n%s", golden, body)
			}
		})
	}
}

func TestShippedPagesSayWhatToDo(t *testing.T) {
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := shippedTemplates(t)
	render := func(p Page) string {
		rec := httptest.NewRecorder()
		if err := rn.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), p); err != nil {
			t.Fatal(err)
		}
		return rec.Body.String()
	}
	if body := render(goldenPage(413, ts)); !strings.Contains(body, "smaller than 10 MiB") {
		t.Errorf("413 does not name the limit:\n%s", body)
	}
	if body := render(goldenPage(429, ts)); !strings.Contains(body, "Try again in 42 seconds") {
		t.Errorf("429 does not use Retry-After:\n%s", body)
	}
	if body := render(Page{Status: 429, RequestID: "r", GlobalTemplates: ts}); !strings.Contains(body, "Try again in a few minutes") {
		t.Errorf("429 without Retry-After:\n%s", body)
	}
	if body := render(Page{Status: 404, RequestID: "r", GlobalTemplates: ts}); strings.Contains(body, "<dt>Site</dt>") {
		t.Errorf("a page without a route shows an empty site:\n%s", body)
	}
}

func TestPrecedence(t *testing.T) {
	route, err := Compile("a.example.org/", map[int32]string{502: "route 502 {{.Route}} {{.RequestID}}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	global, err := Compile("global", map[int32]string{502: "global 502 {{.RequestID}}", 404: "global 404 {{.RequestID}}"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	testCases := []struct {
		desc          string
		status        int
		accept        string
		route, global *Templates
		want          string // the body starts with it
	}{
		{desc: "route page wins", status: 502, route: route, global: global, want: "route 502 a.example.org/ id-1"},
		{desc: "global when the route has none for the status", status: 404, route: route, global: global, want: "global 404 id-1"},
		{desc: "global without route pages", status: 502, global: global, want: "global 502 id-1"},
		{desc: "built-in when no page for the status", status: 503, route: route, global: global, want: "<!DOCTYPE html>"},
		{desc: "built-in without pages", status: 502, want: "<!DOCTYPE html>"},
		{desc: "JSON client gets JSON, not the page", status: 502, accept: "application/json", route: route, global: global,
			want: `{"status":502,"error":"Bad Gateway","message":"The service behind this site could not be reached. Please try again in a moment.","request_id":"id-1"}`},
		{desc: "browser gets the page", status: 502, accept: "text/html,application/json;q=0.9", route: route, want: "route 502"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			rec := httptest.NewRecorder()
			p := Page{Status: tc.status, RequestID: "id-1", Time: goldenTime, Route: "a.example.org/", RouteTemplates: tc.route, GlobalTemplates: tc.global}
			if err := rn.Write(rec, req, p); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || rec.Header().Get("X-Request-Id") != "id-1" {
				t.Errorf("status %d, X-Request-Id %q", rec.Code, rec.Header().Get("X-Request-Id"))
			}
			if got := rec.Body.String(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("body = %q, want it to start with %q", got, tc.want)
			}
			if tc.accept == "application/json" && !json.Valid(rec.Body.Bytes()) {
				t.Errorf("invalid JSON %q", rec.Body.String())
			}
		})
	}
}

func TestConfiguredPageEscapes(t *testing.T) {
	ts, err := Compile("global", map[int32]string{400: `<p>{{.Message}}</p><a href="/?r={{.RequestID}}">x</a>`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rn, _ := New(nil)
	rec := httptest.NewRecorder()
	p := Page{Status: 400, Message: `<script>alert(1)</script>`, RequestID: `"><img src=x>`, GlobalTemplates: ts}
	if err := rn.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), p); err != nil {
		t.Fatal(err)
	}
	if body := rec.Body.String(); strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
		t.Errorf("unescaped: %s", body)
	}
}

// A page that fails for some data (not for the sample the control plane checked) gives the
// built-in page, and is logged once per snapshot.
func TestExecutionFailureFallsBack(t *testing.T) {
	// .Route is empty only for requests that matched no route: then the template calls a field
	// that does not exist.
	ts, err := Compile("global", map[int32]string{404: `{{if .Route}}ok{{else}}{{.Nope}}{{end}}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	rn, err := New(zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		rec := httptest.NewRecorder()
		id := "id-" + strconv.Itoa(i)
		if err := rn.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), Page{Status: 404, RequestID: id, GlobalTemplates: ts}); err != nil {
			t.Fatal(err)
		}
		if body := rec.Body.String(); rec.Code != 404 || !strings.Contains(body, "<!DOCTYPE html>") || !strings.Contains(body, id) {
			t.Fatalf("fallback: status %d body %q", rec.Code, body)
		}
	}
	entries := logs.FilterMessageSnippet("error page failed").All()
	if len(entries) != 1 {
		t.Fatalf("logged %d times, want once", len(entries))
	}
	if f := entries[0].ContextMap(); f["request_id"] != "id-0" || f["scope"] != "global" || f["status"] != int64(404) {
		t.Errorf("log fields = %v", f)
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, tc := range []struct {
		desc string
		src  map[int32]string
		want string
	}{
		{desc: "unknown field", src: map[int32]string{404: "\n{{.Nope}}"}, want: "error_pages: 404: line 2"},
		{desc: "not an error status", src: map[int32]string{200: "x"}, want: "status 200"},
		{desc: "parse error", src: map[int32]string{502: "{{if}}"}, want: "error_pages: 502: line 1"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := Compile("r", tc.src, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile = %v, want %q", err, tc.want)
			}
		})
	}
	if ts, err := Compile("r", nil, nil); ts != nil || err != nil || ts.Len() != 0 {
		t.Errorf("Compile(nil) = %v, %v", ts, err)
	}
}

// BenchmarkWriteConfigured renders a shipped page for a browser: the path of every 404, 429 and
// 502 the edge answers itself.
func BenchmarkWriteConfigured(b *testing.B) {
	rn, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	ts := shippedTemplates(b)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", "text/html,*/*;q=0.8")
	w := &discardWriter{h: http.Header{}}
	p := goldenPage(429, ts)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		if err := rn.Write(w, req, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteJSON(b *testing.B) {
	rn, err := New(nil)
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", "application/json")
	w := &discardWriter{h: http.Header{}}
	p := goldenPage(429, shippedTemplates(b))
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		if err := rn.Write(w, req, p); err != nil {
			b.Fatal(err)
		}
	}
}

type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// Routes with the same pages (global defaults) share their compiled templates but log their
// failures each.
func TestCacheSharesTemplates(t *testing.T) {
	cache := Cache{}
	src := map[int32]string{502: "<p>{{.RequestID}}</p>", 503: "<p>{{.RequestID}}</p>"}
	a, err := Compile("a/", src, cache)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile("b/", src, cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(cache) != 2 || a.find(502).t != b.find(502).t || a.find(502) == b.find(502) {
		t.Errorf("cache holds %d templates; shared template %v, shared entry %v", len(cache), a.find(502).t == b.find(502).t, a.find(502) == b.find(502))
	}
}

// deploy/error-pages/maintenance.html is the page the seeds' examples name for 502 and 503.
func TestShippedMaintenancePage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "error-pages", "maintenance.html"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := Compile("global", map[int32]string{502: string(b), 503: string(b)}, nil)
	if err != nil {
		t.Fatalf("maintenance.html does not compile: %v", err)
	}
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://example.org/x", nil)
	req.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	if err := rn.Write(rec, req, goldenPage(503, ts)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "shipped-maintenance.html.golden")
	if *update {
		if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if rec.Code != 503 || rec.Body.String() != string(want) || !strings.Contains(rec.Body.String(), "Down for maintenance") {
		t.Errorf("status %d, body differs from %s:\n%s", rec.Code, golden, rec.Body.String())
	}
}
