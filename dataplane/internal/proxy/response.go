package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"
)

// The backend's response is read here rather than by http.ReadResponse, which was about 15% of
// the bytes the data plane allocated per proxied request (the Response, a textproto reader, a
// header map that grows, one string per value, io.LimitReader and two body wrappers). Its
// semantics are net/http's, checked against it by FuzzReadResponse; where it is stricter, the
// error is one of those below, and the backend's answer is a 502.
var (
	// errObsFold is a header line continued on the next (RFC 9112 section 5.2: obsolete, and a
	// proxy may reject it). net/http joins the lines.
	errObsFold = errors.New("backend response header uses obsolete line folding")
	// errHeaderName is a field name that is not a token. net/http accepts (and does not
	// canonicalize) names with a space, e.g. "Foo : bar"; RFC 9112 section 5.1 says to reject.
	errHeaderName = errors.New("backend response has an invalid header field name")
	// errStatusCode is a status code that is not three digits. net/http accepts a sign ("+20").
	errStatusCode = errors.New("backend response has a malformed status code")
	// errHeadTooLarge is a head (status line and header) over maxHeadBytes. net/http's
	// ReadResponse has no limit.
	errHeadTooLarge = fmt.Errorf("backend response header is larger than %d bytes", maxHeadBytes)
)

// maxHeadBytes bounds a response head, so that a backend cannot make the proxy buffer without
// end. http.Transport's default is 10 MB; nginx's 4 or 8 KiB (proxy_buffer_size).
const maxHeadBytes = 1 << 20

var (
	errStatusLine       = errors.New("malformed backend response status line")
	errHTTPVersion      = errors.New("malformed backend response HTTP version")
	errHeaderLine       = errors.New("malformed backend response header line")
	errContentLength    = errors.New("bad Content-Length in the backend response")
	errTransferEncoding = errors.New("unsupported Transfer-Encoding in the backend response")
	errTrailerKey       = errors.New("bad key in the backend response's Trailer header")
	errTrailerEOF       = errors.New("unexpected EOF reading the backend response's trailer")
	errTrailerTooLong   = errors.New("suspiciously long trailer after the backend's chunked body")
)

// response is a backend response with its body and what it refers to, in one allocation.
type response struct {
	http.Response
	body responseBody
	te   [1]string // backs Response.TransferEncoding
	// header is the map Header was parsed into when it is small enough to be reused (at most
	// maxReusedHeader names): a response recycled by its connection (pconn.spare) is read
	// into again, map included.
	header http.Header
}

// maxReusedHeader is the most names a recycled response's header map may have held: a map
// does not shrink, and one odd response must not pin a large one to its connection.
const maxReusedHeader = 64

// readResponse reads the final response head from br, skipping interim 1xx answers other than
// 101, and prepares the body's framing. res.Body is &r.body, whose exchange fields (pc, stop,
// bodyDone, keepAlive) the caller fills in.
func readResponse(br *bufio.Reader, req *http.Request) (*response, error) {
	return readResponseInto(br, req, nil)
}

// readResponseInto is readResponse into r, a recycled response that nothing else refers to any
// more (pconn.spare), or a new one when r is nil. Interim responses are read into the same
// value: nobody sees them.
func readResponseInto(br *bufio.Reader, req *http.Request, r *response) (*response, error) {
	for {
		var err error
		if r, err = readOneResponse(br, req, r); err != nil {
			return nil, err
		}
		if code := r.StatusCode; code >= 200 || code == http.StatusSwitchingProtocols || code < 100 {
			return r, nil
		}
	}
}

