package listen_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/listen"
)

// pathLog is a handler that records the paths it served.
type pathLog struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	p.mu.Lock()
	p.paths = append(p.paths, r.URL.Path)
	p.mu.Unlock()
	fmt.Fprintf(w, "served %s", r.URL.Path)
}

func (p *pathLog) served() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}

// raw sends request bytes on a new TCP connection and returns every response read until the
// server closes the connection (or 5 s pass), and whether it closed it.
func raw(t *testing.T, addr, request string) (resps []*http.Response, closed bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return rawConn(t, conn, request)
}

// rawConn is raw on a connection already made (a TLS one, say); it closes conn.
func rawConn(t *testing.T, conn net.Conn, request string) (resps []*http.Response, closed bool) {
	t.Helper()
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return resps, false
			}
			return resps, true // EOF: closed (a reset also counts)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resps = append(resps, resp)
	}
}

// smuggle is a request that a front proxy framing by Content-Length reads as one POST, while a
// server framing by Transfer-Encoding reads a POST with an empty chunked body followed by a
// second request, GET /smuggled.
func smuggle(host string) string {
	hidden := "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"
	return "POST /upload HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: " + fmt.Sprint(len(hidden)) +
		"\r\nTransfer-Encoding: chunked\r\n\r\n" + hidden
}

// TestNetHTTPAloneServesSmuggledRequest records what Go's server does without the Guard: it
// frames the CL+TE request by its chunked body and then serves the rest of the bytes as a
// second request on the same connection. If this test fails, net/http changed and the Guard's
// doc comment needs a look.
func TestNetHTTPAloneServesSmuggledRequest(t *testing.T) {
	log := &pathLog{}
	var sawContentLength []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.mu.Lock()
		defer log.mu.Unlock()
		sawContentLength = append(sawContentLength, fmt.Sprintf("%s CL=%d header=%q TE=%q",
			r.URL.Path, r.ContentLength, r.Header.Get("Content-Length"), r.TransferEncoding))
		log.paths = append(log.paths, r.URL.Path)
		fmt.Fprintf(w, "served %s", r.URL.Path)
	}))
	defer srv.Close()
	resps, _ := raw(t, srv.Listener.Addr().String(), smuggle("a.test"))
	if got := log.served(); len(got) != 2 || got[1] != "/smuggled" || len(resps) != 2 {
		t.Fatalf("net/http served %v with %d responses; expected it to serve the smuggled request", got, len(resps))
	}
	// What the handler can see of the first request: no trace of its Content-Length.
	log.mu.Lock()
	defer log.mu.Unlock()
	if want := `/upload CL=-1 header="" TE=["chunked"]`; sawContentLength[0] != want {
		t.Errorf("handler saw %s, want %s", sawContentLength[0], want)
	}
}

// TestSmuggledRequestRefused: on our listeners the same bytes get 400 and the connection closes,
// plain and TLS alike; nothing reaches the handler.
func TestSmuggledRequestRefused(t *testing.T) {
	log := &pathLog{}
	e := start(t, log, nil)
	for _, dial := range []func() (net.Conn, error){
		func() (net.Conn, error) { return net.Dial("tcp", e.srv.HTTPAddr().String()) },
		func() (net.Conn, error) {
			return tls.Dial("tcp", e.srv.TLSAddr().String(), &tls.Config{ServerName: "www.example.org", RootCAs: e.pool, NextProtos: []string{"http/1.1"}})
		},
	} {
		conn, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		resps, closed := rawConn(t, conn, smuggle("www.example.org"))
		if len(resps) != 1 || !closed || resps[0].StatusCode != http.StatusBadRequest {
			t.Fatalf("got %d responses, closed %v; want one 400 and the connection closed", len(resps), closed)
		}
	}
	if got := log.served(); len(got) != 0 {
		t.Errorf("served %v, want nothing", got)
	}

	// A chunked request without Content-Length and one with a declared length both keep their
	// connection: the next request is served.
	addr := e.srv.HTTPAddr().String()
	for _, first := range []string{
		"POST /a HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 3\r\n\r\nabc",
		"POST /a HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	} {
		if resps, _ := raw(t, addr, first+"GET /b HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n"); len(resps) != 2 {
			t.Errorf("pipelined after %q: %d responses, want 2", first, len(resps))
		}
	}
}

