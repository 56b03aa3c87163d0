package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// response is the state of the response to one request. A connection has one, reused for each
// of its requests (see reset); handlers reach it through a writer.
type response struct {
	c      *conn
	req    *http.Request
	body   *body // nil without a request body
	header http.Header

	status      int  // final status, 0 before WriteHeader
	committed   bool // the head is in the write buffer
	chunked     bool
	closeAfter  bool  // "Connection: close" was sent or will be: no next request
	declaredLen int64 // Content-Length of the head, -1 unknown
	written     int64 // body bytes accepted from the handler
	pending     []byte
	hijacked    bool
	handlerDone bool
}

// pendingMax is the body a handler may write before the head must go out; it then has a
// Content-Length if the handler is done, else it is chunked.
const pendingMax = 2048

// maxKeptHeader is the largest header map a connection keeps for its next response: clearing a
// map costs in proportion to the size it once grew to.
const maxKeptHeader = 64

// reset readies the connection's response for a request. The header map and the pending buffer
// keep their storage, so that a map grown to a backend's headers plus the security preset's
// does not grow again on every request. Reuse is safe because nothing of a previous request
// survives it: the map is emptied (here and in release), pending holds nothing (commit copies
// it into the write buffer), every other field is set anew, and what the server writes itself
// (Content-Length, framing, trailers, the "Trailer" announcement) it reads from this map at
// write time, never keeps. A connection is never reused after a hijack or a panic: serve ends.
func (w *response) reset(c *conn, req *http.Request, b *body) {
	h := w.header
	if h == nil {
		h = make(http.Header, 16)
	} else {
		clear(h)
	}
	*w = response{c: c, req: req, body: b, header: h, declaredLen: -1, pending: w.pending[:0]}
}

// release ends a request's use of the response: its writer goes stale, and the map lets go of
// the request's names and values (an idle connection keeps none of them alive).
func (w *response) release() {
	w.c.gen.Add(1)
	if len(w.header) > maxKeptHeader {
		w.header = nil
	} else {
		clear(w.header)
	}
	w.req, w.body = nil, nil
	w.pending = w.pending[:0]
}

// writer is the http.ResponseWriter a handler gets: a response for one request, identified by
// the connection's generation at the time. The http.ResponseWriter contract forbids using it
// after ServeHTTP returned; a writer kept anyway finds the generation moved on and is refused
// (Header gives a map of its own), so it cannot write into a later request's response or onto
// the connection between requests. (A handler that keeps the header map itself is not caught:
// the map is emptied when its request ends and when the next begins.)
//
// A writer reads nothing but its own fields and the atomic generation before it knows it is
// live, so even a stale one used concurrently with a later request does not race with it.
type writer struct {
	c   *conn // its response is c.resp
	gen uint64
}

// errStaleWriter is what a writer used after its handler returned gets.
var errStaleWriter = errors.New("h1: ResponseWriter used after its handler returned")

// writer returns a writer for the connection's response to the request in progress.
func (c *conn) writer() *writer { return &writer{c: c, gen: c.gen.Load()} }

// live returns the response, or nil once the writer's request is over.
func (h *writer) live() *response {
	if h.c.gen.Load() != h.gen {
		return nil
	}
	return &h.c.resp
}

var _ interface {
	http.ResponseWriter
	http.Flusher
	http.Hijacker
	io.StringWriter
	FlushError() error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
	EnableFullDuplex() error
	CancelAfter(time.Duration, error) bool // context.go
	StopCancel() bool
	SetRequestContext(*http.Request, context.Context) bool
} = (*writer)(nil)

func (h *writer) Header() http.Header {
	if w := h.live(); w != nil {
		return w.header
	}
	return http.Header{}
}

func (h *writer) WriteHeader(code int) {
	if w := h.live(); w != nil {
		w.WriteHeader(code)
		return
	}
	h.c.srv.logf("h1: WriteHeader(%d) after the handler returned", code)
}

func (h *writer) Write(p []byte) (int, error) {
	if w := h.live(); w != nil {
		return w.Write(p)
	}
	return 0, errStaleWriter
}

func (h *writer) WriteString(s string) (int, error) {
	if w := h.live(); w != nil {
		return w.WriteString(s)
	}
	return 0, errStaleWriter
}

func (h *writer) FlushError() error {
	if w := h.live(); w != nil {
		return w.FlushError()
	}
	return errStaleWriter
}

func (h *writer) Flush() { _ = h.FlushError() }

func (h *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w := h.live(); w != nil {
		return w.Hijack()
	}
	return nil, nil, errStaleWriter
}

// SetReadDeadline and SetWriteDeadline are what http.ResponseController calls.
func (h *writer) SetReadDeadline(t time.Time) error {
	if w := h.live(); w != nil {
		return w.c.rwc.SetReadDeadline(t)
	}
	return errStaleWriter
}

