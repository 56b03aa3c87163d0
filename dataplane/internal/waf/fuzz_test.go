package waf

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// FuzzNormalize checks the normaliser's invariants on any input: it ends, its output is
// bounded (2*len+16 bytes), has no NUL and no upper-case ASCII letter, and a value that reached
// a fixed point normalises to itself. Run: go test -run=^$ -fuzz=FuzzNormalize -fuzztime=30s
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "%252e%252e%252f", "%u002e%c0%ae", "&lt;&#x3c;&#60", `\u003c\x3c`, "＜ＳＣＲＩＰＴ＞", "a+b%00", "ﷺ", "%%32%65", "%e0%80%af"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, plus bool) {
		out, complete := normalize(in, plus)
		if len(out) > 2*len(in)+16 {
			t.Fatalf("Normalize(%q) is %d bytes, over the bound %d", in, len(out), 2*len(in)+16)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c == 0 || 'A' <= c && c <= 'Z' {
				t.Fatalf("Normalize(%q) = %q has byte %q", in, out, c)
			}
		}
		if complete {
			if again, _ := normalize(out, false); again != out {
				t.Fatalf("not idempotent: Normalize(%q) = %q, then %q", in, out, again)
			}
		}
	})
}

// FuzzInspect checks that no request field makes Inspect panic, and that the body is given
// back unchanged.
func FuzzInspect(f *testing.F) {
	p, err := New(&proxyv1.Waf{Enabled: true, Rules: allRulesOn(), MaxRequestSize: 64})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("/a/b", "q=1' or 1=1", "x=<script>", "application/x-www-form-urlencoded")
	f.Add("/", "", `{"a":["b",{"c":"d"}]}`, "application/json")
	f.Add("/", "", "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.php\"\r\n\r\nx\r\n--b--", "multipart/form-data; boundary=b")
	f.Fuzz(func(t *testing.T, path, query, body, ct string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.URL = &url.URL{Path: path, RawQuery: query}
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Cookie", query)
		p.Inspect(r)
		var b strings.Builder
		buf := make([]byte, 7)
		for {
			n, err := r.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if b.String() != body {
			t.Fatalf("body %q became %q", body, b.String())
		}
	})
}
