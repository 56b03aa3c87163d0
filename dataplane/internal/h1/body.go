package h1

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"sync"
)

// body is a request body framed by Content-Length or chunked transfer coding. It reads from the
// connection's buffered reader; the connection serves its next request only once the body was
// read to its end (or discarded by the server after the handler).
type body struct {
	c       *conn
	req     *http.Request
	src     io.Reader // the framed stream: limited by Content-Length, or de-chunked
	br      *bufio.Reader
	chunked bool

	mu          sync.Mutex // a handler may read and close from different goroutines
	eof         bool       // the whole body was read, trailers included
	closed      bool
	err         error // sticky read error
	continue100 bool  // the client waits for "100 Continue" before sending the body
}

func newBody(c *conn, r *http.Request, continue100 bool) *body {
	b := &body{c: c, req: r, br: c.br, continue100: continue100}
	if r.ContentLength == -1 {
		b.chunked = true
		b.src = httputil.NewChunkedReader(c.br)
	} else {
		b.src = io.LimitReader(c.br, r.ContentLength)
	}
	return b
}

// errBodyTruncated is a body whose client went away before sending all of it.
var errBodyTruncated = errors.New("request body truncated: the client closed the connection")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.eof:
		return 0, io.EOF
	case b.err != nil:
		return 0, b.err
	}
	if b.continue100 {
		b.continue100 = false
		if err := b.c.writeContinue(); err != nil {
			b.err = fmt.Errorf("send 100 Continue: %w", err)
			return 0, b.err
		}
	}
	n, err := b.src.Read(p)
	if errors.Is(err, io.EOF) {
		if !b.chunked && n == 0 && b.req.ContentLength > 0 && b.src.(*io.LimitedReader).N > 0 {
			b.err = errBodyTruncated
			return 0, b.err
		}
		if b.chunked {
			if terr := b.readTrailer(); terr != nil {
				b.err = terr
				return n, terr
			}
		}
		b.eof = true
		return n, io.EOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = errBodyTruncated
	}
	if err != nil {
		b.err = err
	}
	// Content-Length exhausted: say EOF now, so that a copy does not wait for one more read.
	if err == nil && !b.chunked && b.src.(*io.LimitedReader).N == 0 {
		b.eof = true
		return n, io.EOF
	}
	return n, err
}

// readTrailer reads the trailer section after the last chunk into req.Trailer.
func (b *body) readTrailer() error {
	limit := b.c.srv.maxHeaderBytes()
	h, _, err := readTrailerLines(b.br, limit)
	if err != nil {
		return fmt.Errorf("read request trailer: %w", err)
	}
	if len(h) == 0 {
		return nil
	}
	trailer, herr := parseHeader(h)
	if herr != nil {
		return fmt.Errorf("read request trailer: %w", herr)
	}
	if b.req.Trailer == nil {
		b.req.Trailer = make(http.Header, len(trailer))
	}
	for k, vv := range trailer {
		b.req.Trailer[k] = append(b.req.Trailer[k], vv...)
	}
	return nil
}

// readTrailerLines reads header lines up to the empty line that ends a chunked body.
func readTrailerLines(br *bufio.Reader, limit int) (lines []string, n int, err error) {
	for {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if n > limit {
			return nil, n, errHeadTooLarge
		}
		if err != nil {
			return nil, n, err
		}
		s := string(line[:len(line)-1])
		if len(s) > 0 && s[len(s)-1] == '\r' {
			s = s[:len(s)-1]
		}
		if s == "" {
			return lines, n, nil
		}
		lines = append(lines, s)
	}
}

func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// maxDrain is how much of a body the handler left unread the server reads and throws away to
// keep the connection; more than that and the connection is closed instead (net/http's figure).
const maxDrain = 256 << 10

// tooLarge reports whether the unread rest of a Content-Length body is more than drain reads.
func (b *body) tooLarge() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.eof && !b.chunked && b.src.(*io.LimitedReader).N > maxDrain
}

// drain reads what the handler left of the body, so that the next request can be read. It
// reports whether the connection is still in sync.
func (b *body) drain() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return true
	}
	if b.err != nil || b.continue100 {
		// A client still waiting for 100 Continue may or may not send the body: close.
		return false
	}
	if !b.chunked && b.src.(*io.LimitedReader).N > maxDrain {
		return false
	}
	n, err := io.CopyN(io.Discard, b.src, maxDrain+1)
	if err == nil && n > maxDrain {
		return false
	}
	if !errors.Is(err, io.EOF) && err != nil {
		return false
	}
	if b.chunked {
		if err := b.readTrailer(); err != nil {
			return false
		}
	} else if b.src.(*io.LimitedReader).N > 0 {
		return false
	}
	b.eof = true
	return true
}
