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
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	"github.com/proxy-manager/proxy-manager/pkg/pagetemplate"
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
	// Route is the id of the route the request matched, "" for none.
	Route string
	// MaxSize is the route's request body limit in words ("10 MiB"), for 413.
	MaxSize string
	// RetryAfter is the answer's Retry-After in seconds, when it has one.
	RetryAfter string
	// RouteTemplates and GlobalTemplates are the configured pages: the route's page for
	// Status wins over the global one, which wins over the built-in page.
	RouteTemplates, GlobalTemplates *Templates
}

// Renderer writes error pages. It is safe for concurrent use.
type Renderer struct {
	html *template.Template
	log  *zap.Logger
	bufs sync.Pool // *bytes.Buffer, so that a flood of 429s does not allocate a page each
}

// New parses the built-in page template. log receives the configured pages that fail (once
// per page and snapshot); nil means no logging.
func New(log *zap.Logger) (*Renderer, error) {
	t, err := pagetemplate.Compile("built-in page", pageHTML, http.StatusNotFound)
	if err != nil {
		return nil, fmt.Errorf("parse error page template: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	rn := &Renderer{html: t, log: log}
	rn.bufs.New = func() any { return new(bytes.Buffer) }
	return rn, nil
}

// jsonBody is the answer to clients that prefer JSON.
type jsonBody struct {
	Status    int    `json:"status"`
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// Write answers req with the page p: JSON when the client prefers application/json (by its
// Accept header), HTML otherwise: the route's configured page for the status, else the
// global one, else the built-in page. A configured page that fails to render is replaced by
// the built-in page (and logged once), never by a blank answer. The body is rendered before
// anything is written, so a failure never leaves half a page; the returned error is a
// rendering or write failure.
func (rn *Renderer) Write(w http.ResponseWriter, req *http.Request, p Page) error {
	d := pagetemplate.Data{
		StatusCode: p.Status,
		StatusText: StatusText(p.Status),
		Message:    p.Message,
		Route:      p.Route,
		RequestID:  p.RequestID,
		Timestamp:  p.Time.UTC().Format(time.RFC3339),
		MaxSize:    p.MaxSize,
		RetryAfter: p.RetryAfter,
	}
	if d.Message == "" {
		d.Message = defaultMessage(p.Status)
	}

	body := rn.bufs.Get().(*bytes.Buffer)
	defer rn.putBuffer(body)
	contentType := "text/html; charset=utf-8"
	if PrefersJSON(req.Header.Get("Accept")) {
		contentType = "application/json"
		enc := json.NewEncoder(body)
		if err := enc.Encode(jsonBody{Status: d.StatusCode, Error: d.StatusText, Message: d.Message, RequestID: d.RequestID}); err != nil {
			return fmt.Errorf("render %d error page as JSON: %w", p.Status, err)
		}
	} else if err := rn.renderHTML(body, &p, &d); err != nil {
		return err
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

// renderHTML renders the configured page for the status, or the built-in one.
func (rn *Renderer) renderHTML(body *bytes.Buffer, p *Page, d *pagetemplate.Data) error {
	for _, ts := range [...]*Templates{p.RouteTemplates, p.GlobalTemplates} {
		e := ts.find(p.Status)
		if e == nil {
			continue
		}
		err := pagetemplate.Execute(e.t, body, d)
		if err == nil {
			return nil
		}
		body.Reset()
		if !e.logged.Swap(true) {
			rn.log.Error("error page failed; the built-in page is served instead (logged once per page and snapshot)",
				zap.String("scope", ts.scope), zap.Int("status", p.Status), zap.String("request_id", p.RequestID), zap.Error(err))
		}
		break
	}
	if err := pagetemplate.Execute(rn.html, body, d); err != nil {
		return fmt.Errorf("render %d error page as HTML: %w", p.Status, err)
	}
	return nil
}

// maxPooled keeps a rare huge page from pinning its buffer in the pool.
const maxPooled = 64 << 10

func (rn *Renderer) putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooled {
		return
	}
	b.Reset()
	rn.bufs.Put(b)
}

// StatusText is http.StatusText with a name for nginx's 499 and a fallback for unknown codes.
func StatusText(status int) string { return pagetemplate.StatusText(status) }

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
