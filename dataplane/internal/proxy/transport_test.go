package proxy

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawBackend accepts connections and hands each to serve, for backends that misbehave in ways
// net/http will not.
func rawBackend(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return "http://" + l.Addr().String()
}

// TestWireRequest checks what the backend receives, byte for byte where it matters: the
// request line, Host, no hop-by-hop header, our forwarding headers, and the body's framing.
func TestWireRequest(t *testing.T) {
	heads := make(chan string, 1)
	url := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			var b strings.Builder
			req.Header.Write(&b)
			body, _ := io.ReadAll(req.Body)
			heads <- req.Method + " " + req.RequestURI + " host=" + req.Host + " te=" + strings.Join(req.TransferEncoding, ",") +
				" body=" + string(body) + "\n" + b.String()
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
		}
	})
	b, err := newPools(t, Options{}).NewBackend(url + "/base/")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc    string
		req     func() *http.Request
		want    []string // lines or fragments the backend must see
		notWant []string
	}{
		{
			desc: "hop-by-hop and spoofed headers dropped, ours written",
			req: func() *http.Request {
				r := httptest.NewRequest(http.MethodGet, "http://app.test/x%2Fy?q=1", nil)
				r.Header.Set("Connection", "keep-alive, X-Secret")
				r.Header.Set("X-Secret", "hop")
				r.Header.Set("Keep-Alive", "timeout=5")
				r.Header.Set("Proxy-Authorization", "Basic Zm9v")
				r.Header.Set("Te", "trailers, deflate")
				r.Header.Set("Expect", "100-continue")
				r.Header.Set("X-Forwarded-For", "6.6.6.6")
				r.Header.Set("X-Real-Ip", "6.6.6.6")
				r.Header.Set("Forwarded", "for=6.6.6.6")
				r.Header.Set("X-Evil", "a\r\nInjected: yes")
				r.Header.Set("Accept", "text/html")
				return r
			},
			want: []string{"GET /base/x%2Fy?q=1 host=app.test", "Te: trailers", "X-Forwarded-For: 192.0.2.1",
				"X-Real-Ip: 192.0.2.1", "X-Forwarded-Host: app.test", "X-Forwarded-Proto: http", "Accept: text/html",
				"X-Evil: a  Injected: yes"},
			notWant: []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Expect", "6.6.6.6", "Forwarded:", "\nInjected"},
		},
		{
			desc: "known length body",
			req: func() *http.Request {
				return httptest.NewRequest(http.MethodPost, "http://app.test/", strings.NewReader("hello"))
			},
			want: []string{"POST /base/ host=app.test te= body=hello", "Content-Length: 5"},
		},
		{
			desc: "unknown length body: chunked",
			req: func() *http.Request {
				r := httptest.NewRequest(http.MethodPut, "http://app.test/", io.MultiReader(strings.NewReader("hel"), strings.NewReader("lo")))
				r.ContentLength = -1
				return r
			},
			want: []string{"PUT /base/ host=app.test te=chunked body=hello"},
		},
		{
			desc: "empty POST says Content-Length: 0",
			req: func() *http.Request {
				return httptest.NewRequest(http.MethodPost, "http://app.test/", nil)
			},
			want: []string{"Content-Length: 0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := b.Forward(rec, tc.req()); err != nil || rec.Code != http.StatusNoContent {
				t.Fatalf("Forward: %v, status %d", err, rec.Code)
			}
			got := <-heads
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("backend saw\n%s\nwithout %q", got, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("backend saw\n%s\nwith %q", got, w)
				}
			}
		})
	}
}

// TestResponseRelay checks the answer side: hop-by-hop headers and the edge's own dropped,
// trailers passed on, and connections reused after bodiless answers.
func TestResponseRelay(t *testing.T) {
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		w.Header().Set("X-Request-Id", "backend-own")
		w.Header().Set("Alt-Svc", `h3=":9999"`)
		w.Header().Set("Trailer", "X-Checksum")
		switch r.URL.Path {
		case "/304":
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
	}))
	cc := &connCounter{}
	backend.Config.ConnState = cc.track
	backend.Start()
	defer backend.Close()
	b, err := newPools(t, Options{}).NewBackend(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	front, errs := forwardFront(t, b)
	res, err := http.Get(front.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if err := <-errs; err != nil || string(body) != "body" || res.Trailer.Get("X-Checksum") != "abc" {
		t.Fatalf("Forward %v, body %q, trailer %v", err, body, res.Trailer)
	}
	for _, h := range []string{"X-Hop", "X-Request-Id", "Alt-Svc"} {
		if v := res.Header.Get(h); v != "" {
			t.Errorf("client got %s: %q", h, v)
		}
	}
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		req, _ := http.NewRequest(m, front.URL+"/304", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if err := <-errs; err != nil || res.StatusCode != http.StatusNotModified {
			t.Fatalf("%s /304: %v, %d", m, err, res.StatusCode)
		}
	}
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("backend saw %d connections for 3 sequential requests, want 1", n)
	}
}

