package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

// readResult is what a reader made of a byte stream: the final response's head, its body read
// to the end, its trailer and how many bytes were taken from the stream.
type readResult struct {
	Status           string
	StatusCode       int
	Proto            string
	ProtoMajor       int
	ProtoMinor       int
	Header           http.Header
	ContentLength    int64
	TransferEncoding []string
	Close            bool
	Body             string
	BodyErr          error
	Trailer          http.Header
	Consumed         int
}

// readWith reads data as a backend's answer to a request of method, with net/http (reference)
// or with readResponse, through a bufio.Reader of the connection's size; with trickle, the
// data comes one byte per read.
func readWith(data []byte, method string, reference, trickle bool) (*readResult, error) {
	src := bytes.NewReader(data)
	var r io.Reader = src
	if trickle {
		r = iotest.OneByteReader(src)
	}
	br := bufio.NewReaderSize(r, 4<<10)
	req := &http.Request{Method: method}
	var res *http.Response
	var body io.Reader
	if reference {
		for {
			r, err := http.ReadResponse(br, req)
			if err != nil {
				return nil, err
			}
			if r.StatusCode >= 200 || r.StatusCode == http.StatusSwitchingProtocols || r.StatusCode < 100 {
				res, body = r, r.Body
				break
			}
		}
	} else {
		r, err := readResponse(br, req)
		if err != nil {
			return nil, err
		}
		res, body = &r.Response, &r.body.f
	}
	out := &readResult{Status: res.Status, StatusCode: res.StatusCode, Proto: res.Proto,
		ProtoMajor: res.ProtoMajor, ProtoMinor: res.ProtoMinor, Header: res.Header.Clone(),
		ContentLength: res.ContentLength, TransferEncoding: res.TransferEncoding, Close: res.Close}
	b, err := io.ReadAll(body)
	out.Body, out.BodyErr, out.Trailer = string(b), err, res.Trailer
	out.Consumed = len(data) - src.Len() - br.Buffered()
	return out, nil
}

// stricter tells the errors by which readResponse refuses what net/http accepts: obsolete line
// folding, a field name with a space, a signed status code, a head over maxHeadBytes.
func stricter(err error) bool {
	return errors.Is(err, errObsFold) || errors.Is(err, errHeaderName) || errors.Is(err, errStatusCode) ||
		errors.Is(err, errHeadTooLarge)
}

var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n",
	"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-custom: a\r\nX-Custom: b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nnext",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, x-other\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Late: 2\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n0\r\n\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes",
	"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\nuntil the close",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\n\r\nno length",
	"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
	"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nFolded: a\r\n b\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
	"HTTP/1.1 +20 OK\r\n\r\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/x 200 OK\r\n\r\n",
	"HTTP/1.1200 OK\r\n\r\n",
	"\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n y\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
}

func FuzzReadResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, false)
		f.Add([]byte(s), false, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, head, trickle bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		want, wantErr := readWith(data, method, true, trickle)
		got, gotErr := readWith(data, method, false, trickle)
		switch {
		case wantErr != nil && gotErr != nil:
			return
		case gotErr != nil && stricter(gotErr):
			return
		case wantErr != nil || gotErr != nil:
			t.Fatalf("%s %q: net/http %v, ours %v", method, data, wantErr, gotErr)
		}
		if got.BodyErr != nil && want.BodyErr == nil && stricter(got.BodyErr) {
			return // the trailer
		}
		if (got.BodyErr == nil) != (want.BodyErr == nil) {
			t.Fatalf("%s %q: body error net/http %v, ours %v", method, data, want.BodyErr, got.BodyErr)
		}
		if want.BodyErr != nil {
			// The connection is closed: what was read and the trailer no longer matter.
			got.BodyErr, want.BodyErr, got.Consumed, want.Consumed, got.Trailer, want.Trailer = nil, nil, 0, 0, nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %q:\nnet/http %+v\nours     %+v", method, data, want, got)
		}
	})
}

