// Package limits enforces a route's request size limits (the seeds' task #24) before the backend
// is contacted:
//
//   - a request target (RequestURI) longer than MaxRequestURI gets 414;
//   - request headers larger than the route's max_request_headers get 431;
//   - a declared Content-Length over the route's max_request_body gets 413, before any byte of the
//     body is read;
//   - a body of unknown length (HTTP/1.1 chunked, HTTP/2 and HTTP/3 without content-length) is
//     wrapped by LimitBody so that reading past the limit fails with a *BodyTooLargeError: the
//     reverse proxy then aborts the upstream request, and the backend never receives more than
//     the limit.
//
// A declared Content-Length is enforced by the servers themselves (net/http for HTTP/1.1 and
// HTTP/2, quic-go for HTTP/3 never deliver more body bytes than declared), so a body of known
// length within the limit needs no wrapper. max_response_body is the proxy package's.
//
// Limits are built once per route and snapshot by New; Check and LimitBody do not allocate on
// the common path (no body, or a body of declared length).
package limits

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// MaxRequestURI is the longest request target accepted, in bytes: 8 KiB, as nginx's request
// line buffer (large_client_header_buffers 8k) and Apache's LimitRequestLine (8190). Browsers
// and CDNs keep URLs far below it; longer ones are answered 414 on every route.
const MaxRequestURI = 8 << 10

// headerLineOverhead is what one header field costs beyond its name and value in HTTP/1.1:
// ": " and CRLF. The same count is used for HTTP/2 and HTTP/3 so that a limit means the same
// on every protocol.
const headerLineOverhead = 4

// Limits are one route's request limits. A nil *Limits checks the request target only.
// It is immutable and safe for concurrent use.
type Limits struct {
	maxBody    int64 // 0: no limit beyond the server's
	maxHeaders int64 // 0: no limit beyond the server's (listen.Limits.MaxHeaderBytes)

	bodyMsg, headersMsg string
	bodyErr             *BodyTooLargeError // shared: returned by every over-limit read
}

// New checks cfg and returns the route's Limits. A nil cfg, or zero fields, mean no limit
// beyond the server's.
func New(cfg *proxyv1.Limits) (*Limits, error) {
	l := &Limits{maxBody: cfg.GetMaxRequestBody(), maxHeaders: cfg.GetMaxRequestHeaders()}
	if l.maxBody < 0 {
		return nil, fmt.Errorf("limits: max_request_body must not be negative, got %d", l.maxBody)
	}
	if l.maxHeaders < 0 {
		return nil, fmt.Errorf("limits: max_request_headers must not be negative, got %d", l.maxHeaders)
	}
	if n := cfg.GetMaxResponseBody(); n < 0 {
		return nil, fmt.Errorf("limits: max_response_body must not be negative, got %d", n)
	}
	if l.maxBody > 0 {
		l.bodyMsg = "The request body is larger than the maximum of " + HumanSize(l.maxBody) + "."
		l.bodyErr = &BodyTooLargeError{Limit: l.maxBody}
	}
	if l.maxHeaders > 0 {
		l.headersMsg = "The request headers are larger than the maximum of " + HumanSize(l.maxHeaders) + "."
	}
	return l, nil
}

// MaxRequestBody is the route's body limit in bytes; 0 means none.
func (l *Limits) MaxRequestBody() int64 {
	if l == nil {
		return 0
	}
	return l.maxBody
}

// MaxRequestHeaders is the route's header limit in bytes; 0 means none.
func (l *Limits) MaxRequestHeaders() int64 {
	if l == nil {
		return 0
	}
	return l.maxHeaders
}

var uriMsg = "The request URL is longer than the maximum of " + HumanSize(MaxRequestURI) + "."

// Check decides whether r may go to the backend, looking at what is known before its body is
// read. It returns 0 and "" when it may, else the status to answer (414, 431 or 413) and a
// message for the error page that states the maximum in human units. It does not read or
// change r.
func (l *Limits) Check(r *http.Request) (status int, msg string) {
	if requestURILen(r) > MaxRequestURI {
		return http.StatusRequestURITooLong, uriMsg
	}
	if l == nil {
		return 0, ""
	}
	if l.maxHeaders > 0 && headerSizeOver(r, l.maxHeaders) {
		return http.StatusRequestHeaderFieldsTooLarge, l.headersMsg
	}
	if l.maxBody > 0 && r.ContentLength > l.maxBody {
		return http.StatusRequestEntityTooLarge, l.bodyMsg
	}
	return 0, ""
}

// LimitBody makes r.Body fail with a *BodyTooLargeError once more than the route's limit is
// read from it, when the body's length is not declared. Call it after Check passed and before
// the backend is contacted. A request without a body, or with a declared length (which Check
// has compared with the limit and the server enforces), is left as it is, without allocating,
// and gets a nil *LimitedBody.
func (l *Limits) LimitBody(r *http.Request) *LimitedBody {
	if l == nil || l.maxBody <= 0 || r.ContentLength >= 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b := &LimitedBody{rc: r.Body, left: l.maxBody, err: l.bodyErr}
	r.Body = b
	return b
}

