package h1

import (
	"bufio"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func parse(raw string) (*http.Request, error) {
	h, err := readHead(bufio.NewReaderSize(strings.NewReader(raw), 64), &headBuf{}, 1024)
	if err != nil {
		return nil, err
	}
	r := new(http.Request)
	if herr := parseRequest(h, r); herr != nil {
		return nil, herr
	}
	return r, nil
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		desc, raw string
		status    int // 0: accepted
		check     func(t *testing.T, r *http.Request)
	}{
		{desc: "origin form", raw: "GET /a/b?x=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: t\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if r.Method != "GET" || r.URL.Path != "/a/b" || r.URL.RawQuery != "x=1" || r.Host != "example.org" || r.RequestURI != "/a/b?x=1" {
				t.Errorf("got %s %s %q host %q uri %q", r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.RequestURI)
			}
			if _, ok := r.Header["Host"]; ok {
				t.Error("Host left in the header map")
			}
			if r.Header.Get("User-Agent") != "t" || r.Close || r.ContentLength != 0 {
				t.Errorf("header %v close %v length %d", r.Header, r.Close, r.ContentLength)
			}
		}},
		{desc: "bare LF line ends", raw: "GET / HTTP/1.1\nHost: a.test\n\n", check: func(t *testing.T, r *http.Request) {
			if r.Host != "a.test" {
				t.Errorf("host %q", r.Host)
			}
		}},
		{desc: "leading empty line", raw: "\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n"},
		{desc: "lowercase names are canonicalised, values trimmed", raw: "GET / HTTP/1.1\r\nhost: a.test\r\nx-thing: \t v \t\r\nX-THING: w\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if got := r.Header["X-Thing"]; len(got) != 2 || got[0] != "v" || got[1] != "w" {
				t.Errorf("X-Thing %q", got)
			}
		}},
		{desc: "absolute form wins over Host", raw: "GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if r.Host != "b.test" || r.URL.Path != "/x" {
				t.Errorf("host %q path %q", r.Host, r.URL.Path)
			}
		}},
		{desc: "HTTP/1.0 closes unless keep-alive", raw: "GET / HTTP/1.0\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if !r.Close || r.ProtoMinor != 0 {
				t.Errorf("close %v minor %d", r.Close, r.ProtoMinor)
			}
		}},
		{desc: "HTTP/1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if r.Close {
				t.Error("closes")
			}
		}},
		{desc: "Connection: close", raw: "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if !r.Close {
				t.Error("keeps")
			}
		}},
		{desc: "content length", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\nContent-Length: 42\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if r.ContentLength != 42 || len(r.Header["Content-Length"]) != 1 {
				t.Errorf("length %d %q", r.ContentLength, r.Header["Content-Length"])
			}
		}},
		{desc: "chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if r.ContentLength != -1 || len(r.TransferEncoding) != 1 || r.Header.Get("Transfer-Encoding") != "" {
				t.Errorf("length %d te %q header %q", r.ContentLength, r.TransferEncoding, r.Header)
			}
		}},
		{desc: "OPTIONS *", raw: "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
		{desc: "CONNECT authority", raw: "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", check: func(t *testing.T, r *http.Request) {
			if r.URL.Host != "a.test:443" || r.URL.Scheme != "" {
				t.Errorf("url %#v", r.URL)
			}
		}},

		{desc: "no Host", raw: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{desc: "two Hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
		{desc: "Host with space", raw: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", status: 400},
		{desc: "CL and TE", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{desc: "TE and CL", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", status: 400},
		{desc: "TE not chunked", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501},
		{desc: "TE list", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
		{desc: "two TE", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501},
		{desc: "TE in 1.0", raw: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{desc: "differing CL", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", status: 400},
		{desc: "signed CL", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", status: 400},
		{desc: "CL list", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", status: 400},
		{desc: "CL overflow", raw: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", status: 400},
		{desc: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", status: 400},
		{desc: "space before colon", raw: "GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n", status: 400},
		{desc: "no colon", raw: "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n", status: 400},
		{desc: "empty name", raw: "GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", status: 400},
		{desc: "CR in value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", status: 400},
		{desc: "NUL in value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", status: 400},
		{desc: "two spaces in request line", raw: "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "tab in target", raw: "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "bad method", raw: "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "relative target", raw: "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "ftp scheme", raw: "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "asterisk with GET", raw: "GET * HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "HTTP/2.0", raw: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505},
		{desc: "HTTP/1.1x", raw: "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", status: 400},
		{desc: "lowercase version", raw: "GET / http/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "three empty lines", raw: "\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", status: 400},
		{desc: "head over the limit", raw: "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("x", 1100) + "\r\n\r\n", status: 431},
		{desc: "request line over the limit", raw: "GET /" + strings.Repeat("x", 1100) + " HTTP/1.1\r\n\r\n", status: 400},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := parse(tc.raw)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					tc.check(t, r)
				}
				return
			}
			herr, ok := err.(*headError)
			if !ok || herr.status != tc.status {
				t.Fatalf("got %v, %v; want status %d", r, err, tc.status)
			}
		})
	}
}

// FuzzParseRequest: no input panics, and whatever is accepted is framed one way only.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET http://a/b HTTP/1.0\nConnection: keep-alive\n\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := parse(raw)
		if err != nil {
			return
		}
		_, hasCL := r.Header["Content-Length"]
		if hasCL && len(r.TransferEncoding) > 0 {
			t.Fatalf("accepted with both framings: %q", raw)
		}
		if r.ProtoMajor != 1 || r.ProtoMinor > 1 {
			t.Fatalf("accepted version %q", r.Proto)
		}
		if !httpguts.ValidHostHeader(r.Host) {
			t.Fatalf("accepted Host %q", r.Host)
		}
		for k, vv := range r.Header {
			if k != http.CanonicalHeaderKey(k) {
				t.Fatalf("name %q not canonical", k)
			}
			for _, v := range vv {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("value %q of %s has a control character", v, k)
				}
			}
		}
	})
}

// originFormCases are targets of the fast path and of its fallbacks.
var originFormCases = []struct {
	target string
	fast   bool // parseOriginForm takes it
}{
	{"/", true},
	{"/a/b/c.html", true},
	{"/a/b?x=1&y=2", true},
	{"/a?x=%20y&z=a%2Fb", true},               // a query is kept raw, escapes and all
	{"/api/v1/items;id=3,4:5@host$x+y", true}, // sub-delimiters are left alone in paths
	{"//double/slash", true},
	{"/a?b?c", true},
	{"/a%20b", false}, // unescaped: Path and RawPath differ
	{"/a%2Fb", false}, // RawPath keeps the escaped slash
	{"/a%zz", false},  // invalid escape: an error
	{"/a?", false},    // ForceQuery
	{"/a!b", false},   // escaped by the URL package when re-encoded: RawPath is set
	{"/caf\xc3\xa9", false},
	{"/a\"b", false},
	{"a/b", false},
	{"*", false},
	{"http://h/p", false},
}

func TestParseOriginForm(t *testing.T) {
	for _, tc := range originFormCases {
		u, ok := parseOriginForm(tc.target)
		if ok != tc.fast {
			t.Errorf("%q: fast path %v, want %v", tc.target, ok, tc.fast)
		}
		if !ok {
			continue
		}
		want, err := url.ParseRequestURI(tc.target)
		if err != nil || *u != *want {
			t.Errorf("%q: got %#v, url.ParseRequestURI %#v, %v", tc.target, u, want, err)
		}
	}
	// The URL package escapes byte by byte: every byte the fast path takes, alone in a path.
	for c := 0x21; c < 0x100; c++ {
		target := "/a" + string([]byte{byte(c)}) + "b?q"
		u, ok := parseOriginForm(target)
		if !ok {
			continue
		}
		want, err := url.ParseRequestURI(target)
		if err != nil || *u != *want {
			t.Errorf("byte %#x: got %#v, url.ParseRequestURI %#v, %v", c, u, want, err)
		}
	}
}

// FuzzParseOriginForm: whatever the fast path takes, url.ParseRequestURI parses to the same URL.
// Only targets parseTarget lets through (no spaces or control characters) are compared.
func FuzzParseOriginForm(f *testing.F) {
	for _, tc := range originFormCases {
		f.Add(tc.target)
	}
	f.Fuzz(func(t *testing.T, target string) {
		for i := 0; i < len(target); i++ {
			if c := target[i]; c <= ' ' || c == 0x7f {
				return
			}
		}
		u, ok := parseOriginForm(target)
		if !ok {
			return
		}
		want, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("%q: fast path took what url.ParseRequestURI refuses: %v", target, err)
		}
		if *u != *want {
			t.Fatalf("%q: got %#v, url.ParseRequestURI %#v", target, u, want)
		}
	})
}