func TestHostileRequests(t *testing.T) {
	log := &pathLog{}
	e := start(t, log, nil)
	addr := e.srv.HTTPAddr().String()
	const follow = "GET /next HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n"
	testCases := []struct {
		desc       string
		request    string
		wantStatus int
		wantServed bool // the handler saw the first request
	}{
		{desc: "well-formed", request: "GET /ok HTTP/1.1\r\nHost: plain.test\r\n\r\n", wantStatus: 200, wantServed: true},
		{desc: "host with port", request: "GET /ok HTTP/1.1\r\nHost: plain.test:8080\r\n\r\n", wantStatus: 200, wantServed: true},
		{desc: "IPv6 host", request: "GET /ok HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", wantStatus: 200, wantServed: true},
		{desc: "no Host in HTTP/1.1 (h1)", request: "GET /x HTTP/1.1\r\n\r\n", wantStatus: 400},
		{desc: "empty Host (Guard)", request: "GET /x HTTP/1.1\r\nHost:\r\n\r\n", wantStatus: 400},
		{desc: "empty Host in HTTP/1.0 (Guard)", request: "GET /x HTTP/1.0\r\n\r\n", wantStatus: 400},
		{desc: "Host with a slash (Guard)", request: "GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n", wantStatus: 400},
		{desc: "Host with userinfo (Guard)", request: "GET /x HTTP/1.1\r\nHost: user@plain.test\r\n\r\n", wantStatus: 400},
		{desc: "Host with quote (Guard)", request: "GET /x HTTP/1.1\r\nHost: a'b\r\n\r\n", wantStatus: 400},
		{desc: "Host with a space (h1)", request: "GET /x HTTP/1.1\r\nHost: a b\r\n\r\n", wantStatus: 400},
		{desc: "two Hosts (h1)", request: "GET /x HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", wantStatus: 400},
		{desc: "absolute-form with a bad host (Guard)", request: "GET http://a%2fb/x HTTP/1.1\r\nHost: plain.test\r\n\r\n", wantStatus: 400},
		{desc: "differing Content-Lengths (h1)", request: "POST /x HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", wantStatus: 400},
		{desc: "invalid Content-Length (h1)", request: "POST /x HTTP/1.1\r\nHost: plain.test\r\nContent-Length: +3\r\n\r\nabc", wantStatus: 400},
		{desc: "Transfer-Encoding other than chunked (h1)", request: "POST /x HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", wantStatus: 501},
		{desc: "two Transfer-Encoding headers (h1)", request: "POST /x HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantStatus: 501},
		// RFC 9112 §5.2 lets a server refuse obs-fold or replace it with a space (net/http does):
		// h1 refuses, a proxy should not forward what its backends may read differently.
		{desc: "obsolete line folding (h1)", request: "GET /x HTTP/1.1\r\nHost: plain.test\r\nX-A: a\r\n b\r\n\r\n", wantStatus: 400},
		{desc: "space before colon (h1)", request: "GET /x HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding : chunked\r\n\r\n", wantStatus: 400},
		{desc: "CL and TE (h1)", request: "POST /x HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{desc: "TE in HTTP/1.0 (h1)", request: "POST /x HTTP/1.0\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", wantStatus: 400},
		{desc: "HTTP/2.0 request line (h1)", request: "GET /x HTTP/2.0\r\nHost: plain.test\r\n\r\n", wantStatus: 505},
		{desc: "Expect other than 100-continue (h1)", request: "POST /x HTTP/1.1\r\nHost: plain.test\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", wantStatus: 417},
		{desc: "header block over the limit (h1)", request: "GET /x HTTP/1.1\r\nHost: plain.test\r\nX-Big: " + strings.Repeat("b", 70<<10) + "\r\n\r\n", wantStatus: 431},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			before := len(log.served())
			resps, closed := raw(t, addr, tc.request+follow)
			if len(resps) == 0 {
				t.Fatal("no response")
			}
			if resps[0].StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resps[0].StatusCode, tc.wantStatus)
			}
			served := log.served()[before:]
			if got := len(served) > 0 && served[0] != "/next"; got != tc.wantServed {
				t.Errorf("handler served %v; want the first request served: %v", served, tc.wantServed)
			}
			if tc.wantStatus >= 400 || strings.Contains(tc.request, "Transfer-Encoding") {
				// Refused or chunked: the connection ends; what followed is never served.
				if len(resps) != 1 || !closed {
					t.Errorf("%d responses, closed %v; want 1 and closed", len(resps), closed)
				}
				for _, p := range served {
					if p == "/next" {
						t.Error("the request after a refused one was served")
					}
				}
			}
		})
	}
}

func TestGuardOnTLS(t *testing.T) {
	log := &pathLog{}
	e := start(t, log, nil)
	for _, c := range e.clients() {
		t.Run(c.proto, func(t *testing.T) {
			resp, body := get(t, c.client, "https://www.example.org:"+e.tlsPort()+"/tls")
			if resp.StatusCode != 200 || body != "served /tls" {
				t.Errorf("status %d body %q", resp.StatusCode, body)
			}
		})
	}
}

func TestGuardReject(t *testing.T) {
	var got []string
	reject := func(w http.ResponseWriter, r *http.Request, status int, reason string) {
		got = append(got, fmt.Sprintf("%d %s", status, reason))
		w.WriteHeader(status)
	}
	g := listen.NewGuard(&pathLog{}, reject)
	for _, host := range []string{"", "a/b"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Host = host
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		if w.Code != 400 || w.Header().Get("Connection") != "close" {
			t.Errorf("host %q: %d, Connection %q", host, w.Code, w.Header().Get("Connection"))
		}
	}
	want := []string{"400 " + listen.ReasonEmptyHost, "400 " + listen.ReasonInvalidHost}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reject calls %v, want %v", got, want)
	}

}

func TestSlowlorisIsCut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := start(t, &pathLog{}, func(c *listen.Config) { c.Limits.ReadHeaderTimeout = timeout })
	conn, err := net.DialTimeout("tcp", e.srv.HTTPAddr().String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Trickle a header line every 50 ms for up to 10 s; the server must hang up long before.
	began := time.Now()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: plain.test\r\n"); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn)
		readErr <- err
	}()
	for i := 0; ; i++ {
		select {
		case <-readErr:
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("cut after %v", d)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Since(began) > 10*time.Second {
			t.Fatal("a client trickling headers was not cut off")
		}
		if _, err := fmt.Fprintf(conn, "X-Trickle-%d: x\r\n", i); err != nil {
			// The server closed: the write fails once the peer reset.
			<-readErr
			return
		}
	}
}
