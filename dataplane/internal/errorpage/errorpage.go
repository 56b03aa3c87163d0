// Package errorpage writes the pages the proxy answers with when it cannot serve a request
// itself: no route, no backend, no configuration yet. Every page names the request id so that a
// user's report leads to the log line, and none shows internal details such as backend
// addresses or error strings: those go to the access log only.
package errorpage

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
)

//go:embed page.html
var pageHTML string

// Page is what one error page says.
type Page struct {
	Status int
	// Message is shown under the status line. Empty means the default text for Status.
	// It must never carry internal error details.
	Message   string
	RequestID string
	Time      time.Time
}

// Renderer writes error pages. It is safe for concurrent use.
type Renderer struct {
	html *template.Template
}

// New parses the built-in page template.
func New() (*Renderer, error) {
	t, err := template.New("page").Parse(pageHTML)
	if err != nil {
		return nil, fmt.Errorf("parse error page template: %w", err)
	}
	return &Renderer{html: t}, nil
}

// view is the data the HTML template and the JSON body are made from.
type view struct {
	Status     int    `json:"status"`
	StatusText string `json:"error"`
	Message    string `json:"message"`
	RequestID  string `json:"request_id"`
	Time       string `json:"-"`
}

// Write answers req with the page p: JSON when the client prefers application/json (by its
// Accept header), HTML otherwise. The body is rendered before anything is written, so a
// failure never leaves half a page; the returned error is a rendering or write failure.
func (rn *Renderer) Write(w http.ResponseWriter, req *http.Request, p Page) error {
	v := view{
		Status:     p.Status,
		StatusText: StatusText(p.Status),
		Message:    p.Message,
		RequestID:  p.RequestID,
		Time:       p.Time.UTC().Format(time.RFC3339),
	}
	if v.Message == "" {
		v.Message = defaultMessage(p.Status)
	}

	var body bytes.Buffer
	contentType := "text/html; charset=utf-8"
	if PrefersJSON(req.Header.Get("Accept")) {
		contentType = "application/json"
		enc := json.NewEncoder(&body)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("render %d error page as JSON: %w", p.Status, err)
		}
	} else if err := rn.html.Execute(&body, v); err != nil {
		return fmt.Errorf("render %d error page as HTML: %w", p.Status, err)
	}

	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// The page has inline styles and nothing else: no scripts, images or fonts to load.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	h.Set("Vary", "Accept")
	if p.RequestID != "" {
		h.Set(requestid.Header, p.RequestID)
	}
	h.Del("Content-Encoding")
	w.WriteHeader(p.Status)
	if _, err := w.Write(body.Bytes()); err != nil {
		return fmt.Errorf("write %d error page: %w", p.Status, err)
	}
	return nil
}

// StatusText is http.StatusText with a name for nginx's 499 and a fallback for unknown codes.
func StatusText(status int) string {
	if status == 499 {
		return "Client Closed Request"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// defaultMessage is a short explanation for a visitor, who cannot fix the server.
func defaultMessage(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "The request could not be understood."
	case http.StatusForbidden:
		return "Access to this page is not allowed."
	case http.StatusNotFound:
		return "There is nothing at this address."
	case http.StatusRequestEntityTooLarge:
		return "The request is larger than this site accepts."
	case http.StatusRequestURITooLong:
		return "The address is longer than this site accepts."
	case http.StatusTooManyRequests:
		return "Too many requests. Please wait a moment and try again."
	case http.StatusRequestHeaderFieldsTooLarge:
		return "The request headers are larger than this site accepts."
	case http.StatusBadGateway:
		return "The service behind this site could not be reached. Please try again in a moment."
	case http.StatusServiceUnavailable:
		return "The service is temporarily unavailable. Please try again in a moment."
	case http.StatusGatewayTimeout:
		return "The service behind this site did not answer in time. Please try again in a moment."
	}
	if status >= 500 {
		return "Something went wrong on our side. Please try again in a moment."
	}
	return "The request could not be completed."
}
