package adminhttp

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"mime"
	"net"
	"net/http"
	"strings"
)

// CSRFHeader carries the dashboard's CSRF token on mutating requests; GET /api/csrf hands it out.
const CSRFHeader = "X-CSRF-Token"

// guard is the admin surface's protection against other web pages in the admin's browser:
//
//   - DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1 reaches this listener
//     with Host evil.example; only loopback names (localhost, 127.0.0.1, [::1], any port, since an
//     SSH tunnel may forward another local port) and the empty Host of a Unix-socket client pass.
//   - Cross-site requests: an Origin that is not the request's own (scheme http, same host and
//     port) is refused, and a mutating request (POST, PUT, PATCH, DELETE) whose Sec-Fetch-Site is
//     not same-origin is refused: another local service (localhost:3000) is another origin.
//   - Forms: a mutating request with a body must say it is JSON, which a cross-site form cannot
//     send without a CORS preflight this server never grants.
//   - A mutating request a browser sent (it carries Origin or Sec-Fetch-Site) must carry the
//     CSRF token in X-CSRF-Token, which only a page of this origin can read from GET /api/csrf.
//     Scripts through the tunnel (curl with a JSON body, no Origin) need no token.
//   - Framing and sniffing: no page may frame the dashboard (clickjacking its buttons), and the
//     page may load and call nothing but its own origin (Content-Security-Policy).
type guard struct {
	next  http.Handler
	token string
}

// newGuard wraps next with a fresh random CSRF token: one per process, so a restart invalidates
// the tokens handed out before it (the dashboard fetches a new one on a 403).
func newGuard(next http.Handler) *guard {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return &guard{next: next, token: hex.EncodeToString(b[:])}
}

// contentPolicy lets the dashboard load its own files and call its own API, nothing else.
const contentPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Host != "" && !loopbackHost(r.Host) {
		writeJSON(w, http.StatusMisdirectedRequest, map[string]string{"error": "the admin surface answers only to localhost; reach it through an SSH tunnel"})
		return
	}
	origin := r.Header.Get("Origin")
	if origin != "" && !strings.EqualFold(origin, "http://"+r.Host) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused: Origin " + origin + " is not http://" + r.Host})
		return
	}
	site := r.Header.Get("Sec-Fetch-Site")
	if r.URL.Path == "/api/csrf" && r.Method == http.MethodGet {
		// A page of another origin cannot read this answer (no CORS, nosniff), and a rebinding
		// page never gets here (its Host is refused above).
		if site != "" && site != "same-origin" && site != "none" {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused (Sec-Fetch-Site: " + site + ")"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": g.token, "header": CSRFHeader})
		return
	}
	if !mutating(r.Method) {
		g.next.ServeHTTP(w, r)
		return
	}
	if site != "" && site != "same-origin" && site != "none" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-site request refused (Sec-Fetch-Site: " + site + ")"})
		return
	}
	if hasBody(r) && !isJSON(r.Header.Get("Content-Type")) {
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{"error": "send the body as JSON (Content-Type: application/json)"})
		return
	}
	if origin != "" || site != "" {
		got := r.Header.Get(CSRFHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(g.token)) != 1 {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "missing or stale CSRF token: GET /api/csrf and send it in " + CSRFHeader})
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

func mutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// hasBody reports whether the request carries a body: a length above zero, or chunked (-1).
func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// loopbackHost reports whether a Host header names this machine's loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
