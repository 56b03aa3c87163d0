package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	upgrade := r.Header.Get("Upgrade")
	res, err := b.pool.transport.exchange(b.outgoing(r), upgrade)
	if err != nil {
		return nil, b.count(classify(r, err))
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		conn := res.Body.(io.ReadWriteCloser)
		if !strings.EqualFold(res.Header.Get("Upgrade"), upgrade) {
			conn.Close()
			return nil, &Error{Status: http.StatusBadGateway,
				Err: fmt.Errorf("%w: %q, not %q", errNotSwitched, res.Header.Get("Upgrade"), upgrade)}
		}
		return &Upgraded{Response: res, Conn: conn}, nil
	}
	if err := b.relay(w, r, res); err != nil {
		return nil, b.count(err)
	}
	return nil, nil
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

// upgradeProtocol returns the protocol an HTTP/1.1 request asks to switch to (Connection:
// upgrade and Upgrade: name), or "".
func upgradeProtocol(r *http.Request) string {
	if r.ProtoMajor != 1 || !listed(r.Header["Connection"], "upgrade") {
		return ""
	}
	return r.Header.Get("Upgrade")
}

// tunnel forwards a protocol upgrade other than the WebSocket (which the edge relays frame by
// frame under its policy): when the backend switches, the client connection is hijacked, gets
// the 101 and is joined to the backend's byte for byte until either side closes.
func (b *Backend) tunnel(w http.ResponseWriter, r *http.Request) error {
	up, err := b.Upgrade(w, r)
	if err != nil || up == nil {
		return err
	}
	defer up.Conn.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return &Error{Status: http.StatusBadGateway, Err: fmt.Errorf("hijack the client for %s: %w", upgradeProtocol(r), err)}
	}
	defer conn.Close()
	if err := up.WriteSwitch(brw.Writer, w.Header()); err != nil {
		return &Error{Status: http.StatusBadGateway, Cut: true, Err: err}
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up.Conn, brw.Reader) // what the client sent, buffered first
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(conn, up.Conn)
		done <- struct{}{}
	}()
	<-done // one side closed: close both, which ends the other copy
	return nil
}
