package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs a Server with h on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, opts ...func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s := &Server{Handler: h, ErrorLog: log.New(&syncWriter{w: &logs}, "", 0)}
	for _, o := range opts {
		o(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.w)
}

// exchange writes raw on a new connection and reads responses (for requests with method) until
// the connection closes or nothing comes for a while.
func exchange(t *testing.T, addr, raw string, methods ...string) (resps []*http.Response, bodies []string, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	for i := 0; ; i++ {
		method := http.MethodGet
		if i < len(methods) {
			method = methods[i]
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			var ne net.Error
			return resps, bodies, !(errors.As(err, &ne) && ne.Timeout())
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		resps, bodies = append(resps, resp), append(bodies, string(b))
		if resp.Close {
			_, err := br.ReadByte()
			return resps, bodies, err != nil
		}
	}
}

func TestKeepAliveAndFraming(t *testing.T) {
	big := strings.Repeat("b", pendingMax+1)
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			io.WriteString(w, "hello")
		case "/big":
			io.WriteString(w, big)
		case "/declared":
			w.Header().Set("Content-Length", "3")
			io.WriteString(w, "abc")
		case "/empty":
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
			if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrBodyNotAllowed) {
				t.Errorf("body on 204: %v", err)
			}
		case "/flushed":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		}
	}))
	req := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n" }
	resps, bodies, _ := exchange(t, addr, req("/small")+req("/big")+req("/declared")+req("/empty")+req("/nocontent")+req("/flushed")+
		"GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if len(resps) != 7 {
		t.Fatalf("%d responses, want 7", len(resps))
	}
	for i, want := range []struct {
		body    string
		length  int64
		chunked bool
	}{
		{"hello", 5, false}, {big, -1, true}, {"abc", 3, false}, {"", 0, false}, {"", 0, false}, {"ab", -1, true}, {"hello", 5, false},
	} {
		r := resps[i]
		if bodies[i] != want.body || r.ContentLength != want.length || (len(r.TransferEncoding) > 0) != want.chunked {
			t.Errorf("response %d: body %d bytes, length %d, te %v; want %d bytes, %d, chunked %v",
				i, len(bodies[i]), r.ContentLength, r.TransferEncoding, len(want.body), want.length, want.chunked)
		}
		if r.Header.Get("Date") == "" {
			t.Errorf("response %d without Date", i)
		}
	}
	if _, ok := resps[4].Header["Content-Length"]; ok {
		t.Error("204 with a Content-Length")
	}
	if !resps[6].Close {
		t.Error("Connection: close not answered in kind")
	}
}

func TestHTTP10(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "ok")
	}))
	// keep-alive with a known length, then an unknown length ends by closing.
	resps, bodies, closed := exchange(t, addr, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	if len(resps) != 2 || bodies[0] != "ok" || bodies[1] != "aok" || !closed {
		t.Fatalf("%d responses %q closed %v", len(resps), bodies, closed)
	}
	if resps[0].Header.Get("Connection") != "keep-alive" || len(resps[1].TransferEncoding) != 0 {
		t.Errorf("Connection %q, te %v", resps[0].Header.Get("Connection"), resps[1].TransferEncoding)
	}
}

func TestHead(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	}))
	resps, bodies, _ := exchange(t, addr, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", http.MethodHead)
	if len(resps) != 2 || resps[0].ContentLength != 5 || bodies[0] != "" || bodies[1] != "hello" {
		t.Fatalf("%d responses %q", len(resps), bodies)
	}
}

func TestRequestBodies(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ignore" {
			io.WriteString(w, "ignored")
			return
		}
		b, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %v trailer=%q", b, err, r.Trailer.Get("X-Sum"))
	}))
	const next = "GET /ignore HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		desc, raw, want string
		responses       int
	}{
		{"content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", "abc <nil> trailer=\"\"", 2},
		{"chunked with trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n", "abcde <nil> trailer=\"5\"", 2},
		{"unread small body is drained", "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyz", "ignored", 2},
		{"unread chunked body is drained", "POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n", "ignored", 2},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "", 1},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resps, bodies, closed := exchange(t, addr, tc.raw+next)
			if len(resps) != tc.responses || !closed {
				t.Fatalf("%d responses %q closed %v; want %d", len(resps), bodies, closed, tc.responses)
			}
			if tc.want != "" && bodies[0] != tc.want {
				t.Errorf("body %q, want %q", bodies[0], tc.want)
			}
		})
	}

	// A large unread body is not drained: the connection closes after the response.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(conn, "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 1<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || !resp.Close {
		t.Fatalf("response %v, err %v; want one with Connection: close", resp, err)
	}
}

func TestExpectContinue(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(conn, "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, %v; want 100 Continue before the body is sent", line, err)
	}
	br.ReadString('\n')
	io.WriteString(conn, "data")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "data" {
		t.Errorf("body %q", b)
	}
}