func (h *writer) SetWriteDeadline(t time.Time) error {
	if w := h.live(); w != nil {
		return w.c.rwc.SetWriteDeadline(t)
	}
	return errStaleWriter
}

// EnableFullDuplex is what http.ResponseController calls; this server always lets a handler
// read the request body while writing the response.
func (h *writer) EnableFullDuplex() error {
	if h.live() == nil {
		return errStaleWriter
	}
	return nil
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked {
		w.c.srv.logf("h1: WriteHeader(%d) on a hijacked connection", code)
		return
	}
	if w.status != 0 {
		return // superfluous, like net/http minus the log line
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.status = code
}

// writeInformational sends a 1xx (103 Early Hints, ...) at once, with the header as it is.
func (w *response) writeInformational(code int) {
	if w.req.ProtoMinor == 0 {
		return // HTTP/1.0 clients do not expect interim responses (RFC 9110 §15.2)
	}
	bw := w.c.bw
	writeStatusLine(bw, code)
	w.writeFields(bw, false)
	_, _ = bw.WriteString("\r\n")
	_ = bw.Flush()
}

func (w *response) Write(p []byte) (int, error) {
	return w.write(len(p), p, "")
}

func (w *response) WriteString(s string) (int, error) {
	return w.write(len(s), nil, s)
}

func (w *response) write(n int, p []byte, s string) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if n == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if !w.committed {
		if cl := w.header.Get("Content-Length"); cl == "" && len(w.pending)+n <= pendingMax {
			if p != nil {
				w.pending = append(w.pending, p...)
			} else {
				w.pending = append(w.pending, s...)
			}
			w.written += int64(n)
			return n, nil
		}
		w.commit()
	}
	if w.declaredLen >= 0 && w.written+int64(n) > w.declaredLen {
		return 0, http.ErrContentLength
	}
	w.written += int64(n)
	if w.req.Method == http.MethodHead {
		return n, nil
	}
	var err error
	bw := w.c.bw
	if w.chunked {
		writeChunkHeader(bw, n)
	}
	if p != nil {
		_, err = bw.Write(p)
	} else {
		_, err = bw.WriteString(s)
	}
	if w.chunked {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		return 0, fmt.Errorf("write response: %w", err)
	}
	return n, nil
}

// commit writes the head, and the pending body bytes, to the write buffer.
func (w *response) commit() {
	if w.committed {
		return
	}
	w.committed = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	h := w.header
	bw := w.c.bw
	w.declaredLen = -1

	// Framing: a Content-Length of the handler, or of the whole body when the handler is done,
	// or chunked (HTTP/1.1) or until close (HTTP/1.0).
	delete(h, "Transfer-Encoding")
	hasBody := bodyAllowed(w.status)
	if cl := h["Content-Length"]; len(cl) > 0 {
		n, ok := parseContentLength(strings.TrimSpace(cl[0]))
		if ok && hasBody {
			w.declaredLen = n
		} else {
			delete(h, "Content-Length")
		}
	}
	// The length of a body the handler finished is written straight into the head: only the head
	// would read it from the map, which no handler sees again.
	lengthField := false
	if w.declaredLen < 0 && hasBody {
		switch {
		case w.handlerDone:
			w.declaredLen = int64(len(w.pending))
			lengthField = (w.req.Method != http.MethodHead || w.declaredLen > 0) && !declared(h["Trailer"], "Content-Length")
		case w.req.ProtoMinor == 0:
			w.closeAfter = true
		default:
			w.chunked = true
		}
	}
	// A request body the handler left unread: read it away now if the handler is done (what
	// follows is then the next request), or say we close if it is too large to ever be.
	if w.body != nil && !w.closeAfter {
		if w.handlerDone && !w.body.drain() || !w.handlerDone && w.body.tooLarge() {
			w.closeAfter = true
		}
	}
	if w.status == http.StatusSwitchingProtocols {
		w.closeAfter = false
	} else if w.c.srv.shuttingDown() || httpguts.HeaderValuesContainsToken(h["Connection"], "close") || w.req.Close {
		w.closeAfter = true
	}

	writeStatusLine(bw, w.status)
	w.writeFields(bw, true)
	if lengthField {
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.declaredLen, 10))
		_, _ = bw.WriteString("\r\n")
	}
	if _, ok := h["Date"]; !ok {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.Write(w.c.srv.date.now())
		_, _ = bw.WriteString("\r\n")
	}
	if w.chunked {
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case w.closeAfter && !httpguts.HeaderValuesContainsToken(h["Connection"], "close"):
		_, _ = bw.WriteString("Connection: close\r\n")
	case !w.closeAfter && w.req.ProtoMinor == 0 && w.status != http.StatusSwitchingProtocols:
		_, _ = bw.WriteString("Connection: keep-alive\r\n")
	}
	_, _ = bw.WriteString("\r\n")

	if len(w.pending) > 0 && w.req.Method != http.MethodHead {
		if w.chunked {
			writeChunkHeader(bw, len(w.pending))
		}
		_, _ = bw.Write(w.pending)
		if w.chunked {
			_, _ = bw.WriteString("\r\n")
		}
	}
	w.pending = w.pending[:0]
}

