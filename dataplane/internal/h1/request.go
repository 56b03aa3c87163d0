package h1

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// headError is a request head the server refuses before any handler runs. The connection is
// closed after the answer: the stream cannot be trusted to be in sync any more.
type headError struct {
	status int
	reason string // for the log and the plain-text body; never client data
}

func (e *headError) Error() string { return fmt.Sprintf("%d %s", e.status, e.reason) }

func badRequest(reason string) *headError {
	return &headError{status: http.StatusBadRequest, reason: reason}
}

var (
	errHeadTooLarge = &headError{status: http.StatusRequestHeaderFieldsTooLarge, reason: "request header too large"}
	errLineTooLong  = badRequest("request line too long")
)

// head is one request head as received: the request line and the header lines, without their
// line ends. Every string points into raw, so a request costs one string for its whole head; and
// any of them kept after the request keeps all of raw (clone what outlives a request).
type head struct {
	raw                   string
	method, target, proto string
	lines                 []string // header lines, in order
}

// headBuf is a connection's scratch space for reading request heads, reused from one request to
// the next: nothing of it outlives readHead and parseRequest (the head's strings point into raw,
// a string of its own), so a later request cannot see an earlier one's bytes through it.
type headBuf struct {
	buf   []byte   // the head as read
	ends  []int    // end offset of every line in buf, line end excluded
	lines []string // header lines of the last head; cleared by release
}

// release drops the header lines of the last head, so that an idle connection does not keep
// that head's string alive.
func (hb *headBuf) release() { clear(hb.lines) }

// readHead reads a request head of at most limit bytes (the request line and header lines,
// line ends included) into hb. Lines may end in CRLF or a bare LF (RFC 9112 §2.2); a CR
// anywhere else is refused later, as a control character. The head's lines slice is hb's, valid
// until the next readHead.
func readHead(br *bufio.Reader, hb *headBuf, limit int) (head, error) {
	buf := hb.buf[:0]
	ends := hb.ends[:0]
	defer func() { hb.buf, hb.ends = buf, ends }()
	lineStart, leading := 0, 0
	for {
		line, err := br.ReadSlice('\n')
		if len(buf)+len(line) > limit {
			if len(ends) == 0 {
				return head{}, errLineTooLong
			}
			return head{}, errHeadTooLarge
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if len(buf)+len(line) == 0 {
				return head{}, err // nothing of a request: the connection ended between requests
			}
			return head{}, fmt.Errorf("read request head: %w", err)
		}
		buf = append(buf, line...)
		if err != nil { // ErrBufferFull: the line goes on
			continue
		}
		end := len(buf) - 1
		if end > lineStart && buf[end-1] == '\r' {
			end--
		}
		empty := end == lineStart
		switch {
		case empty && len(ends) == 0:
			// RFC 9112 §2.2: ignore an empty line or two before the request line (a client may
			// send CRLF after a POST body).
			if leading++; leading > 2 {
				return head{}, badRequest("empty lines instead of a request line")
			}
			buf, lineStart = buf[:0], 0
			continue
		case empty:
			// The empty line ends the head.
		default:
			ends = append(ends, end)
			lineStart = len(buf)
			continue
		}
		break
	}

	raw := string(buf)
	h := head{raw: raw, lines: hb.lines[:0]}
	start := 0
	for i, end := range ends {
		line := raw[start:end]
		if i == 0 {
			var ok bool
			if h.method, h.target, h.proto, ok = splitRequestLine(line); !ok {
				return head{}, badRequest("malformed request line")
			}
		} else {
			h.lines = append(h.lines, line)
		}
		// Skip the line end: CRLF or LF.
		start = end + 1
		if raw[end] == '\r' {
			start++
		}
	}
	hb.lines = h.lines
	return h, nil
}

// splitRequestLine splits "METHOD SP request-target SP HTTP-version" with exactly one space
// between the parts (RFC 9112 §3: no other whitespace).
func splitRequestLine(line string) (method, target, proto string, ok bool) {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" || strings.IndexByte(proto, ' ') >= 0 {
		return "", "", "", false
	}
	return method, target, proto, true
}

