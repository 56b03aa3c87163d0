package waf

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func browserRequest(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
	r.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	r.Header.Set("Accept-Language", "en-US,en;q=0.5")
	r.Header.Set("Accept-Encoding", "gzip, deflate, br")
	r.Header.Set("Referer", "https://forum.example.org/t/10-tips-for-new-players-2024/77")
	r.Header.Set("Cookie", "_t=AbCdEf0123456789; _forum_session=Zm9vYmFyYmF6cXV4%3D%3D--0a1b2c3d")
	return r
}

// BenchmarkInspect is the WAF's cost per request on the request path.
func BenchmarkInspect(b *testing.B) {
	p, err := New(&proxyv1.Waf{Enabled: true, Rules: allRulesOn()})
	if err != nil {
		b.Fatal(err)
	}
	json := `{"server":"551414f2","command":"say Restarting in 1 minute!","options":{"notify":true,"delay":60,"reason":"Update to 1.20.4 -- back soon"}}`
	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"benign GET", func() *http.Request {
			return browserRequest(http.MethodGet, "/search?q=where+to+buy+rtx+4070&page=2&sort=price-asc", "")
		}},
		{"benign JSON POST", func() *http.Request {
			r := browserRequest(http.MethodPost, "/api/client/servers/551414f2/command", json)
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
		{"attack", func() *http.Request {
			return browserRequest(http.MethodGet, "/search?q=1%27+UNION+SELECT+password+FROM+users--", "")
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			reqs := make([]*http.Request, b.N)
			for i := range reqs {
				reqs[i] = tc.req()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				p.Inspect(reqs[i])
			}
		})
	}
}
