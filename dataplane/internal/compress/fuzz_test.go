package compress

import (
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// FuzzNegotiate feeds arbitrary Accept-Encoding values to the negotiation: it must not panic
// and must pick only a configured algorithm.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{"gzip, deflate, br, zstd", "*;q=0", "br;q=0.5, gzip;q=1.0", ";;,,q=", "identity;q=0"} {
		f.Add(s)
	}
	p, err := New(&proxyv1.Compression{Enabled: true, Algorithms: []string{"br", "gzip"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if a := p.negotiate([]string{s}); a != nil && a.name != Brotli && a.name != Gzip {
			t.Fatalf("negotiate(%q) = %q", s, a.name)
		}
	})
}
