package edge

import (
	"bufio"
	"net"
	"net/http"
)

// responseWriter records the status and the body bytes of a response for its event. It keeps
// the abilities of the writer below: Flush (streaming), Hijack (protocol upgrades tunnelled by
// the backend client) and, through Unwrap, everything http.ResponseController offers.
type responseWriter struct {
	rw          http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	// hook, when set, edits the headers once, just before the final status goes out (the
	// exchange: exchange.beforeHeader).
	hook interface{ beforeHeader(http.Header) }
}

var (
	_ http.Flusher  = (*responseWriter)(nil)
	_ http.Hijacker = (*responseWriter)(nil)
)

func (w *responseWriter) Header() http.Header { return w.rw.Header() }

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.rw.WriteHeader(code) // net/http reports the superfluous call; the status stays
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.rw.WriteHeader(code) // informational (103 Early Hints): the final status follows
		return
	}
	w.status = code
	w.wroteHeader = true
	if w.hook != nil && code >= http.StatusOK {
		w.hook.beforeHeader(w.rw.Header())
	}
	w.rw.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.rw.Write(p)
	w.bytes += int64(n)
	return n, err
}

// FlushError is what http.ResponseController calls to flush.
func (w *responseWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.rw).Flush()
}

func (w *responseWriter) Flush() { _ = w.FlushError() }

// Hijack hands the connection over, which the backend client does after a backend's 101
// Switching Protocols; it writes that response itself, so the status is recorded here.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil && !w.wroteHeader {
		w.status = http.StatusSwitchingProtocols
		w.wroteHeader = true
	}
	return conn, brw, err
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.rw }
