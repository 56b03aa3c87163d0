package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkServe compares the default path (NewBackend: no read or write timeout, no limit)
// with every per-route setting on (timeouts, response limit, pool sizes, a pass-through Wrap),
// for a 1 KiB response from a loopback backend.
func BenchmarkServe(b *testing.B) {
	kib := strings.Repeat("x", 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, kib)
	}))
	b.Cleanup(backend.Close)
	all := Settings{ConnectTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleConnTimeout: 120 * time.Second, MaxIdleConns: 256, MaxIdleConnsPerHost: 128, MaxConnsPerHost: 256,
		MaxResponseBody: 10 << 20,
		Wrap: func(rt http.RoundTripper) http.RoundTripper {
			return rtFunc(func(r *http.Request) (*http.Response, error) { return rt.RoundTrip(r) })
		}}
	for _, bc := range []struct {
		name string
		new  func(p *Pools) (*Backend, error)
	}{
		{"default", func(p *Pools) (*Backend, error) { return p.NewBackend(backend.URL) }},
		{"all-settings", func(p *Pools) (*Backend, error) { return p.NewBackendWith(backend.URL, all) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pools := NewPools(Options{})
			b.Cleanup(pools.Close)
			be, err := bc.new(pools)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					if err := be.Serve(rec, httptest.NewRequest(http.MethodGet, "http://example.org/", nil)); err != nil || rec.Body.Len() != len(kib) {
						b.Fatalf("Serve: %v, %d bytes", err, rec.Body.Len())
					}
				}
			})
		})
	}
}
