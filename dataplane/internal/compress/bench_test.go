package compress

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// discardWriter is a ResponseWriter that keeps nothing, so that only compression is measured.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkAlgorithms measures each algorithm's throughput (MB/s of uncompressed input) and
// ratio on a 64 KiB HTML page and JSON document, written in 32 KiB chunks as ReverseProxy
// copies. The README's table of defaults comes from this.
func BenchmarkAlgorithms(b *testing.B) {
	bodies := []struct {
		name string
		ct   string
		b    []byte
	}{{"html", "text/html", body(64 << 10)}, {"json", "application/json", jsonBody(64 << 10)}}
	levels := map[string][]int32{
		"br":   {1, 3, 4, 5, 6, 7},
		"zstd": {1, 3, 6, 10},
		"gzip": {1, 5, 6, 9},
	}
	for _, alg := range []string{"br", "zstd", "gzip"} {
		for _, level := range levels[alg] {
			for _, src := range bodies {
				b.Run(fmt.Sprintf("%s/level=%d/%s", alg, level, src.name), func(b *testing.B) {
					p := &Policy{minSize: 0, types: []string{src.ct}}
					lvl := int(level)
					// Bypass the cap to measure above it.
					pool, err := poolFor(alg, lvl)
					if err != nil {
						b.Fatal(err)
					}
					p.algs = []algorithm{{name: alg, level: lvl, pool: pool}}
					req := httptest.NewRequest("GET", "/", nil)
					req.Header.Set("Accept-Encoding", alg)
					dw := &discardWriter{h: http.Header{}}
					var out int64
					b.SetBytes(int64(len(src.b)))
					b.ReportAllocs()
					for b.Loop() {
						clear(dw.h)
						dw.h["Content-Type"] = []string{src.ct}
						w, finish := p.Wrap(dw, req)
						for c := src.b; len(c) > 0; {
							n := min(len(c), 32<<10)
							_, _ = w.Write(c[:n])
							c = c[n:]
						}
						out = finish().BytesOut
					}
					b.ReportMetric(float64(out)/float64(len(src.b))*100, "%size")
				})
			}
		}
	}
}

// BenchmarkPassThrough is the cost the policy adds to a response it does not compress.
func BenchmarkPassThrough(b *testing.B) {
	p := mustNew(b, &proxyv1.Compression{Enabled: true, MinSize: 1024})
	chunk := body(1024)
	for _, bc := range []struct {
		name   string
		accept string
		ct     string
	}{
		{"no-accept-encoding", "", "text/html"},
		{"not-compressible-type", "gzip, deflate, br, zstd", "image/png"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/", nil)
			if bc.accept != "" {
				req.Header.Set("Accept-Encoding", bc.accept)
			}
			dw := &discardWriter{h: http.Header{}}
			ct := []string{bc.ct}
			b.ReportAllocs()
			for b.Loop() {
				dw.h["Content-Type"] = ct
				w, finish := p.Wrap(dw, req)
				w.WriteHeader(200)
				_, _ = w.Write(chunk)
				finish()
			}
		})
	}
	b.Run("baseline-no-policy", func(b *testing.B) {
		dw := &discardWriter{h: http.Header{}}
		var w http.ResponseWriter = dw
		b.ReportAllocs()
		for b.Loop() {
			w.WriteHeader(200)
			_, _ = io.Writer(w).Write(chunk)
		}
	})
}
