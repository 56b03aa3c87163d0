// Command demo-backend is the small backend `make run` puts behind the data plane: it answers every
// request with a page that says which backend answered and what the proxy told it, so a reload that
// switches backends is visible in the browser.
//
//	GET /slow?ms=3000   answers after a delay (to watch graceful shutdown)
//	GET /health         200 "ok"
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Name}}</title>
<style>body{font-family:system-ui,sans-serif;margin:3rem;background:{{.Color}}10}h1{color:{{.Color}}}td{padding:.2rem .8rem;font-family:monospace}</style>
</head><body><h1>Hello from backend “{{.Name}}”</h1>
<p>{{.Method}} {{.Path}} at {{.Time}}</p>
<table>{{range .Headers}}<tr><td>{{.K}}</td><td>{{.V}}</td></tr>{{end}}</table>
</body></html>`))

type kv struct{ K, V string }

func main() {
	addr := flag.String("addr", "127.0.0.1:8001", "listen address")
	name := flag.String("name", "blue", "name shown on every page")
	color := flag.String("color", "#1f6feb", "page color")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		select {
		case <-time.After(time.Duration(min(max(ms, 0), 60_000)) * time.Millisecond):
			fmt.Fprintf(w, "%s answered after %d ms\n", *name, ms)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var hs []kv
		for _, k := range []string{"Host", "X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "User-Agent"} {
			v := r.Header.Get(k)
			if k == "Host" {
				v = r.Host
			}
			hs = append(hs, kv{k, v})
		}
		w.Header().Set("X-Backend", *name)
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			m := map[string]string{"backend": *name, "method": r.Method, "path": r.URL.Path}
			for _, h := range hs {
				m[h.K] = h.V
			}
			_ = json.NewEncoder(w).Encode(m) // client gone: nothing to do
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, map[string]any{"Name": *name, "Color": *color, "Method": r.Method, "Path": r.URL.Path, "Time": time.Now().Format(time.RFC3339), "Headers": hs})
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("demo backend %q listening on %s", *name, *addr)
	log.Fatal(srv.ListenAndServe())
}