// writeFields writes the header fields, neutralising CR and LF in values (response splitting)
// and leaving out invalid names, trailers and, on the final head, hop-by-hop framing fields
// this server writes itself.
func (w *response) writeFields(bw *bufio.Writer, final bool) {
	var trailers []string
	if final {
		trailers = w.header["Trailer"]
	}
	for k, vv := range w.header {
		if !httpguts.ValidHeaderFieldName(k) || strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		if final && (k == "Transfer-Encoding" || len(trailers) > 0 && k != "Trailer" && declared(trailers, k)) {
			continue
		}
		for _, v := range vv {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			writeFieldValue(bw, v)
			_, _ = bw.WriteString("\r\n")
		}
	}
}

// declared reports whether name is listed in the Trailer header values.
func declared(trailers []string, name string) bool {
	for _, t := range trailers {
		for _, f := range strings.Split(t, ",") {
			if http.CanonicalHeaderKey(strings.TrimSpace(f)) == name {
				return true
			}
		}
	}
	return false
}

func writeFieldValue(bw *bufio.Writer, v string) {
	if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 {
		_, _ = bw.WriteString(strings.TrimSpace(v))
		return
	}
	_, _ = bw.WriteString(strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(v)))
}

// bodyAllowed reports whether a response with this status may have a body (RFC 9110 §6.4.1).
func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func writeChunkHeader(bw *bufio.Writer, n int) {
	// Formatted into the writer's free space: a local array would escape through Write.
	_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(n), 16))
	_, _ = bw.WriteString("\r\n")
}

// statusLines are the preformatted status lines of the codes the proxy sends most.
var statusLines = func() map[int]string {
	m := map[int]string{}
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return m
}()

func writeStatusLine(bw *bufio.Writer, code int) {
	if line, ok := statusLines[code]; ok {
		_, _ = bw.WriteString(line)
		return
	}
	_, _ = fmt.Fprintf(bw, "HTTP/1.1 %03d status code %d\r\n", code, code)
}

// FlushError sends what was written so far; the head goes out first if it has not.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.commit()
	if err := w.c.bw.Flush(); err != nil {
		return fmt.Errorf("flush response: %w", err)
	}
	return nil
}

func (w *response) Flush() { _ = w.FlushError() }

// finish completes the response after the handler returned: the head if it is still pending,
// the last chunk and the trailers. It reports whether the connection may serve another request.
func (w *response) finish() bool {
	w.handlerDone = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.commit()
	bw := w.c.bw
	if w.chunked {
		_, _ = bw.WriteString("0\r\n")
		w.writeTrailers(bw)
		_, _ = bw.WriteString("\r\n")
	}
	if w.declaredLen >= 0 && w.written < w.declaredLen && w.req.Method != http.MethodHead {
		w.closeAfter = true // a short body leaves the client waiting for bytes that never come
	}
	return !w.closeAfter
}

// writeTrailers writes the declared trailers and those set with http.TrailerPrefix.
func (w *response) writeTrailers(bw *bufio.Writer) {
	for k, vv := range w.header {
		name, prefixed := strings.CutPrefix(k, http.TrailerPrefix)
		if !prefixed && (k == "Trailer" || !declared(w.header["Trailer"], k)) {
			continue
		}
		if !httpguts.ValidHeaderFieldName(name) {
			continue
		}
		for _, v := range vv {
			_, _ = bw.WriteString(name)
			_, _ = bw.WriteString(": ")
			writeFieldValue(bw, v)
			_, _ = bw.WriteString("\r\n")
		}
	}
}

// Hijack hands the connection to the handler (a protocol upgrade). What was written so far is
// flushed first; the returned reader holds what the client sent beyond the request head.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.committed {
		if err := w.c.bw.Flush(); err != nil {
			return nil, nil, fmt.Errorf("hijack: flush: %w", err)
		}
	}
	if err := w.c.stopWatch(); err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	w.hijacked = true
	w.c.hijacked.Store(true)
	return w.c.rwc, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

// dateCache formats the Date header once a second.
type dateCache struct {
	v atomic.Pointer[dateValue]
}

type dateValue struct {
	sec int64
	b   []byte
}

func (d *dateCache) now() []byte {
	now := time.Now()
	sec := now.Unix()
	if v := d.v.Load(); v != nil && v.sec == sec {
		return v.b
	}
	v := &dateValue{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	d.v.Store(v)
	return v.b
}
