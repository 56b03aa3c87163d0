package adminhttp

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/proxy-manager/proxy-manager/controlplane/internal/aicontext"
)

// AIContext builds the AI context report; aicontext.Sources is one.
type AIContext interface {
	Report(ctx context.Context) (*aicontext.Report, error)
}

// handleAIContext registers GET /api/ai-context: the report as Markdown (format=markdown, the
// default) or JSON (format=json), within max_bytes (32 KiB by default, 256 KiB at most).
func handleAIContext(mux *http.ServeMux, src AIContext) {
	if src == nil {
		return
	}
	mux.HandleFunc("GET /api/ai-context", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		format := q.Get("format")
		switch format {
		case "", "md", aicontext.Markdown:
			format = aicontext.Markdown
		case aicontext.JSON:
		default:
			fail(w, &paramError{"format", fmt.Sprintf("%q is not markdown or json", format)})
			return
		}
		maxBytes := aicontext.DefaultMaxBytes
		if s := q.Get("max_bytes"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < aicontext.MinMaxBytes || n > aicontext.MaxMaxBytes {
				fail(w, &paramError{"max_bytes", fmt.Sprintf("%q is not a number from %d to %d", s,
					aicontext.MinMaxBytes, aicontext.MaxMaxBytes)})
				return
			}
			maxBytes = n
		}
		rep, err := src.Report(r.Context())
		if err != nil {
			fail(w, err)
			return
		}
		body, err := aicontext.Render(rep, format, maxBytes)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		if format == aicontext.JSON {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		}
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body) // the client went away; nothing to do
	})
}
