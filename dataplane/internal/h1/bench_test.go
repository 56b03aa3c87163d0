package h1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// benchHeaders is what the benchmark handler sets: a backend's usual headers plus the security
// preset's, twelve in all, more than the map hint of a fresh header map holds without growing.
var benchHeaders = []struct{ k, v string }{
	{"Content-Type", "text/html; charset=utf-8"},
	{"Cache-Control", "no-cache"},
	{"Etag", `"abc123"`},
	{"Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT"},
	{"Vary", "Accept-Encoding"},
	{"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "SAMEORIGIN"},
	{"Referrer-Policy", "strict-origin-when-cross-origin"},
	{"Permissions-Policy", "camera=(), microphone=()"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"X-Request-Id", "01HZXY"},
}

// BenchmarkKeepAlive serves keep-alive requests over one TCP loopback connection to a handler
// that sets twelve response headers and writes 1 KiB. The client side reads responses without
// allocating, so the figures are the server's (and the handler's twelve []string values).
func BenchmarkKeepAlive(b *testing.B) { benchKeepAlive(b, nil) }

type benchKey struct{}

// BenchmarkKeepAliveRequestContext is BenchmarkKeepAlive for a handler that does what the edge
// does with its request's context on a route with a slow-request timeout and retries: a timeout
// armed and stopped (CancelAfter), and a value set on the request in place (SetRequestContext).
// The difference is the WithValue context alone.
func BenchmarkKeepAliveRequestContext(b *testing.B) {
	n := new(uint32)
	benchKeepAlive(b, func(w http.ResponseWriter, r *http.Request) {
		hw := w.(*writer)
		if !hw.CancelAfter(30*time.Second, errTestCause) || !hw.SetRequestContext(r, context.WithValue(r.Context(), benchKey{}, n)) {
			b.Error("CancelAfter or SetRequestContext refused")
		}
		if !hw.StopCancel() {
			b.Error("StopCancel found nothing armed")
		}
	})
}

// benchKeepAlive runs BenchmarkKeepAlive's handler, after before when it is not nil.
func benchKeepAlive(b *testing.B, before func(http.ResponseWriter, *http.Request)) {
	body := bytes.Repeat([]byte("x"), 1024)
	vals := make([][]string, len(benchHeaders))
	for i, h := range benchHeaders {
		vals[i] = []string{h.v}
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(w, r)
		}
		hdr := w.Header()
		for i, kv := range benchHeaders {
			hdr[kv.k] = vals[i]
		}
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() {
		_ = s.Close()
		<-done
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte("GET /some/path?q=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: bench/1.0\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, br\r\nAccept-Language: en\r\n" +
		"Cookie: session=abcdef0123456789\r\n\r\n")
	br := bufio.NewReaderSize(conn, 8<<10)
	// Warm up: the first responses grow per-connection state.
	for range 3 {
		benchRoundTrip(b, conn, br, req)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		benchRoundTrip(b, conn, br, req)
	}
}

// benchRoundTrip sends one request and reads its response, a head with a Content-Length.
func benchRoundTrip(b *testing.B, conn net.Conn, br *bufio.Reader, req []byte) {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(req); err != nil {
		b.Fatal(err)
	}
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatalf("read response head: %v", err)
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	if n < 0 {
		b.Fatal("response without Content-Length")
	}
	if _, err := br.Discard(n); err != nil {
		b.Fatalf("read response body: %v", err)
	}
}