// BodyStatus says how to answer a request whose forwarding failed with err: when err is (or
// wraps) a *BodyTooLargeError, it returns 413, the error page's message and true. The edge
// asks this before it maps a backend error to 502/504: the proxy aborted the upstream request
// because the client's body crossed the limit.
func (l *Limits) BodyStatus(err error) (status int, msg string, ok bool) {
	var tooLarge *BodyTooLargeError
	if err == nil || !errors.As(err, &tooLarge) {
		return 0, "", false
	}
	msg = "The request body is larger than the maximum of " + HumanSize(tooLarge.Limit) + "."
	if l != nil && l.maxBody == tooLarge.Limit {
		msg = l.bodyMsg
	}
	return http.StatusRequestEntityTooLarge, msg, true
}

// BodyTooLargeError is what a body wrapped by LimitBody returns once the client sent more
// than Limit bytes. The bytes up to the limit were delivered; nothing beyond.
type BodyTooLargeError struct {
	Limit int64
}

// StatusCode is 413: the proxy package's classify (its StatusCoder) answers with it.
func (e *BodyTooLargeError) StatusCode() int { return http.StatusRequestEntityTooLarge }

func (e *BodyTooLargeError) Error() string {
	return "request body larger than " + strconv.FormatInt(e.Limit, 10) + " bytes"
}

// LimitedBody hands out at most left bytes and fails with err when there is more. Unlike an
// io.LimitedReader, which ends quietly at its limit and so cannot tell a body of exactly the
// limit from a larger one, it reads one byte beyond the limit to find out.
type LimitedBody struct {
	rc   io.ReadCloser
	left int64
	err  *BodyTooLargeError
	// hit is set by whoever reads the body (the backend client, maybe on a goroutine of its
	// own) and read by the edge when the exchange failed.
	hit atomic.Bool
}

// Exceeded returns the *BodyTooLargeError once the client sent more than the limit, nil before
// (and for a nil body). The edge asks it when forwarding failed with some other error: the
// backend may have closed the connection on the cut upload before the proxy saw its own error.
func (b *LimitedBody) Exceeded() error {
	if b == nil || !b.hit.Load() {
		return nil
	}
	return b.err
}

func (b *LimitedBody) Read(p []byte) (int, error) {
	if b.hit.Load() {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Ask for at most one byte more than is allowed: if it comes, the body is too large.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		return n, err
	}
	b.hit.Store(true)
	n = int(b.left)
	b.left = 0
	return n, b.err
}

func (b *LimitedBody) Close() error { return b.rc.Close() }

// requestURILen is the length of the request target as the client sent it. Servers set
// RequestURI (net/http for HTTP/1.1 and HTTP/2, quic-go for HTTP/3); a request built otherwise
// is measured from its URL without building the string.
func requestURILen(r *http.Request) int {
	if r.RequestURI != "" {
		return len(r.RequestURI)
	}
	if r.URL == nil {
		return 0
	}
	n := len(r.URL.Path)
	if r.URL.RawPath != "" {
		n = len(r.URL.RawPath)
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		n += 1 + len(r.URL.RawQuery)
	}
	return n
}

// headerSizeOver reports whether r's header fields, counted as HTTP/1.1 lines (name, ": ",
// value, CRLF) including Host, exceed max. The request line is not counted: MaxRequestURI
// bounds it. It stops counting as soon as the limit is crossed.
func headerSizeOver(r *http.Request, max int64) bool {
	var n int64
	if r.Host != "" {
		n = int64(len("Host") + len(r.Host) + headerLineOverhead)
	}
	for k, vv := range r.Header {
		for _, v := range vv {
			n += int64(len(k) + len(v) + headerLineOverhead)
		}
		if n > max {
			return true
		}
	}
	return n > max
}

// HumanSize writes a byte count the way an administrator writes it in the configuration:
// the largest unit in which it is exact with at most one decimal (KB, MB, GB, TB are powers of
// 1000; KiB, MiB, GiB, TiB powers of 1024, as in pkg/config), so that 10485760 reads "10 MiB",
// 10000000 "10 MB" and 1500000 "1.5 MB"; other counts are rounded down to one decimal of the
// largest decimal unit ("1.4 MB" for 1499999).
func HumanSize(n int64) string {
	type unit struct {
		size int64
		name string
	}
	units := [...]unit{
		{1 << 40, "TiB"}, {1e12, "TB"}, {1 << 30, "GiB"}, {1e9, "GB"},
		{1 << 20, "MiB"}, {1e6, "MB"}, {1 << 10, "KiB"}, {1e3, "KB"},
	}
	if n < 1000 {
		if n == 1 {
			return "1 byte"
		}
		return strconv.FormatInt(n, 10) + " bytes"
	}
	format := func(u unit) string {
		whole, tenths := n/u.size, n%u.size*10/u.size
		if tenths == 0 {
			return strconv.FormatInt(whole, 10) + " " + u.name
		}
		return strconv.FormatInt(whole, 10) + "." + strconv.FormatInt(tenths, 10) + " " + u.name
	}
	for _, u := range units {
		if n >= u.size && n%u.size*10%u.size == 0 { // exact with at most one decimal
			return format(u)
		}
	}
	for _, u := range units {
		if n >= u.size && u.name[1] != 'i' {
			return format(u)
		}
	}
	return strconv.FormatInt(n, 10) + " bytes" // unreachable: n >= 1000 fits KB
}