// parseVersion accepts HTTP/1.0 and HTTP/1.1; anything else that looks like a version is
// answered 505, anything else 400.
func parseVersion(proto string) (major, minor int, err *headError) {
	switch proto {
	case "HTTP/1.1":
		return 1, 1, nil
	case "HTTP/1.0":
		return 1, 0, nil
	}
	if len(proto) == len("HTTP/x.y") && strings.HasPrefix(proto, "HTTP/") && isDigit(proto[5]) && proto[6] == '.' && isDigit(proto[7]) {
		return 0, 0, &headError{status: http.StatusHTTPVersionNotSupported, reason: "HTTP version not supported"}
	}
	return 0, 0, badRequest("malformed HTTP version")
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

var protos = [2]string{"HTTP/1.0", "HTTP/1.1"}

// internMethod returns the common methods as constants, so that a request's Method does not
// keep its whole head alive in whatever outlives the request (an access event, say).
func internMethod(m string) string {
	switch m {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	}
	return m
}

// parseRequest fills r, a zero Request, from a head. It refuses what a proxy must not forward or
// cannot frame unambiguously: see the package documentation. r is the caller's (a value on its
// stack): the request the handler gets is its one WithContext copy.
func parseRequest(h head, r *http.Request) *headError {
	major, minor, herr := parseVersion(h.proto)
	if herr != nil {
		return herr
	}
	if !validMethod(h.method) {
		return badRequest("invalid method")
	}
	r.Method = internMethod(h.method)
	r.Proto = protos[minor]
	r.ProtoMajor, r.ProtoMinor = major, minor
	r.RequestURI = h.target
	if err := parseTarget(r, h.target); err != nil {
		return err
	}
	hdr, err := parseHeader(h.lines)
	if err != nil {
		return err
	}
	r.Header = hdr

	// Host: the absolute-form's authority wins over the header (RFC 9112 §3.2.2); either way
	// HTTP/1.1 needs exactly one Host header.
	hosts := hdr["Host"]
	if len(hosts) > 1 {
		return badRequest("more than one Host header")
	}
	if major == 1 && minor == 1 && len(hosts) == 0 {
		return badRequest("missing Host header")
	}
	r.Host = r.URL.Host
	if r.Host == "" && len(hosts) == 1 {
		r.Host = hosts[0]
	}
	if !httpguts.ValidHostHeader(r.Host) {
		return badRequest("malformed Host header")
	}
	delete(hdr, "Host")

	if err := parseFraming(r); err != nil {
		return err
	}
	r.Close = shouldClose(major, minor, hdr)
	return nil
}

// parseTarget sets r.URL from the request-target: origin-form ("/path?q"), absolute-form
// ("http://host/path"), authority-form (CONNECT only) or asterisk-form (OPTIONS only).
func parseTarget(r *http.Request, target string) *headError {
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return badRequest("invalid character in request target")
		}
	}
	var err error
	switch {
	case r.Method == http.MethodConnect:
		if target[0] == '/' { // net/http's CONNECT to a path, used by some tunnels
			r.URL, err = url.ParseRequestURI(target)
		} else {
			r.URL, err = url.ParseRequestURI("http://" + target)
			if err == nil {
				r.URL.Scheme = ""
			}
		}
	case target == "*":
		if r.Method != http.MethodOptions {
			return badRequest("asterisk-form target without OPTIONS")
		}
		r.URL = &url.URL{Path: "*"}
		return nil
	default:
		if u, ok := parseOriginForm(target); ok {
			r.URL = u
			return nil
		}
		r.URL, err = url.ParseRequestURI(target)
	}
	if err != nil {
		return badRequest("malformed request target")
	}
	if r.URL.Scheme != "" && r.URL.Scheme != "http" && r.URL.Scheme != "https" {
		return badRequest("request target with an unknown scheme")
	}
	return nil
}

// parseOriginForm is url.ParseRequestURI for the common origin-form target, "/path?query" with
// a path of plain characters (parseTarget has refused spaces and control characters already), without ParseRequestURI's unescaping and re-escaping of the path:
// such a path needs neither, so Path is the target's path and RawPath stays empty. It reports
// false for anything else (a '%', a character the URL package would escape, a target ending in
// '?', which sets ForceQuery), which is then left to url.ParseRequestURI. FuzzParseOriginForm
// checks that both agree.
func parseOriginForm(target string) (*url.URL, bool) {
	if len(target) == 0 || target[0] != '/' || target[len(target)-1] == '?' {
		return nil, false
	}
	path, query, _ := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !plainPathChar[path[i]] {
			return nil, false
		}
	}
	return &url.URL{Path: path, RawQuery: query}, true
}