// readOneResponse reads one response head, as http.ReadResponse does, into r (reset first)
// or a new response when r is nil.
func readOneResponse(br *bufio.Reader, req *http.Request, r *response) (*response, error) {
	raw, pending, err := readHead(br, true)
	if err != nil {
		return nil, err
	}
	var into http.Header
	if r != nil {
		into = r.header
	}
	nl := bytes.IndexByte(raw, '\n')
	statusLine := bytes.TrimSuffix(raw[:nl], []byte("\r"))
	h, line, err := parseHeaderInto(raw[nl+1:], statusLine, into)
	_, _ = br.Discard(pending) // cannot fail: buffered; raw is not used past here
	if err != nil {
		return nil, err
	}
	if r == nil {
		r = &response{}
	} else {
		*r = response{}
	}
	if len(h) <= maxReusedHeader {
		r.header = h
	}
	res := &r.Response
	res.Request = req
	proto, status, ok := strings.Cut(line, " ")
	if !ok {
		return nil, fmt.Errorf("%w: %q", errStatusLine, line)
	}
	res.Proto = proto
	res.Status = strings.TrimLeft(status, " ")
	code, _, _ := strings.Cut(res.Status, " ")
	if len(code) != 3 || !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) {
		return nil, fmt.Errorf("%w: %q", errStatusCode, code)
	}
	res.StatusCode = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if res.ProtoMajor, res.ProtoMinor, ok = http.ParseHTTPVersion(proto); !ok {
		return nil, fmt.Errorf("%w: %q", errHTTPVersion, proto)
	}
	res.Header = h
	if err := r.frame(br, req); err != nil {
		return nil, err
	}
	return r, nil
}

// frame applies the transfer semantics of http.ReadResponse (readTransfer in net/http's
// transfer.go) to the parsed head: Pragma, Connection, Transfer-Encoding, Content-Length and
// Trailer, and chooses how the body is read.
func (r *response) frame(br *bufio.Reader, req *http.Request) error {
	res, h := &r.Response, r.Header
	if hp := h["Pragma"]; len(hp) > 0 && hp[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	method := http.MethodGet
	if req != nil {
		method = req.Method
	}
	status := res.StatusCode
	major, minor := res.ProtoMajor, res.ProtoMinor

	// shouldClose, which drops an HTTP/1.1 Connection: close from the header.
	switch conn := h["Connection"]; {
	case major < 1:
		res.Close = true
	case major == 1 && minor == 0:
		res.Close = hasToken(conn, "close") || !hasToken(conn, "keep-alive")
	case hasToken(conn, "close"):
		res.Close = true
		delete(h, "Connection")
	}
	if major == 0 && minor == 0 {
		major, minor = 1, 1 // for the framing only, as net/http does
	}

	chunked := false
	if te, ok := h["Transfer-Encoding"]; ok {
		delete(h, "Transfer-Encoding")
		// Ignored in HTTP/1.0 (net/http issue 12785); else only a single "chunked".
		if major > 1 || major == 1 && minor >= 1 {
			if len(te) != 1 {
				return fmt.Errorf("%w: %q", errTransferEncoding, te)
			}
			if !asciiEqualFold(te[0], "chunked") {
				return fmt.Errorf("%w: %q", errTransferEncoding, te[0])
			}
			chunked = true
			r.te[0] = "chunked"
			res.TransferEncoding = r.te[:]
		}
	}

	// fixLength: identical duplicates of Content-Length collapse to one, others are an error.
	cls := h["Content-Length"]
	if len(cls) > 1 {
		first := textproto.TrimString(cls[0])
		for _, cl := range cls[1:] {
			if textproto.TrimString(cl) != first {
				return fmt.Errorf("%w: several values %q", errContentLength, cls)
			}
		}
		cls = []string{first}
		h["Content-Length"] = cls
	}
	n := int64(-1)
	if len(cls) > 0 {
		var err error
		if n, err = parseContentLength(cls[0]); err != nil {
			return err
		}
	}
	bodyAllowed := bodyAllowedForStatus(status)
	var length int64 // what frames the body: a length, or -1 (chunked, or up to the close)
	switch {
	case method == http.MethodHead || !bodyAllowed:
		length = 0
	case chunked:
		delete(h, "Content-Length")
		length = -1
	case len(cls) > 0:
		length = n
	default:
		length = -1
	}
	res.ContentLength = length
	if method == http.MethodHead {
		res.ContentLength = n // what a GET would have got, as net/http reports it
	}

	if vv, ok := h["Trailer"]; ok && chunked {
		delete(h, "Trailer")
		trailer, err := announcedTrailer(vv)
		if err != nil {
			return err
		}
		res.Trailer = trailer
	}
	if length == -1 && !chunked && bodyAllowed {
		res.Close = true // the body ends when the backend closes
	}

	b := &r.body.f
	b.br, b.res = br, res
	switch {
	case chunked && (method == http.MethodHead || !bodyAllowed):
	case chunked:
		b.framing, b.chunked = framingChunked, httputil.NewChunkedReader(br)
	case length > 0:
		b.framing, b.remaining = framingLength, length
	case length == -1 && res.Close:
		b.framing = framingClose
	}
	res.Body = &r.body
	return nil
}

// announcedTrailer is the Trailer header's keys, canonical, with nil values (fixTrailer in
// net/http); nil when it names none.
func announcedTrailer(vv []string) (http.Header, error) {
	var trailer http.Header
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f == "" {
				continue
			}
			key := http.CanonicalHeaderKey(f)
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, fmt.Errorf("%w: %q", errTrailerKey, key)
			}
			if trailer == nil {
				trailer = http.Header{}
			}
			trailer[key] = nil
		}
	}
	return trailer, nil
}

