package compress

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// state of a writer: undecided until the final status, then one of the others.
type state uint8

const (
	undecided   state = iota
	pending           // compressible so far, holding back the body until min_size is reached
	compressing       // the encoder writes through sink
	passing           // not compressed: writes go straight through
	finished          // finish ran
	hijacked
)

// writer compresses one response. It is used by one goroutine at a time, like any
// http.ResponseWriter.
type writer struct {
	rw     http.ResponseWriter
	p      *Policy
	alg    *algorithm
	state  state
	status int
	buf    []byte // pending body, less than minSize
	enc    encoder
	sink   countingWriter // below the encoder
	in     int64          // body bytes given to Write
}

var (
	_ http.Flusher  = (*writer)(nil)
	_ http.Hijacker = (*writer)(nil)
)

// countingWriter counts the compressed bytes on their way to the client.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (w *writer) Header() http.Header { return w.rw.Header() }

func (w *writer) Unwrap() http.ResponseWriter { return w.rw }

// WriteHeader decides, from the status and the headers as they are now, whether to compress.
func (w *writer) WriteHeader(code int) {
	if w.state != undecided {
		w.rw.WriteHeader(code) // superfluous: net/http reports it
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.rw.WriteHeader(code) // informational; the final status follows
		return
	}
	w.status = code
	h := w.rw.Header()
	if !w.compressible(code, h) {
		w.state = passing
		w.rw.WriteHeader(code)
		return
	}
	if cl := h.Get("Content-Length"); cl != "" {
		// The length is known: decide now.
		if n, err := strconv.ParseInt(cl, 10, 64); err != nil || n < w.p.minSize || n == 0 {
			w.state = passing
			w.rw.WriteHeader(code)
			return
		}
		w.start()
		return
	}
	if w.p.minSize <= 0 {
		w.start()
		return
	}
	w.state = pending
}

// compressible applies the rules that need no body.
func (w *writer) compressible(code int, h http.Header) bool {
	switch {
	case code < 200, code == http.StatusNoContent, code == http.StatusNotModified,
		code == http.StatusPartialContent:
		return false
	case len(h["Content-Encoding"]) > 0, len(h["Content-Range"]) > 0:
		return false
	case hasToken(h["Cache-Control"], "no-transform"):
		return false
	}
	return w.p.typeMatches(h.Get("Content-Type"))
}

// typeMatches reports whether the media type of ct, without parameters, is one to compress.
func (p *Policy) typeMatches(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	if mt == "" {
		return false
	}
	for _, t := range p.types {
		if strings.EqualFold(t, mt) {
			return true
		}
		if pre, ok := strings.CutSuffix(t, "/*"); ok && len(mt) > len(pre)+1 &&
			mt[len(pre)] == '/' && strings.EqualFold(pre, mt[:len(pre)]) {
			return true
		}
	}
	return false
}

// hasToken reports whether a comma-separated header holds token (case-insensitively).
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			t, _, _ = strings.Cut(t, "=")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// start sets the headers of a compressed response, writes them and takes an encoder.
func (w *writer) start() {
	h := w.rw.Header()
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges") // ranges of the compressed bytes are not offered
	h["Content-Encoding"] = []string{w.alg.name}
	if !hasToken(h["Vary"], "Accept-Encoding") && !hasToken(h["Vary"], "*") {
		h["Vary"] = append(h["Vary"], "Accept-Encoding")
	}
	if et := h["Etag"]; len(et) == 1 && strings.HasPrefix(et[0], `"`) {
		h["Etag"] = []string{"W/" + et[0]}
	}
	w.state = compressing
	w.enc = w.alg.pool.Get().(encoder)
	w.enc.Reset(&w.sink)
	w.rw.WriteHeader(w.status)
}

// pass gives up compressing a pending response: its whole body so far goes out as it is.
func (w *writer) pass(complete bool) error {
	w.state = passing
	if complete {
		// The whole body is here: its length is known.
		w.rw.Header().Set("Content-Length", strconv.Itoa(len(w.buf)))
	}
	w.rw.WriteHeader(w.status)
	return w.writeBuffered(w.rw)
}

func (w *writer) writeBuffered(dst interface{ Write([]byte) (int, error) }) error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := dst.Write(w.buf)
	w.buf = nil
	return err
}

func (w *writer) Write(b []byte) (int, error) {
	if w.state == undecided {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case compressing:
		w.in += int64(len(b))
		return w.enc.Write(b)
	case pending:
		w.in += int64(len(b))
		if int64(len(w.buf)+len(b)) < w.p.minSize {
			if w.buf == nil {
				w.buf = make([]byte, 0, w.p.minSize)
			}
			w.buf = append(w.buf, b...)
			return len(b), nil
		}
		// Long enough: compress what was held back and this.
		w.start()
		if err := w.writeBuffered(w.enc); err != nil {
			return 0, err
		}
		return w.enc.Write(b)
	case finished:
		return 0, errFinished
	default:
		n, err := w.rw.Write(b)
		w.in += int64(n)
		w.sink.n += int64(n)
		return n, err
	}
}

// FlushError is what http.ResponseController calls. A pending response is a stream whose
// length cannot be known: it is compressed from here on.
func (w *writer) FlushError() error {
	switch w.state {
	case undecided:
		w.WriteHeader(http.StatusOK)
		return w.FlushError()
	case pending:
		w.start()
		if err := w.writeBuffered(w.enc); err != nil {
			return err
		}
		return w.FlushError()
	case compressing:
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.rw).Flush()
}

func (w *writer) Flush() { _ = w.FlushError() }

// Hijack hands the connection over (protocol upgrades); nothing is compressed afterwards.
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.rw).Hijack()
	if err == nil {
		w.state = hijacked
	}
	return conn, brw, err
}

// finish ends the response: it closes the encoder (writing the stream's trailer) and gives it
// back to its pool, or sends a held-back body uncompressed. A response never started is left
// alone, for the caller to answer (an error page).
func (w *writer) finish() Result {
	switch w.state {
	case pending:
		_ = w.pass(true) // a failed write means the client left; the event shows the bytes
		w.state = finished
	case compressing:
		_ = w.enc.Close()
		w.enc.Reset(nil) // drop the reference to the response writer
		w.alg.pool.Put(w.enc)
		w.enc = nil
		w.state = finished
		return Result{Encoding: w.alg.name, BytesIn: w.in, BytesOut: w.sink.n}
	case passing:
		w.state = finished
	default:
		return Result{}
	}
	return Result{BytesIn: w.in, BytesOut: w.in}
}
