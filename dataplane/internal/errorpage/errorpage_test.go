package errorpage

import (
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

var goldenTime = time.Date(2026, 11, 22, 14, 3, 9, 0, time.UTC)

func TestGolden(t *testing.T) {
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{404, 502, 503, 504} {
		for _, format := range []struct{ ext, accept, contentType string }{
			{"html", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html; charset=utf-8"},
			{"json", "application/json", "application/json"},
		} {
			name := strconv.Itoa(status) + "." + format.ext
			t.Run(name, func(t *testing.T) {
				req := httptest.NewRequest(http.MethodGet, "http://example.org/x", nil)
				req.Header.Set("Accept", format.accept)
				rec := httptest.NewRecorder()
				err := rn.Write(rec, req, Page{Status: status, RequestID: "0123456789abcdef0123456789abcdef", Time: goldenTime})
				if err != nil {
					t.Fatal(err)
				}
				res := rec.Result()
				if res.StatusCode != status {
					t.Errorf("status = %d, want %d", res.StatusCode, status)
				}
				for k, want := range map[string]string{
					"Content-Type":   format.contentType,
					"Cache-Control":  "no-store",
					"X-Request-Id":   "0123456789abcdef0123456789abcdef",
					"Content-Length": strconv.Itoa(rec.Body.Len()),
				} {
					if got := res.Header.Get(k); got != want {
						t.Errorf("%s = %q, want %q", k, got, want)
					}
				}
				golden := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.WriteFile(golden, rec.Body.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got := rec.Body.String(); got != string(want) {
					t.Errorf("body differs from %s (run go test -update if the change is intended)\ngot:\n%s", golden, got)
				}
			})
		}
	}
}

func TestJSONShape(t *testing.T) {
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Accept", "application/json")
	rec := httptest.NewRecorder()
	if err := rn.Write(rec, req, Page{Status: 502, RequestID: "abc", Time: goldenTime}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"status": float64(502), "error": "Bad Gateway", "message": defaultMessage(502), "request_id": "abc"}
	if len(got) != len(want) {
		t.Errorf("JSON = %v, want keys %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestEscaping(t *testing.T) {
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	err = rn.Write(rec, req, Page{Status: 400, Message: `<script>alert(1)</script>`, RequestID: `"><img src=x>`, Time: goldenTime})
	if err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	for _, bad := range []string{"<script>", "<img"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q:\n%s", bad, body)
		}
	}
}

func TestHeadWritesNoBodyButHeaders(t *testing.T) {
	rn, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = rn.Write(w, r, Page{Status: 404, RequestID: "id-1", Time: goldenTime})
	}))
	defer srv.Close()
	res, err := http.Head(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 || res.Header.Get("X-Request-ID") != "id-1" {
		t.Errorf("HEAD: status %d, X-Request-ID %q", res.StatusCode, res.Header.Get("X-Request-ID"))
	}
}

func TestPrefersJSON(t *testing.T) {
	testCases := []struct {
		desc   string
		accept string
		want   bool
	}{
		{desc: "absent", accept: "", want: false},
		{desc: "browser", accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", want: false},
		{desc: "curl", accept: "*/*", want: false},
		{desc: "json only", accept: "application/json", want: true},
		{desc: "json with charset parameter", accept: "application/json; charset=utf-8", want: true},
		{desc: "axios default", accept: "application/json, text/plain, */*", want: true},
		{desc: "json named, html by wildcard at same q", accept: "*/*, application/json", want: true},
		{desc: "html preferred by q", accept: "application/json;q=0.5, text/html", want: false},
		{desc: "json preferred by q", accept: "text/html;q=0.4, application/json;q=0.9", want: true},
		{desc: "equal q, equal specificity: html", accept: "text/html, application/json", want: false},
		{desc: "application wildcard", accept: "application/*", want: true},
		{desc: "json refused", accept: "application/json;q=0, */*", want: false},
		{desc: "html refused", accept: "text/html;q=0, */*", want: true},
		{desc: "most specific range decides", accept: "application/*;q=0.1, application/json;q=1, text/html;q=0.5", want: true},
		{desc: "most specific range decides, low", accept: "application/*;q=1, application/json;q=0.1, text/html;q=0.5", want: false},
		{desc: "case-insensitive", accept: "Application/JSON;Q=1", want: true},
		{desc: "malformed q ignored", accept: "application/json;q=abc", want: false},
		{desc: "q above 1 ignored", accept: "application/json;q=2", want: false},
		{desc: "q with too many decimals ignored", accept: "application/json;q=0.1234", want: false},
		{desc: "q 1.000", accept: "text/html;q=0.999, application/json;q=1.000", want: true},
		{desc: "garbage", accept: ";;,,/", want: false},
		{desc: "other type only", accept: "image/png", want: false},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := PrefersJSON(tc.accept); got != tc.want {
				t.Errorf("PrefersJSON(%q) = %v, want %v", tc.accept, got, tc.want)
			}
		})
	}
}

func TestParseQValue(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "1": 1000, "0.5": 500, "0.05": 50, "0.001": 1, "1.0": 1000, "0.": 0, "1.000": 1000} {
		if got, ok := parseQValue(in); !ok || got != want {
			t.Errorf("parseQValue(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "2", "1.5", "1.001", "0.0001", "-0", ".5", "0x1", "NaN", "0,5"} {
		if got, ok := parseQValue(in); ok {
			t.Errorf("parseQValue(%q) = %d, want invalid", in, got)
		}
	}
}

// FuzzPrefersJSON checks that no Accept header makes the negotiation panic or accept an
// invalid quality.
func FuzzPrefersJSON(f *testing.F) {
	for _, s := range []string{"application/json", "*/*;q=0.8", "text/html;q=", ";q=1", "a/b;q=0.123;x", "/,/;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		_ = PrefersJSON(accept)
		if q, ok := parseQValue(accept); ok && (q < 0 || q > 1000) {
			t.Fatalf("parseQValue(%q) = %d", accept, q)
		}
	})
}
