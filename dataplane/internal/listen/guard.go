package listen

import (
	"bufio"
	"net"
	"net/http"
	"net/netip"
)

// Guard is the first handler of every listener: it turns away requests that net/http, the
// HTTP/2 server or quic-go let through but that a reverse proxy must not forward, and keeps
// HTTP/1.1 connections from desynchronising.
//
//   - A Host (or :authority) that is empty or not a host name, IPv4 address or bracketed IPv6
//     address with an optional port gets 400 and the connection is closed. net/http alone only
//     refuses a missing Host in HTTP/1.1 and bytes that can never appear in one
//     (httpguts.ValidHostHeader): it accepts "Host:" with an empty value and characters such as
//     "/", "@", "%", "'" or "(" that no route can match and that a backend building links from
//     Host must never see.
//   - An HTTP/1.x request with a chunked body is answered with "Connection: close", so the
//     connection ends after its response. RFC 9112 §6.1 requires this of a server that
//     processes a request carrying both Transfer-Encoding and Content-Length by its
//     Transfer-Encoding; net/http does process it so (and forwards no Content-Length), but it
//     deletes the Content-Length header before any handler runs (transfer.go, fixLength), so the
//     two cases cannot be told apart here, and it would keep the connection open and serve
//     whatever follows the chunked body as the next request: the bytes that a front proxy
//     framing by Content-Length took for body (request smuggling). Closing after every chunked
//     HTTP/1.x request covers that case; browsers never send chunked request bodies, so what is
//     lost is keep-alive after rare streamed uploads.
//
// Everything else that is malformed net/http already refuses with 400 before a handler runs
// (see guard_test.go): differing Content-Length headers, an invalid Content-Length, several Host
// headers, invalid header names or values, obsolete line folding; a Transfer-Encoding other
// than a single "chunked" gets 501. Headers trickled slowly (slowloris) are cut by
// Limits.ReadHeaderTimeout.
type Guard struct {
	next   http.Handler
	reject RejectFunc
}

// RejectFunc answers a request that Guard refuses. The response must close the connection;
// Guard sets "Connection: close" before calling it. reason is for the log, never for the
// client.
type RejectFunc func(w http.ResponseWriter, r *http.Request, status int, reason string)

// NewGuard returns next behind the checks above. reject writes the refusal (the edge's error
// page and event, say); nil means a plain-text answer.
func NewGuard(next http.Handler, reject RejectFunc) *Guard {
	if reject == nil {
		reject = plainReject
	}
	return &Guard{next: next, reject: reject}
}

func plainReject(w http.ResponseWriter, _ *http.Request, status int, _ string) {
	http.Error(w, http.StatusText(status), status)
}

// Reasons given to RejectFunc.
const (
	ReasonEmptyHost   = "empty Host header"
	ReasonInvalidHost = "invalid Host header"
)

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Host == "" {
		w.Header().Set("Connection", "close")
		g.reject(w, r, http.StatusBadRequest, ReasonEmptyHost)
		return
	}
	if !validHost(r.Host) {
		w.Header().Set("Connection", "close")
		g.reject(w, r, http.StatusBadRequest, ReasonInvalidHost)
		return
	}
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
		w = &closingWriter{ResponseWriter: w}
	}
	g.next.ServeHTTP(w, r)
}

// closingWriter makes sure the final response header says "Connection: close", which makes
// net/http close the connection after the response: handlers below may replace the header map's
// contents (httputil.ReverseProxy clears it after relaying a 1xx response).
type closingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (c *closingWriter) WriteHeader(code int) {
	if !c.wrote && (code >= 200 || code == http.StatusSwitchingProtocols) {
		c.wrote = true
		c.ResponseWriter.Header().Set("Connection", "close")
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *closingWriter) Write(p []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(p)
}

func (c *closingWriter) FlushError() error {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(c.ResponseWriter).Flush()
}

func (c *closingWriter) Flush() { _ = c.FlushError() }

// Hijack hands the connection over (a protocol upgrade); it is closed when its user is done.
func (c *closingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(c.ResponseWriter).Hijack()
}

func (c *closingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// validHost reports whether hostport is a host a route can match: a DNS-style name (letters,
// digits, '-', '_', '.'; at most 253 bytes) or an IPv4 address, or an IPv6 address in brackets,
// followed by an optional ":port" of up to five digits, at most 65535.
func validHost(hostport string) bool {
	if hostport == "" {
		return false
	}
	host, port := hostport, ""
	if hostport[0] == '[' {
		end := -1
		for i := 1; i < len(hostport); i++ {
			if hostport[i] == ']' {
				end = i
				break
			}
		}
		if end < 0 {
			return false
		}
		host, port = hostport[:end+1], hostport[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
		addr, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return false
		}
	} else {
		for i := 0; i < len(hostport); i++ {
			if hostport[i] == ':' {
				host, port = hostport[:i], hostport[i:]
				break
			}
		}
		if host == "" || len(host) > 253 {
			return false
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
				return false
			}
		}
	}
	if port == "" {
		return true
	}
	port = port[1:]
	if port == "" || len(port) > 5 {
		return false
	}
	n := 0
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
		n = n*10 + int(port[i]-'0')
	}
	return n <= 65535
}
