package headers

import (
	"net/http"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// FuzzNew feeds arbitrary names and values to New: it must not panic, and whatever it accepts
// must be a header net/http can send.
func FuzzNew(f *testing.F) {
	for _, s := range [][2]string{{"X-Real-IP", "${client_ip}"}, {"X-A", "${"}, {"Bad Name", "v"}, {"X-B", "a\r\nb"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		p, err := New(&proxyv1.Headers{Response: &proxyv1.HeaderOps{Add: map[string]string{name: value}}})
		if err != nil || p == nil {
			return
		}
		h := http.Header{}
		p.ApplyResponse(h, Vars{ClientIP: "1.2.3.4", RequestID: "r", Host: "h", Scheme: "https"})
		for k, vs := range h {
			for _, v := range vs {
				for i := 0; i < len(v); i++ {
					if v[i] == '\r' || v[i] == '\n' {
						t.Fatalf("%s: %q holds CR/LF", k, v)
					}
				}
			}
		}
	})
}
