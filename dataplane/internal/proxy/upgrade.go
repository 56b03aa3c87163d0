package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
)

// Upgraded is a backend connection that switched protocols (a WebSocket after its handshake).
type Upgraded struct {
	// Response is the backend's 101 Switching Protocols; its Body is Conn.
	Response *http.Response
	// Conn is the connection to the backend. Reads start with whatever the backend sent after
	// its 101 response. Close it when done.
	Conn io.ReadWriteCloser
}

// errNotSwitched is a 101 answer for another protocol than the one asked for.
var errNotSwitched = errors.New("backend switched to another protocol than the one requested")

// Upgrade forwards a WebSocket handshake (a GET with Connection: upgrade and Upgrade:
// websocket) to the backend on the Backend's transport (its dial timeout, its TLS settings for
// an https:// backend), with the same rewriting and proxy headers as Serve: X-Forwarded-*,
// X-Real-IP, and the request's X-Request-ID.
//
// When the backend switches protocols, Upgrade returns its connection and has written nothing
// to w: the caller hijacks the client, writes the 101 (WriteSwitch) and relays. Any other answer
// (the backend refused the upgrade) is relayed to w as a normal response and Upgrade returns
// nil, nil. An *Error means the backend gave no answer to relay and nothing was written to w.
func (b *Backend) Upgrade(w http.ResponseWriter, r *http.Request) (*Upgraded, error) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.Close = false
	if r.ContentLength == 0 {
		out.Body = nil // a GET handshake has no body; a nil body sends none
	}
	upgrade := out.Header.Get("Upgrade")
	removeHopByHop(out.Header)
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", upgrade)
	// As ReverseProxy does before Rewrite: the client's forwarding headers are not trusted.
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		out.Header.Del(h)
	}
	b.rewrite(&httputil.ProxyRequest{In: r, Out: out})

	res, err := b.pool.transport.RoundTrip(out)
	if err != nil {
		return nil, classify(r, err)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		conn, ok := res.Body.(io.ReadWriteCloser)
		switch {
		case !ok:
			res.Body.Close()
			return nil, &Error{Status: http.StatusBadGateway, Err: errors.New("backend's 101 response has no connection")}
		case !strings.EqualFold(res.Header.Get("Upgrade"), upgrade):
			conn.Close()
			return nil, &Error{Status: http.StatusBadGateway,
				Err: fmt.Errorf("%w: %q, not %q", errNotSwitched, res.Header.Get("Upgrade"), upgrade)}
		}
		return &Upgraded{Response: res, Conn: conn}, nil
	}
	return nil, b.relayResponse(w, res)
}

// relayResponse sends a backend's non-upgrade answer to the client. An error after the header
// went out is the body breaking off.
func (b *Backend) relayResponse(w http.ResponseWriter, res *http.Response) error {
	defer res.Body.Close()
	removeHopByHop(res.Header)
	_ = dropEdgeHeaders(res)
	h := w.Header()
	for k, v := range res.Header {
		h[k] = v
	}
	w.WriteHeader(res.StatusCode)
	buf := b.pools.bufs.Get()
	defer b.pools.bufs.Put(buf)
	if _, err := io.CopyBuffer(w, res.Body, buf); err != nil {
		return &Error{Status: http.StatusBadGateway, Err: fmt.Errorf("relay backend response: %w", err)}
	}
	return nil
}

// WriteSwitch writes the 101 Switching Protocols to a hijacked client: the backend's headers
// (Sec-WebSocket-Accept, -Protocol, -Extensions, cookies, ...) without its X-Request-ID, plus
// header (the edge's, with the request id), and flushes it.
func (u *Upgraded) WriteSwitch(w *bufio.Writer, header http.Header) error {
	h := header.Clone()
	upgrade := u.Response.Header.Get("Upgrade")
	for k, v := range u.Response.Header {
		if k == requestid.Header {
			continue
		}
		h[k] = v
	}
	removeHopByHop(h)
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", upgrade)
	res := &http.Response{
		StatusCode: http.StatusSwitchingProtocols,
		ProtoMajor: 1, ProtoMinor: 1,
		Header: h,
	}
	if err := res.Write(w); err != nil {
		return fmt.Errorf("write 101 to the client: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write 101 to the client: %w", err)
	}
	return nil
}

// hopByHop are the headers of one connection, never forwarded (RFC 9110 section 7.6.1).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopByHop removes the hop-by-hop headers and those the Connection header names.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}
