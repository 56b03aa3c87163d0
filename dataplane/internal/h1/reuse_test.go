package h1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNothingCarriesOver: requests on one connection share its response state and head
// scratch; none may see a header, trailer, interim header or request header of another.
func TestNothingCarriesOver(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/first":
			h.Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			h.Set("X-One", "1")
			h.Add("Set-Cookie", "a=1")
			h.Add("Set-Cookie", "b=2")
			h.Set("Trailer", "X-Sum")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush() // chunked: the trailers go out
			io.WriteString(w, "one")
			h.Set("X-Sum", "1")
			h.Set(http.TrailerPrefix+"X-Late", "y")
		case "/hints":
			h.Set("X-Two", "2")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "two")
		case "/many":
			for i := range maxKeptHeader + 10 {
				h.Set("X-Many-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "v")
			}
		default:
			// The request headers, so that a request can be checked for the last one's.
			keys := make([]string, 0, len(r.Header))
			for k := range r.Header {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			io.WriteString(w, strings.Join(keys, ","))
		}
	}))
	get := func(path, extra string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n" + extra + "\r\n" }
	raw := get("/first", "X-Req-One: 1\r\nX-Req-Two: 2\r\nX-Req-Three: 3\r\n") + get("/plain", "") + get("/hints", "") +
		get("/plain", "X-Req-Four: 4\r\n") + get("/many", "") + get("/plain", "Connection: close\r\n")
	resps, bodies, closed := exchange(t, addr, raw)
	for i, want := range []struct {
		status  int
		keys    string // response header names, sorted
		body    string
		trailer string // trailer names, sorted
	}{
		{103, "Link", "", ""},
		{200, "Date,Link,Set-Cookie,Transfer-Encoding,X-One", "one", "X-Late,X-Sum"}, // Trailer: in r.Trailer
		{200, "Content-Length,Date", "", ""},
		{103, "X-Two", "", ""},
		{200, "Content-Length,Date,X-Two", "two", ""},
		{200, "Content-Length,Date", "X-Req-Four", ""},
		{200, "", "", ""},                              // /many: checked below
		{200, "Content-Length,Date", "Connection", ""}, // Connection: close is r.Close
	} {
		if i >= len(resps) {
			t.Fatalf("%d responses, want 8 (closed %v)", len(resps), closed)
		}
		r := resps[i]
		if i == 6 {
			if len(r.Header) < maxKeptHeader {
				t.Errorf("response 6: %d headers", len(r.Header))
			}
			continue
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range r.Header {
				if !yield(k) {
					return
				}
			}
		})
		if len(r.TransferEncoding) > 0 {
			keys = append(keys, "Transfer-Encoding")
			slices.Sort(keys)
		}
		tkeys := make([]string, 0, len(r.Trailer))
		for k := range r.Trailer {
			tkeys = append(tkeys, k)
		}
		slices.Sort(tkeys)
		if r.StatusCode != want.status || strings.Join(keys, ",") != want.keys || bodies[i] != want.body || strings.Join(tkeys, ",") != want.trailer {
			t.Errorf("response %d: %d headers %v body %q trailers %v; want %d %s %q %s",
				i, r.StatusCode, keys, bodies[i], tkeys, want.status, want.keys, want.body, want.trailer)
		}
	}
	if len(resps) != 8 || !closed {
		t.Errorf("%d responses, closed %v", len(resps), closed)
	}
}

// TestStaleWriter: a handler that keeps its ResponseWriter past its return (against the
// contract) and uses it while the next request is served, or between requests, cannot touch
// the next response nor write on the connection.
func TestStaleWriter(t *testing.T) {
	stale := make(chan http.ResponseWriter, 1)
	inSecond := make(chan struct{})
	staleDone := make(chan struct{})
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/keep":
			stale <- w
			io.WriteString(w, "kept")
		case "/second":
			close(inSecond)
			<-staleDone
			w.Header().Set("X-Second", "2")
			io.WriteString(w, "second")
		}
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	roundTrip := func(raw string) (*http.Response, string) {
		t.Helper()
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	if _, body := roundTrip("GET /keep HTTP/1.1\r\nHost: a\r\n\r\n"); body != "kept" {
		t.Fatalf("body %q", body)
	}
	w := <-stale

	use := func(when string) {
		w.Header().Set("X-Stale", when)
		w.WriteHeader(http.StatusTeapot)
		if _, err := io.WriteString(w, "junk "+when); !errors.Is(err, errStaleWriter) {
			t.Errorf("%s: write: %v", when, err)
		}
		if err := http.NewResponseController(w).Flush(); !errors.Is(err, errStaleWriter) {
			t.Errorf("%s: flush: %v", when, err)
		}
		if err := http.NewResponseController(w).SetReadDeadline(time.Now()); !errors.Is(err, errStaleWriter) {
			t.Errorf("%s: read deadline: %v", when, err)
		}
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now()); !errors.Is(err, errStaleWriter) {
			t.Errorf("%s: write deadline: %v", when, err)
		}
		if _, _, err := w.(http.Hijacker).Hijack(); !errors.Is(err, errStaleWriter) {
			t.Errorf("%s: hijack: %v", when, err)
		}
	}
	use("between requests")

	// During the next request, while its handler runs.
	if _, err := io.WriteString(conn, "GET /second HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-inSecond
	use("during the next request")
	close(staleDone)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != "second" || resp.Header.Get("X-Second") != "2" || resp.Header.Get("X-Stale") != "" {
		t.Errorf("second response %d %v %q", resp.StatusCode, resp.Header, b)
	}
	if n := br.Buffered(); n != 0 {
		t.Errorf("%d stray bytes after the second response", n)
	}
}