func TestResponseHeaderSafety(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Split"] = []string{"a\r\nSet-Cookie: evil=1"}
		w.Header()["Bad Name"] = []string{"x"}
		w.Header().Set("Trailer", "X-Checksum")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	raw, _ := io.ReadAll(conn)
	text := string(raw)
	if !strings.HasPrefix(text, "HTTP/1.1 103 Early Hints\r\n") {
		t.Errorf("no 103 first: %q", text)
	}
	if strings.Contains(text, "\r\nSet-Cookie") || strings.Contains(text, "Bad Name") {
		t.Errorf("response splitting or invalid name got through: %q", text)
	}
	br := bufio.NewReader(strings.NewReader(text[strings.Index(text, "HTTP/1.1 200"):]))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "body" || resp.Trailer.Get("X-Checksum") != "42" || resp.Trailer.Get("X-Late") != "yes" {
		t.Errorf("body %q trailer %v", b, resp.Trailer)
	}
	if resp.Header.Get("X-Split") != "a  Set-Cookie: evil=1" {
		t.Errorf("X-Split %q", resp.Header.Get("X-Split"))
	}
}

func TestShortBodyClosesConnection(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading the short body: %v, want the connection closed under it", err)
	}
}

func TestHijack(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	// The line after the head arrives with it: it must reach the handler through the reader.
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nping\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%v %v", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "echo: ping\n" {
		t.Errorf("got %q", line)
	}
}

func TestClientGoneCancelsRequest(t *testing.T) {
	cause := make(chan error, 1)
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cause <- context.Cause(r.Context())
		case <-time.After(5 * time.Second):
			cause <- errors.New("not cancelled")
		}
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	conn.Close()
	if err := <-cause; !errors.Is(err, ErrClientGone) {
		t.Errorf("cause %v, want ErrClientGone", err)
	}
}

// TestPipelinedDuringWatch: a request that runs past watchDelay while the next one is already
// sent; the watch reads the next request's first byte, which must not be lost.
func TestPipelinedDuringWatch(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(watchDelay + 200*time.Millisecond)
			if err := r.Context().Err(); err != nil {
				t.Errorf("slow request cancelled: %v", err)
			}
		}
		io.WriteString(w, r.URL.Path)
	}))
	resps, bodies, _ := exchange(t, addr, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if len(resps) != 2 || bodies[0] != "/slow" || bodies[1] != "/next" {
		t.Fatalf("%d responses %q", len(resps), bodies)
	}
}

func TestPanics(t *testing.T) {
	logs := &syncWriter{w: &bytes.Buffer{}}
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	}), func(s *Server) { s.ErrorLog = log.New(logs, "", 0) })
	for _, path := range []string{"/abort", "/boom"} {
		resps, _, closed := exchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if len(resps) != 0 || !closed {
			t.Errorf("%s: %d responses, closed %v", path, len(resps), closed)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if got := logs.String(); strings.Count(got, "panic serving") != 1 || !strings.Contains(got, "boom") {
		t.Errorf("log %q: want one panic, boom's", got)
	}
}

func TestTimeouts(t *testing.T) {
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *Server) {
		s.ReadHeaderTimeout = 200 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	for _, tc := range []struct {
		desc, raw string
		max       time.Duration
	}{
		{"idle after a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 2 * time.Second},
		{"head never finished", "GET / HTTP/1.1\r\nHost: a\r\n", 2 * time.Second},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		io.WriteString(conn, tc.raw)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, conn)
		if d := time.Since(began); d > tc.max {
			t.Errorf("%s: closed after %v", tc.desc, d)
		}
		conn.Close()
	}
}

func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	s, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	}))
	// One idle keep-alive connection and one with a request in progress.
	idle, _, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if len(idle) != 1 {
		t.Fatal("no response")
	}
	idleConn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idleConn.Close()
	io.WriteString(idleConn, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	idleBr := bufio.NewReader(idleConn)
	resp, err := http.ReadResponse(idleBr, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)

	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-started

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// The idle connection is closed at once.
	_ = idleConn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idleBr.ReadByte(); err == nil {
		t.Error("idle connection still open")
	}
	close(release)
	resp, err = http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || !resp.Close {
		t.Fatalf("in-flight request: %v %v; want its response with Connection: close", resp, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestRejectHook(t *testing.T) {
	var got []string
	var mu sync.Mutex
	_, addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), func(s *Server) {
		s.Reject = func(w http.ResponseWriter, r *http.Request, status int, reason string) {
			mu.Lock()
			got = append(got, fmt.Sprintf("%s %d %s", r.Method, status, reason))
			mu.Unlock()
			w.Header().Set("X-Request-ID", "rid-1")
			w.WriteHeader(status)
			io.WriteString(w, "page")
		}
	})
	for _, tc := range []struct {
		raw    string
		status int
		want   string
	}{
		{"POST / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, "POST 400 obsolete line folding"},
		{"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, "GET 505 HTTP version not supported"},
		{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "GET 400 invalid method"},
		{"PUT /x HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417, "PUT 417 unsupported Expect header"},
	} {
		resps, bodies, closed := exchange(t, addr, tc.raw+"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
		if len(resps) != 1 || !closed || resps[0].StatusCode != tc.status || bodies[0] != "page" ||
			resps[0].Header.Get("X-Request-ID") != "rid-1" || !resps[0].Close {
			t.Errorf("%q: %d responses, closed %v, %v", tc.raw, len(resps), closed, resps)
		}
		mu.Lock()
		if len(got) == 0 || got[len(got)-1] != tc.want {
			t.Errorf("Reject calls %q, want last %q", got, tc.want)
		}
		mu.Unlock()
	}
}
