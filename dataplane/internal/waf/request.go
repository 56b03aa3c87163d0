package waf

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// Inspect looks for attacks in r and returns the first match, or the zero Match. It reads
// the start of a form, JSON or multipart body (at most max_request_size bytes) and puts it
// back in front of the rest of r.Body, so the backend receives the body whole; a read error
// is kept and returned by the replacement body where it happened.
func (p *Policy) Inspect(r *http.Request) Match {
	if p == nil {
		return Match{}
	}
	rules, fields := p.active(r.URL.Path)
	if rules == 0 {
		return Match{}
	}
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	if m := check(rules, LocPath, "", path, false); m.Found() {
		return m
	}
	if m := pairs(rules, fields, r.URL.RawQuery, LocQuery); m.Found() {
		return m
	}
	if m := p.headers(rules, fields, r.Header); m.Found() {
		return m
	}
	return p.body(rules, fields, r)
}

// structuredHeaders have a grammar of their own (media types, dates, tokens, credentials)
// that SQL and script detectors would misread; only the protocol and code rules read them.
var structuredHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true, "Accept-Charset": true,
	"Authorization": true, "Proxy-Authorization": true, "Cache-Control": true, "Connection": true,
	"Content-Length": true, "Content-Type": true, "Content-Encoding": true, "Dnt": true, "Te": true,
	"If-Match": true, "If-None-Match": true, "If-Modified-Since": true, "If-Unmodified-Since": true,
	"If-Range": true, "Pragma": true, "Priority": true, "Range": true, "Upgrade": true,
	"Upgrade-Insecure-Requests": true, "Sec-Fetch-Dest": true, "Sec-Fetch-Mode": true,
	"Sec-Fetch-Site": true, "Sec-Fetch-User": true, "Sec-Ch-Ua": true, "Sec-Ch-Ua-Mobile": true,
	"Sec-Ch-Ua-Platform": true, "Sec-Websocket-Key": true, "Sec-Websocket-Version": true,
	"Sec-Websocket-Extensions": true, "Sec-Websocket-Protocol": true, "X-Request-Id": true,
}

const structuredRules = ruleSet(1<<SuspiciousHeaders | 1<<CommandInjection)

// headers inspects header values, and cookies one by one, up to maxHeaders bytes.
func (p *Policy) headers(rules ruleSet, fields []exclusion, h http.Header) Match {
	var used int64
	for name, values := range h {
		for _, v := range values {
			used += int64(len(name) + len(v) + 4)
			if p.maxHeaders > 0 && used > p.maxHeaders {
				return Match{}
			}
			hr := rulesFor(rules, fields, name)
			if name == "Cookie" {
				if m := cookies(hr, fields, v); m.Found() {
					return m
				}
				continue
			}
			if structuredHeaders[name] {
				hr &= structuredRules
			}
			if m := check(hr, LocHeader, name, v, false); m.Found() {
				return m
			}
		}
	}
	return Match{}
}

// cookies inspects the values of one Cookie header.
func cookies(rules ruleSet, fields []exclusion, header string) Match {
	for header != "" {
		var pair string
		pair, header, _ = strings.Cut(header, ";")
		name, value, _ := strings.Cut(strings.TrimSpace(pair), "=")
		cr := rulesFor(rules, fields, name)
		if m := check(cr, LocCookie, name, name, false); m.Found() {
			return m
		}
		if m := check(cr, LocCookie, name, value, false); m.Found() {
			return m
		}
	}
	return Match{}
}

// pairs inspects the names and values of a query or form body.
func pairs(rules ruleSet, fields []exclusion, raw string, loc Location) Match {
	nameLoc := LocQueryName
	if loc == LocBody {
		nameLoc = LocBodyName
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		rawName, value, _ := strings.Cut(pair, "=")
		name := rawName
		if strings.ContainsAny(name, "%+") {
			if n, err := url.QueryUnescape(name); err == nil {
				name = n
			}
		}
		fr := rulesFor(rules, fields, name)
		if m := check(fr, nameLoc, name, rawName, true); m.Found() {
			return m
		}
		if m := check(fr, loc, name, value, true); m.Found() {
			return m
		}
	}
	return Match{}
}

// body inspects the fields of a form, JSON or multipart body.
func (p *Policy) body(rules ruleSet, fields []exclusion, r *http.Request) Match {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return Match{}
	}
	ct := r.Header.Get("Content-Type")
	media, _, _ := strings.Cut(ct, ";")
	media = strings.ToLower(strings.TrimSpace(media))
	var kind int
	switch {
	case media == "application/x-www-form-urlencoded":
		kind = 1
	case media == "application/json" || strings.HasSuffix(media, "+json"):
		kind = 2
	case media == "multipart/form-data":
		kind = 3
	default:
		return Match{} // files, images, text: not parsed as fields
	}
	data := p.readBody(r)
	switch kind {
	case 1:
		return pairs(rules, fields, string(data), LocBody)
	case 2:
		return jsonFields(rules, fields, data)
	default:
		return multipartFields(rules, fields, ct, data)
	}
}

// readBody reads the first maxBody bytes of r.Body and replaces r.Body with a reader that
// gives them again, then the rest.
func (p *Policy) readBody(r *http.Request) []byte {
	size := p.maxBody
	if r.ContentLength > 0 && r.ContentLength < size {
		size = r.ContentLength
	}
	var buf bytes.Buffer
	if size <= 64<<10 {
		buf.Grow(int(size))
	}
	_, err := buf.ReadFrom(io.LimitReader(r.Body, p.maxBody))
	rb := &replayBody{data: buf.Bytes(), rest: r.Body, err: err}
	if err == nil && int64(buf.Len()) < p.maxBody {
		rb.err = io.EOF // the whole body: nothing more to read
	}
	r.Body = rb
	return rb.data
}

// replayBody gives the bytes the WAF read, then what is left of the original body (or the
// error that ended the WAF's read).
type replayBody struct {
	data []byte
	rest io.ReadCloser
	err  error
}

func (b *replayBody) Read(p []byte) (int, error) {
	if len(b.data) > 0 {
		n := copy(p, b.data)
		b.data = b.data[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rest.Read(p)
}

func (b *replayBody) Close() error { return b.rest.Close() }

// multipartFields inspects the values of a multipart form and the names of its files (not
// their contents).
func multipartFields(rules ruleSet, fields []exclusion, ct string, data []byte) Match {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil || params["boundary"] == "" {
		return Match{}
	}
	mr := multipart.NewReader(bytes.NewReader(data), params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			return Match{}
		}
		name := part.FormName()
		fr := rulesFor(rules, fields, name)
		if file := part.FileName(); file != "" {
			if m := check(fr, LocFileName, name, file, false); m.Found() {
				return m
			}
			continue
		}
		value, err := io.ReadAll(part)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return Match{}
		}
		if m := check(fr, LocBody, name, string(value), false); m.Found() {
			return m
		}
	}
}
