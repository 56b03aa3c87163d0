package proxy

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/clientip"
)

// writeRequest buffers the request line and header of req for the backend, as a reverse proxy
// sends them (RFC 9110 section 7.6):
//
//   - the request target is req.URL's path and query (the Backend has applied its own path);
//   - Host is the one the client asked for, as Caddy and Traefik do: applications behind the
//     proxy build their links and check their domain from it;
//   - hop-by-hop headers (Connection and what it names, Keep-Alive, Proxy-*, TE except
//     "trailers", Trailer, Transfer-Encoding, Upgrade) and Expect stay on the client's side;
//   - the client's Forwarded, X-Forwarded-* and X-Real-IP are dropped and ours written, so a
//     client cannot pose as another address: X-Real-IP is the client and X-Forwarded-For the
//     client followed by the trusted proxies it came through (see WithClient); without
//     WithClient both are the peer's address. No Forwarded header is sent: the backends
//     behind this proxy read X-Forwarded-For and X-Real-IP;
//   - the body's framing is ours: Content-Length when known, chunked otherwise.
//
// Header values were checked by the server that parsed them; a CR or LF that a header policy
// could have put in is written as a space, as net/http does, so no header can be smuggled.
// Nothing is sorted or copied: headers go out in map order, straight from the request.
func writeRequest(bw *bufio.Writer, req *http.Request, upgrade string) {
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	writeTarget(bw, req)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	writeValue(bw, host)
	bw.WriteString("\r\n")

	connection := req.Header["Connection"]
	for k, vv := range req.Header {
		if skipRequestHeader(k) || (len(connection) > 0 && listed(connection, k)) {
			if k == "Te" && listed(vv, "trailers") {
				bw.WriteString("Te: trailers\r\n")
			}
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeValue(bw, v)
			bw.WriteString("\r\n")
		}
	}

	forwardedFor, realIP := forwarding(req)
	if forwardedFor != "" {
		bw.WriteString("X-Forwarded-For: ")
		writeValue(bw, forwardedFor)
		bw.WriteString("\r\nX-Real-IP: ")
		writeValue(bw, realIP)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	writeValue(bw, req.Host)
	if req.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}

	if upgrade != "" {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		writeValue(bw, upgrade)
		bw.WriteString("\r\n")
	}
	switch {
	case req.ContentLength > 0 && hasBody(req):
		var num [20]byte
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(num[:0], req.ContentLength, 10))
		bw.WriteString("\r\n")
	case hasBody(req):
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		// As net/http does: some servers want a length on these even when it is 0.
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

// writeTarget writes the origin-form request target: escaped path and query.
func writeTarget(bw *bufio.Writer, req *http.Request) {
	u := req.URL
	if u.Opaque != "" {
		bw.WriteString(u.RequestURI())
		return
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	writeValue(bw, path)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		writeValue(bw, u.RawQuery)
	}
}

// writeValue writes s with CR and LF as spaces.
func writeValue(bw *bufio.Writer, s string) {
	if strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, '\n') < 0 {
		bw.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		bw.WriteByte(c)
	}
}

// skipRequestHeader tells the headers writeRequest never copies from the client's request.
// Keys are canonical (net/http and the HTTP/2 and HTTP/3 servers canonicalize them).
func skipRequestHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect", "Content-Length", "Host",
		"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip":
		return true
	}
	return false
}

// listed tells whether the comma-separated lists in vals name token (case-insensitive).
func listed(vals []string, token string) bool {
	for _, v := range vals {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(item), token) {
				return true
			}
		}
	}
	return false
}

// clientKey is the context key of WithClient.
type clientKey struct{}

// WithClient returns ctx carrying the client of a request that came through trusted proxies,
// as the edge resolved it (clientip.Resolver): the backend gets X-Real-IP c.IP and
// X-Forwarded-For c.ForwardedFor. Like nginx's realip with $proxy_add_x_forwarded_for, or
// Caddy's trusted_proxies, the chain goes on to the backend with the peer appended; unlike
// them, the entries left of the client, which no trusted proxy vouches for, are not passed on.
// A request without it (the peer is the client) is sent with its peer's address in both.
func WithClient(ctx context.Context, c *clientip.Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// forwarding returns the X-Forwarded-For and X-Real-IP values for req; "" when its peer's
// address is unknown.
func forwarding(req *http.Request) (forwardedFor, realIP string) {
	if c, ok := req.Context().Value(clientKey{}).(*clientip.Client); ok && c.ForwardedFor != "" {
		return c.ForwardedFor, c.IP
	}
	ip := clientip.Peer(req.RemoteAddr).IP
	return ip, ip
}

// removeHopByHop removes from a response header the hop-by-hop headers and those its
// Connection header names, without allocating.
func removeHopByHop(h http.Header) {
	if conn := h["Connection"]; len(conn) > 0 {
		for k := range h {
			if listed(conn, k) {
				delete(h, k)
			}
		}
	}
	for _, k := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
}