// plainPathChar holds the bytes the URL package leaves as they are in a path (RFC 3986
// unreserved, and the sub-delimiters it does not escape in paths).
var plainPathChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/$&+,:;=@", byte(c)) >= 0
	}
	return t
}()

// parseHeader parses header lines "Name: value" into a header with canonical names. Names must
// be tokens with no space before the colon; values lose surrounding spaces and tabs and must not
// contain control characters; a line starting with a space or tab (obsolete line folding) is
// refused (RFC 9112 §5.2).
func parseHeader(lines []string) (http.Header, *headError) {
	hdr := make(http.Header, len(lines))
	// One backing array for the common case of one value per name, as net/textproto does.
	values := make([]string, len(lines))
	for i, line := range lines {
		if line[0] == ' ' || line[0] == '\t' {
			return nil, badRequest("obsolete line folding")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, badRequest("malformed header line")
		}
		if !validHeaderName(name) {
			return nil, badRequest("invalid header name")
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, badRequest("invalid header value")
		}
		if !isCanonical(name) {
			name = textproto.CanonicalMIMEHeaderKey(name)
		}
		if old, ok := hdr[name]; ok {
			hdr[name] = append(old, value)
			continue
		}
		values[i] = value
		hdr[name] = values[i : i+1 : i+1]
	}
	return hdr, nil
}

// validHeaderName reports whether name is a token (RFC 9110 §5.6.2).
func validHeaderName(name string) bool {
	for i := 0; i < len(name); i++ {
		if !httpguts.IsTokenRune(rune(name[i])) {
			return false
		}
	}
	return true
}

func validMethod(m string) bool { return validHeaderName(m) }

// isCanonical reports whether a token is already in canonical MIME form ("Content-Type"), so
// that the common case keeps the substring instead of allocating a new name.
func isCanonical(name string) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// parseFraming sets ContentLength and TransferEncoding, refusing ambiguous framing (RFC 9112
// §6): several differing or invalid Content-Lengths, a Transfer-Encoding other than a single
// "chunked", Transfer-Encoding in HTTP/1.0, and Content-Length together with Transfer-Encoding.
// The last is what request smuggling is made of; RFC 9112 §6.1 lets a server reject it, and a
// proxy should: it cannot know how the hop in front of it framed the message.
func parseFraming(r *http.Request) *headError {
	te, hasTE := r.Header["Transfer-Encoding"]
	cl, hasCL := r.Header["Content-Length"]
	if hasTE {
		if r.ProtoMinor == 0 {
			return badRequest("Transfer-Encoding in HTTP/1.0")
		}
		if hasCL {
			return badRequest("both Content-Length and Transfer-Encoding")
		}
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") {
			return &headError{status: http.StatusNotImplemented, reason: "unsupported transfer encoding"}
		}
		r.TransferEncoding = []string{"chunked"}
		r.ContentLength = -1
		delete(r.Header, "Transfer-Encoding")
		return nil
	}
	if !hasCL {
		return nil
	}
	n, ok := parseContentLength(cl[0])
	if !ok {
		return badRequest("invalid Content-Length")
	}
	for _, v := range cl[1:] {
		if v != cl[0] {
			return badRequest("differing Content-Length headers")
		}
	}
	if len(cl) > 1 {
		r.Header["Content-Length"] = cl[:1]
	}
	r.ContentLength = n
	return nil
}

// parseContentLength accepts 1*DIGIT up to the largest int64.
func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
		if n < 0 {
			return 0, false
		}
	}
	return n, true
}

// shouldClose reports whether the client asks to close after this request: "Connection: close",
// or HTTP/1.0 without "Connection: keep-alive".
func shouldClose(major, minor int, hdr http.Header) bool {
	conn := hdr["Connection"]
	if major == 1 && minor == 0 {
		return !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	}
	return httpguts.HeaderValuesContainsToken(conn, "close")
}