func bodyAllowedForStatus(status int) bool {
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}

// parseContentLength accepts digits only (no sign, no space inside), up to 2^63-1.
func parseContentLength(s string) (int64, error) {
	cl := textproto.TrimString(s)
	if cl == "" {
		return 0, fmt.Errorf("%w: empty", errContentLength)
	}
	var n int64
	for i := 0; i < len(cl); i++ {
		c := cl[i]
		if !isDigit(c) || n > (1<<63-1-int64(c-'0'))/10 {
			return 0, fmt.Errorf("%w: %q", errContentLength, cl)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// readHead reads one head from br: the lines up to and including the empty line that ends
// it (a line is ended by LF, CR LF counts as one end). With statusLine, the first line is a
// status line, never the end, even when empty. EOF before the end is io.ErrUnexpectedEOF;
// other read errors (a timeout) are returned as they are.
//
// A head that fits in br's buffer (4 KiB: nearly all) is parsed from there: raw is then br's
// buffer itself, valid until br is read again, and its pending bytes are left in br for the
// caller to Discard once it has copied what it keeps. A longer head is read into a buffer of
// its own (pending 0).
func readHead(br *bufio.Reader, statusLine bool) (raw []byte, pending int, err error) {
	for n := 1; n <= br.Size(); n = br.Buffered() + 1 {
		// Peeking past what is buffered reads more (once, or up to an error).
		if _, err := br.Peek(n); err != nil {
			return nil, 0, headReadError(err)
		}
		buffered, _ := br.Peek(br.Buffered())
		if end := headEnd(buffered, statusLine); end > 0 {
			return buffered[:end], end, nil
		}
	}
	var buf []byte
	start, first := 0, statusLine
	for {
		line, err := br.ReadSlice('\n')
		if len(buf)+len(line) > maxHeadBytes {
			return nil, 0, errHeadTooLarge
		}
		buf = append(buf, line...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, 0, headReadError(err)
		}
		if l := buf[start:]; !first && (len(l) == 1 || len(l) == 2 && l[0] == '\r') {
			return buf, 0, nil
		}
		start, first = len(buf), false
	}
}

func headReadError(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// headEnd returns the length of the head at the start of buf, or -1 when buf does not hold
// all of it.
func headEnd(buf []byte, statusLine bool) int {
	i := 0
	if statusLine {
		nl := bytes.IndexByte(buf, '\n')
		if nl < 0 {
			return -1
		}
		i = nl + 1
	}
	for i < len(buf) {
		switch {
		case buf[i] == '\n':
			return i + 1
		case buf[i] == '\r' && i+1 < len(buf) && buf[i+1] == '\n':
			return i + 2
		}
		nl := bytes.IndexByte(buf[i:], '\n')
		if nl < 0 {
			return -1
		}
		i += nl + 1
	}
	return -1
}

// field is one header line of raw, found by parseHeader's first pass.
type field struct {
	key        string // the interned canonical key of a common header, or ""
	kOff, kLen int
	vOff, vLen int
}

// parseHeader parses header lines (each ended by LF or CR LF, the last one empty) as
// textproto's ReadMIMEHeader does, and returns them with prefix (the status line, or nil) as
// a string of its own. Nothing returned refers to raw, which may be the connection's buffer:
// prefix, the values and the keys that are not common headers (canonicalised) are copied
// into one string, of which they are substrings; common keys are interned. The map is sized
// for the lines, and the single values are sliced from one array.
func parseHeader(raw, prefix []byte) (http.Header, string, error) {
	return parseHeaderInto(raw, prefix, nil)
}

// parseHeaderInto is parseHeader into the map into, cleared first, or a new one when into is
// nil. The values never go in into's place: they are new, so that a caller that kept them (the
// edge's response header, to which relay hands them) keeps them as they were.
func parseHeaderInto(raw, prefix []byte, into http.Header) (http.Header, string, error) {
	var stack [32]field
	fields := stack[:0]
	size := len(prefix)
	for i := 0; ; {
		nl := bytes.IndexByte(raw[i:], '\n')
		start, end := i, i+nl
		i = end + 1
		if end > start && raw[end-1] == '\r' {
			end--
		}
		if end == start {
			break
		}
		if raw[start] == ' ' || raw[start] == '\t' {
			return nil, "", fmt.Errorf("%w: %q", errObsFold, raw[start:end])
		}
		for end > start && (raw[end-1] == ' ' || raw[end-1] == '\t') {
			end--
		}
		colon := bytes.IndexByte(raw[start:end], ':')
		if colon < 0 {
			return nil, "", fmt.Errorf("%w: missing colon: %q", errHeaderLine, raw[start:end])
		}
		f := field{kOff: start, kLen: colon, vOff: start + colon + 1}
		k := raw[start : start+colon]
		if !validHeaderName(k) {
			return nil, "", fmt.Errorf("%w: %q", errHeaderName, k)
		}
		for f.vOff < end && (raw[f.vOff] == ' ' || raw[f.vOff] == '\t') {
			f.vOff++
		}
		f.vLen = end - f.vOff
		for _, c := range raw[f.vOff:end] {
			if !validHeaderValueByte(c) {
				return nil, "", fmt.Errorf("%w: %q", errHeaderLine, raw[start:end])
			}
		}
		if f.key = commonKey(k); f.key == "" {
			size += f.kLen
		}
		size += f.vLen
		fields = append(fields, f)
	}

	var b strings.Builder
	b.Grow(size)
	b.Write(prefix)
	for _, f := range fields {
		if f.key == "" {
			upper := true
			for _, c := range raw[f.kOff : f.kOff+f.kLen] {
				if upper && 'a' <= c && c <= 'z' {
					c -= 'a' - 'A'
				} else if !upper && 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b.WriteByte(c)
				upper = c == '-'
			}
		}
		b.Write(raw[f.vOff : f.vOff+f.vLen])
	}
	s := b.String()

	h := into
	if h == nil {
		h = make(http.Header, len(fields))
	} else {
		clear(h)
	}
	strs := make([]string, len(fields))
	off := len(prefix)
	for _, f := range fields {
		key := f.key
		if key == "" {
			key, off = s[off:off+f.kLen], off+f.kLen
		}
		v := s[off : off+f.vLen]
		off += f.vLen
		if vv := h[key]; vv != nil {
			h[key] = append(vv, v)
			continue
		}
		// Capacity 1: appending to one value (a later duplicate, or a caller adding to the
		// header) copies rather than writing over the next key's.
		vv := strs[:1:1]
		strs = strs[1:]
		vv[0] = v
		h[key] = vv
	}
	return h, s[:len(prefix)], nil
}

// commonKey returns the canonical form of k when it is a common header, whatever its case;
// else "".
func commonKey(k []byte) string {
	if len(k) > maxCommonKey {
		return ""
	}
	var lower [maxCommonKey]byte
	for i, c := range k {
		lower[i] = toLowerASCII(c)
	}
	return commonKeys[string(lower[:len(k)])]
}

const maxCommonKey = 32

// commonKeys maps the lower-case form of headers that backends send often (some frameworks
// send lower case) to their canonical form.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"accept-ranges", "access-control-allow-credentials", "access-control-allow-headers",
		"access-control-allow-methods", "access-control-allow-origin", "access-control-expose-headers",
		"access-control-max-age", "age", "cache-control", "connection", "content-disposition",
		"content-encoding", "content-language", "content-length", "content-location",
		"content-range", "content-security-policy", "content-type", "cross-origin-embedder-policy",
		"cross-origin-opener-policy", "cross-origin-resource-policy", "date", "etag", "expires",
		"keep-alive", "last-modified", "link", "location", "permissions-policy", "pragma",
		"referrer-policy", "retry-after", "server", "set-cookie", "strict-transport-security",
		"trailer", "transfer-encoding", "upgrade", "vary", "www-authenticate",
		"x-content-type-options", "x-frame-options", "x-powered-by", "x-request-id",
		"x-xss-protection",
	} {
		m[k] = textproto.CanonicalMIMEHeaderKey(k)
	}
	return m
}()

func toLowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// trimOWS trims spaces and tabs from both ends of s.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// tokenChars are the bytes of an RFC 9110 token (a field name).
var tokenChars = func() (t [256]bool) {
	for _, c := range []byte("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		t[c] = true
	}
	return t
}()

func validHeaderName(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// validHeaderValueByte is textproto's rule: visible ASCII, space, tab and obs-text (>= 0x80).
func validHeaderValueByte(c byte) bool {
	return c >= 0x20 && c != 0x7f || c == '\t'
}

// hasToken tells whether the comma-separated lists in vals hold token, ASCII
// case-insensitively, after trimming spaces and tabs (httpguts.HeaderValuesContainsToken).
func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for v != "" {
			var item string
			item, v, _ = strings.Cut(v, ",")
			if asciiEqualFold(trimOWS(item), token) {
				return true
			}
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only: no Unicode folding (the Kelvin sign is
// not a K in "chunked").
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if toLowerASCII(s[i]) != toLowerASCII(t[i]) {
			return false
		}
	}
	return true
}

// framing is how a response body is delimited.
type framing uint8

const (
	framingNone    framing = iota // no body: HEAD, 1xx, 204, 304, Content-Length: 0
	framingLength                 // Content-Length bytes
	framingChunked                // chunked, then a trailer
	framingClose                  // up to the backend's close
)

// framedBody reads one response body from the connection's reader, as net/http's body does:
// io.ErrUnexpectedEOF for a body shorter than its Content-Length, io.EOF with the last bytes,
// and the trailer of a chunked body into res.Trailer.
type framedBody struct {
	br        *bufio.Reader
	res       *http.Response
	framing   framing
	remaining int64     // framingLength: bytes left
	chunked   io.Reader // framingChunked
}

func (b *framedBody) Read(p []byte) (int, error) {
	switch b.framing {
	case framingLength:
		if b.remaining <= 0 {
			return 0, io.EOF
		}
		if int64(len(p)) > b.remaining {
			p = p[:b.remaining]
		}
		n, err := b.br.Read(p)
		b.remaining -= int64(n)
		switch {
		case err == io.EOF && b.remaining > 0:
			err = io.ErrUnexpectedEOF
		case err == nil && b.remaining == 0:
			err = io.EOF
		}
		return n, err
	case framingChunked:
		n, err := b.chunked.Read(p)
		if err == io.EOF {
			b.framing = framingNone
			if terr := b.readTrailer(); terr != nil {
				err = terr
			}
		}
		return n, err
	case framingClose:
		return b.br.Read(p)
	}
	return 0, io.EOF
}

// readTrailer reads what follows the last chunk, as net/http does: the empty line, or trailer
// fields up to one, which must be in sight within the reader's buffer (a trailer is at most
// that long) and go into res.Trailer, over the announced keys' nil values.
func (b *framedBody) readTrailer() error {
	buf, err := b.br.Peek(2)
	if len(buf) == 2 && buf[0] == '\r' && buf[1] == '\n' {
		_, _ = b.br.Discard(2) // cannot fail: buffered
		return nil
	}
	if len(buf) < 2 {
		if err != nil && err != io.EOF {
			return err // a read timeout stays one
		}
		return errTrailerEOF
	}
	if !seeUpcomingDoubleCRLF(b.br) {
		return errTrailerTooLong
	}
	raw, pending, err := readHead(b.br, false)
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return errTrailerEOF
		}
		return err
	}
	trailer, _, err := parseHeader(raw, nil)
	_, _ = b.br.Discard(pending) // cannot fail: buffered; raw is not used past here
	if err != nil {
		return fmt.Errorf("backend response trailer: %w", err)
	}
	if b.res.Trailer == nil {
		b.res.Trailer = trailer
		return nil
	}
	for k, vv := range trailer {
		b.res.Trailer[k] = vv
	}
	return nil
}

// seeUpcomingDoubleCRLF tells whether CR LF CR LF comes before the reader's buffer is full.
func seeUpcomingDoubleCRLF(r *bufio.Reader) bool {
	for peekSize := 4; ; peekSize++ {
		buf, err := r.Peek(peekSize)
		if bytes.HasSuffix(buf, []byte("\r\n\r\n")) {
			return true
		}
		if err != nil {
			return false
		}
	}
}