// TestIdleCloseByBackend: a backend that closes a kept-alive connection must not fail the next
// request: the close is seen before reuse (after peekAfter) or the request is sent again when
// that is safe; a POST that may have reached the backend is not.
func TestIdleCloseByBackend(t *testing.T) {
	var conns atomic.Int32
	// Answers one request per connection, announcing keep-alive, then closes.
	url := rawBackend(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	b, err := newPools(t, Options{}).NewBackend(url)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method string) error {
		rec := httptest.NewRecorder()
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader("x")
		}
		err := b.Forward(rec, httptest.NewRequest(method, "/", body))
		if err == nil && rec.Body.String() != "ok" {
			return errors.New("body " + rec.Body.String())
		}
		return err
	}
	if err := do(http.MethodGet); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the backend has closed; the connection sits idle
	if err := do(http.MethodGet); err != nil {
		t.Fatalf("GET on a connection the backend closed: %v, want it sent again on a new one", err)
	}
	time.Sleep(50 * time.Millisecond)
	err = do(http.MethodPost)
	var pe *Error
	if !errors.As(err, &pe) || pe.Status != http.StatusBadGateway {
		t.Fatalf("POST on a closed idle connection: %v, want 502 (not sent twice)", err)
	}
	// Idle for longer than peekAfter: the close is seen before use, and even a POST works.
	if err := do(http.MethodGet); err != nil {
		t.Fatal(err)
	}
	b.pool.transport.idle[len(b.pool.transport.idle)-1].idleSince = time.Now().Add(-2 * peekAfter)
	time.Sleep(50 * time.Millisecond)
	if err := do(http.MethodPost); err != nil {
		t.Fatalf("POST after a long idle time: %v, want the dead connection skipped", err)
	}
}

// TestMaxConnsQueue: at max_conns_per_host requests wait for a connection, in order, and a
// waiting request whose client leaves gives up without taking one.
func TestMaxConnsQueue(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int32 // requests the backend is serving: to know when two are held
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		<-release
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	b, err := newPools(t, Options{}).NewBackendWith(backend.URL, Settings{MaxConnsPerHost: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The limit is on the proxy's open connections: count them where they are dialed and closed
	// (the backend's view lags: it sees a close only when the FIN arrives).
	var conns, peak atomic.Int32
	dial := b.pool.transport.dial
	b.pool.transport.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		n := conns.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return &countedConn{Conn: c, open: &conns}, nil
	}
	done := make(chan error, 5)
	for range 5 {
		go func() {
			rec := httptest.NewRecorder()
			done <- b.Forward(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		}()
	}
	// One more, whose client leaves while it waits.
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		gone <- b.Forward(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for inFlight.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	var pe *Error
	if err := <-gone; !errors.As(err, &pe) || pe.Status != StatusClientClosedRequest {
		t.Errorf("waiting request whose client left: %v, want 499", err)
	}
	close(release)
	for range 5 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	tr := b.pool.transport
	tr.mu.Lock()
	open, waiting := tr.open, len(tr.waiters)
	tr.mu.Unlock()
	if peak.Load() != 2 || open > 2 || waiting != 0 {
		t.Errorf("peak %d connections open, %d open at the end, %d waiting; want 2, <= 2, 0", peak.Load(), open, waiting)
	}
}

// countedConn takes itself off a count of open connections when it is closed (once).
type countedConn struct {
	net.Conn
	open   *atomic.Int32
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}

// TestIdleSweep: connections idle for the idle timeout are closed by the pool itself.
func TestIdleSweep(t *testing.T) {
	srv, cc := countingBackend(t)
	b, err := newPools(t, Options{}).NewBackendWith(srv.URL, Settings{IdleConnTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	get(t, b)
	deadline := time.Now().Add(5 * time.Second)
	for cc.closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	tr := b.pool.transport
	tr.mu.Lock()
	idle, open := len(tr.idle), tr.open
	tr.mu.Unlock()
	if cc.closed.Load() != 1 || idle != 0 || open != 0 {
		t.Errorf("after the idle timeout: %d closed at the backend, %d idle, %d open; want 1, 0, 0", cc.closed.Load(), idle, open)
	}
}

// TestEarlyAnswer: a backend that answers before reading the upload (a 413 of its own) gets
// its answer relayed, and the connection, out of step, is not reused.
func TestEarlyAnswer(t *testing.T) {
	var conns atomic.Int32
	url := rawBackend(t, func(c net.Conn) {
		conns.Add(1)
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!")
		time.Sleep(200 * time.Millisecond)
	})
	b, err := newPools(t, Options{}).NewBackend(url)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/", &endless{left: 64 << 20})
		req.ContentLength = 64 << 20
		if err := b.Forward(rec, req); err != nil || rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != "big!" {
			t.Fatalf("Forward %v, %d %q; want the backend's 413", err, rec.Code, rec.Body.String())
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections for 2 early answers, want 2 (none reused)", n)
	}
}

// TestTLSBackend: an https:// backend, verified, over HTTP/1.1.
func TestTLSBackend(t *testing.T) {
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	backend.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	backend.StartTLS()
	defer backend.Close()
	pools := newPools(t, Options{})
	b, err := pools.NewBackend(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	err = b.Forward(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if err == nil {
		t.Fatal("a backend certificate no root vouches for was accepted")
	}
	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	b.pool.transport.tls.RootCAs = roots
	rec = httptest.NewRecorder()
	if err := b.Forward(rec, httptest.NewRequest(http.MethodGet, "/", nil)); err != nil || rec.Body.String() != "HTTP/1.1" {
		t.Fatalf("Forward %v, body %q; want HTTP/1.1", err, rec.Body.String())
	}
}

// TestInterruptOutlastsDeadlines: the exchange sets fresh deadlines as it goes (the read
// timeout after writing the request, each write's own), and a client that leaves just before
// one of them must still interrupt it. Moving the deadlines into the past did not: a read
// deadline set a moment later undid it, and the exchange hung until the 30 s read timeout.
func TestInterruptOutlastsDeadlines(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c2.Close()
	pc := newPconn(&transport{settings: Settings{ReadTimeout: time.Hour}}, c1)
	pc.interrupt()
	if err := pc.conn.SetReadDeadline(time.Now().Add(time.Hour)); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := pc.br.ReadByte()
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read after the interrupt succeeded")
		}
	case <-time.After(5 * time.Second):
		c1.Close()
		t.Fatal("read after the interrupt and a fresh deadline still blocked after 5 s")
	}
}
