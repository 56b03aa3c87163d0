// Command origin is the backend used by scripts/bench/run.sh: a minimal keep-alive HTTP/1.1 server.
//
//	GET /small -> 1 KiB body, GET /large -> 64 KiB body, anything else -> 404.
//
// It is its own module (not in go.work) so that it builds with GOWORK=off and no dependencies.
package main

import (
	"bytes"
	"flag"
	"log"
	"net/http"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:28100", "listen address (keep it on loopback)")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /small", fixed(1024))
	mux.HandleFunc("GET /large", fixed(64*1024))

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second, // keep-alive is on by default; long idle keeps proxy pools warm
	}
	log.Printf("bench origin listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}

// fixed returns a handler that writes n bytes with an explicit Content-Length (no chunking).
func fixed(n int) http.HandlerFunc {
	body := bytes.Repeat([]byte("x"), n)
	cl := []string{strconv.Itoa(n)}
	ct := []string{"application/octet-stream"}
	return func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = ct
		h["Content-Length"] = cl
		_, _ = w.Write(body)
	}
}
