package retry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

type bodyMode uint8

const (
	noBody   bodyMode = iota // nil or http.NoBody: every attempt sends none
	getBody                  // req.GetBody gives the body again
	buffered                 // the middleware holds the whole body
	streamed                 // too long to hold: sent once, never retried
)

// replayBody knows how to give a request its body again for another attempt.
type replayBody struct {
	mode bodyMode
	buf  []byte
}

// replayable decides how req's body can be sent again and returns the request for the first
// attempt: req itself, unless the body was read into memory (then a copy whose body reads the
// buffer) or was found too long while reading it (then a copy whose body streams what was read
// followed by the rest). An error reading the body is returned, and req.Body is closed.
func replayable(req *http.Request) (*http.Request, replayBody, error) {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return req, replayBody{mode: noBody}, nil
	case req.GetBody != nil:
		return req, replayBody{mode: getBody}, nil
	case req.ContentLength > MaxBufferedBody:
		return req, replayBody{mode: streamed}, nil
	}
	buf, err := readUpTo(req.Body, MaxBufferedBody+1, req.ContentLength)
	if err != nil {
		req.Body.Close()
		return nil, replayBody{}, fmt.Errorf("retry: reading the request body: %w", err)
	}
	if len(buf) > MaxBufferedBody {
		first := req.WithContext(req.Context()) // a shallow copy
		first.Body = &prefixed{Reader: io.MultiReader(bytes.NewReader(buf), req.Body), body: req.Body}
		return first, replayBody{mode: streamed}, nil
	}
	req.Body.Close()
	rb := replayBody{mode: buffered, buf: buf}
	first, _ := rb.request(req)
	return first, rb, nil
}

// request returns a copy of req for another attempt, with a fresh body.
func (rb replayBody) request(req *http.Request) (*http.Request, error) {
	again := req.WithContext(req.Context()) // a shallow copy; headers are only read
	switch rb.mode {
	case getBody:
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		again.Body = b
	case buffered:
		buf := rb.buf
		again.Body = io.NopCloser(bytes.NewReader(buf))
		again.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	case streamed:
		return nil, errors.New("retry: the request body cannot be sent again")
	}
	return again, nil
}

// readUpTo reads r until EOF or until it has limit bytes. size is the expected length, or -1.
func readUpTo(r io.Reader, limit int, size int64) ([]byte, error) {
	n := 512
	if size >= 0 && size < int64(limit) {
		n = int(size) + 1 // one more byte, to see EOF without growing
	}
	buf := make([]byte, 0, n)
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// prefixed is a body of which the first bytes were already read: it reads them again, then
// the rest, and closing it closes the original body.
type prefixed struct {
	io.Reader
	body io.Closer
}

func (p *prefixed) Close() error { return p.body.Close() }

// discard drains a small body of an answer that is not returned, so that its connection can be
// reused, and closes it. A body of unknown or larger length is only closed: reading it could
// wait on a slow backend, and closing the connection costs less.
func discard(resp *http.Response) {
	const drainMax = 4 << 10
	if resp.ContentLength >= 0 && resp.ContentLength <= drainMax {
		io.CopyN(io.Discard, resp.Body, drainMax)
	}
	resp.Body.Close()
}
