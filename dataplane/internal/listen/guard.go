package listen

import (
	"net/http"
	"net/netip"
)

// Guard is the first handler of every listener: it turns away requests whose Host a reverse
// proxy must not forward. A Host (or :authority) that is empty or not a host name, IPv4 address
// or bracketed IPv6 address with an optional port gets 400 and the connection is closed.
// net/http, the h1 server and quic-go only refuse a missing Host in HTTP/1.1 and bytes that can
// never appear in one (httpguts.ValidHostHeader): they accept "Host:" with an empty value and
// characters such as "/", "@", "%", "'" or "(" that no route can match and that a backend
// building links from Host must never see.
//
// Malformed HTTP/1.x framing (Content-Length with Transfer-Encoding, differing Content-Lengths,
// obsolete line folding, ...) never reaches it: the h1 server refuses it (see package h1), on
// the plain and the TLS listener alike. Headers trickled slowly (slowloris) are cut by
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
	g.next.ServeHTTP(w, r)
}

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