func TestReadResponse(t *testing.T) {
	kib := strings.Repeat("x", 1024)
	for _, tc := range []struct {
		name, in, method string
		wantErr          error // nil: as net/http reads it
	}{
		{name: "length", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" + kib},
		{name: "lower-case keys", in: "HTTP/1.1 200 OK\r\ncontent-type: a\r\nx-powered-by: b\r\nx-made-up-key: c\r\ncontent-length: 0\r\n\r\n"},
		{name: "repeated key", in: "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"},
		{name: "chunked with trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n400\r\n" + kib + "\r\n0\r\nX-Sum: 1\r\nX-Late: 2\r\n\r\nHTTP/1.1 200 OK\r\n"},
		{name: "interim answers skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "switching protocols", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframe"},
		{name: "204 without body", in: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n"},
		{name: "HEAD keeps the length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method: http.MethodHead},
		{name: "HEAD chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n", method: http.MethodHead},
		{name: "to the close", in: "HTTP/1.0 200 OK\r\n\r\nall of it"},
		{name: "HTTP/1.1 close", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"},
		{name: "bare LF", in: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
		{name: "same length twice", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length:  2\r\n\r\nok"},
		{name: "short body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"},
		{name: "many fields", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("x-many: v\r\nSet-Cookie: c\r\nX-Other-Key: o\r\n", 20) + "Content-Length: 0\r\n\r\n"},
		{name: "head past the buffer", in: "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("v", 10000) + "\r\nContent-Length: 0\r\n\r\n"},

		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nok", wantErr: errContentLength},
		{name: "signed length", in: "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", wantErr: errContentLength},
		{name: "gzip transfer coding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: errTransferEncoding},
		{name: "two transfer codings", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: errTransferEncoding},
		{name: "trailer names Content-Length", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", wantErr: errTrailerKey},
		{name: "no status", in: "HTTP/1.1\r\n\r\n", wantErr: errStatusLine},
		{name: "bad version", in: "HTTP/one 200 OK\r\n\r\n", wantErr: errHTTPVersion},
		{name: "missing colon", in: "HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n", wantErr: errHeaderLine},
		{name: "control byte in value", in: "HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n", wantErr: errHeaderLine},
		{name: "cut off head", in: "HTTP/1.1 200 OK\r\nContent-Length: 2", wantErr: io.ErrUnexpectedEOF},
		{name: "empty", in: "", wantErr: io.ErrUnexpectedEOF},
		// Stricter than net/http.
		{name: "obs-fold", in: "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n", wantErr: errObsFold},
		{name: "space in name", in: "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n", wantErr: errHeaderName},
		{name: "signed status", in: "HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n", wantErr: errStatusCode},
		{name: "head over the limit", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("v", maxHeadBytes) + "\r\n\r\n", wantErr: errHeadTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			for _, trickle := range []bool{false, true} {
				got, err := readWith([]byte(tc.in), method, false, trickle)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("trickle %v: error %v, want %v", trickle, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("trickle %v: %v", trickle, err)
				}
				want, err := readWith([]byte(tc.in), method, true, trickle)
				if err != nil {
					t.Fatalf("net/http: %v", err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("trickle %v:\nnet/http %+v\nours     %+v", trickle, want, got)
				}
			}
		})
	}
}

// TestHeaderValuesDoNotAlias: the single values share one array; appending to one (as relay
// does when the edge's header has the key) must not write over another's.
func TestHeaderValuesDoNotAlias(t *testing.T) {
	h, _, err := parseHeader([]byte("A: 1\r\nB: 2\r\nC: 3\r\n\r\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := append(h["A"], "x")
	b := append(h["B"], "y")
	if h["B"][0] != "2" || h["C"][0] != "3" || a[1] != "x" || b[1] != "y" {
		t.Fatalf("header %v after appends", h)
	}
}

// TestResponseOutlivesExchange: a response is the caller's for good. Its header, kept and
// changed after its connection carried the next exchanges, is not theirs, nor theirs its; its
// body read or closed late neither reads the next response nor closes the connection.
func TestResponseOutlivesExchange(t *testing.T) {
	var accepted atomic.Int32
	url := rawBackend(t, func(c net.Conn) {
		accepted.Add(1)
		br := bufio.NewReader(c)
		for n := 1; ; n++ {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			extra := ""
			if n == 1 {
				extra = "X-Only-First: yes\r\n"
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-N: %d\r\n%sContent-Length: 2\r\n\r\nr%d", n, extra, n)
		}
	})
	b, err := newPools(t, Options{}).NewBackend(url)
	if err != nil {
		t.Fatal(err)
	}
	get := func() (*http.Response, string) {
		t.Helper()
		res, err := b.pool.transport.RoundTrip(httptest.NewRequest(http.MethodGet, "http://example.org/", nil))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, string(body)
	}
	res1, body1 := get()
	res1.Header.Add("X-N", "changed")
	res1.Header.Set("X-Set-After", "1")
	res2, body2 := get()
	if body1 != "r1" || body2 != "r2" {
		t.Fatalf("bodies %q, %q", body1, body2)
	}
	if got := res1.Header["X-N"]; !reflect.DeepEqual(got, []string{"1", "changed"}) || res1.Header.Get("X-Only-First") != "yes" {
		t.Fatalf("first header %v", res1.Header)
	}
	if got := res2.Header["X-N"]; !reflect.DeepEqual(got, []string{"2"}) || res2.Header.Get("X-Only-First") != "" || res2.Header.Get("X-Set-After") != "" {
		t.Fatalf("second header %v", res2.Header)
	}
	// Late reads and closes of the first body: nothing to read, and the connection stays.
	if n, err := res1.Body.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("late read: %d, %v", n, err)
	}
	res1.Body.Close()
	res2.Body.Close()
	res3, body3 := get()
	if body3 != "r3" || res3.Header.Get("X-N") != "3" || accepted.Load() != 1 {
		t.Fatalf("third: %q, %v, %d connections", body3, res3.Header, accepted.Load())
	}
}
