package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
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

// cannedBackend is a loopback HTTP/1.1 backend that answers every request on a connection with
// resp, written from a fixed buffer: it allocates next to nothing per request, so the
// benchmarks count the proxy's allocations, not a backend's.
func cannedBackend(b *testing.B, resp string) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	canned := []byte(resp)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// A request without a body: its head ends with an empty line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(canned); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// discardWriter is a ResponseWriter (and Flusher, as the edge's are) that keeps nothing but
// the header map, reused across iterations (cleared), so the benchmark measures the round trip
// and the relay.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) Flush()                      {}

// BenchmarkRoundTripRelay is one request at a time through Forward (round trip on a pooled
// connection, then the relay) for a 1 KiB response of a loopback backend with a typical
// header, framed by Content-Length or chunked (with a trailer).
func BenchmarkRoundTripRelay(b *testing.B) {
	kib := strings.Repeat("x", 1024)
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nDate: Sun, 22 Nov 2026 13:00:00 GMT\r\n" +
		"Cache-Control: no-cache\r\nEtag: \"abc\"\r\nVary: Accept-Encoding\r\nserver: app\r\n" +
		"x-powered-by: Express\r\n"
	for _, bc := range []struct{ name, resp string }{
		{"content-length", head + "Content-Length: 1024\r\n\r\n" + kib},
		{"chunked", head + "Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n400\r\n" + kib + "\r\n0\r\nX-Checksum: 1\r\n\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pools := NewPools(Options{})
			b.Cleanup(pools.Close)
			be, err := pools.NewBackend(cannedBackend(b, bc.resp))
			if err != nil {
				b.Fatal(err)
			}
			// A cancelable context, as the edge's requests have: the exchange registers its
			// interrupt on it.
			ctx, cancel := context.WithCancel(context.Background())
			b.Cleanup(cancel)
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://example.org/", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.n = 0
				if err := be.Forward(w, req); err != nil || w.n != len(kib) {
					b.Fatalf("Forward: %v, %d bytes", err, w.n)
				}
			}
		})
	}
}
