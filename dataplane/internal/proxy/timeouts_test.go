package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blackHole returns the address of a loopback listener whose accept queue is full, so that a
// new connection's SYN is dropped and dialing hangs: an unreachable backend without leaving
// the machine.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted: backlog 0 holds one
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr // the queue is full: dials hang now
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel kept accepting connections into a full backlog")
	return ""
}

// stallingBackend accepts connections, reads the request head and then never reads again nor
// answers, like a backend that stops accepting an upload.
func stallingBackend(t *testing.T) string {
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
			t.Cleanup(func() { c.Close() })
			go bufio.NewReader(c).ReadString('\n')
		}
	}()
	return "http://" + l.Addr().String()
}

// endless is a request body that never ends (until the test's limit).
type endless struct{ left int64 }

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), e.left)
	clear(p[:n])
	e.left -= n
	return int(n), nil
}

// TestBackendTimeouts checks each timeout before the response header: the status, the kind
// and that nothing was written to the client.
func TestBackendTimeouts(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)

	testCases := []struct {
		desc       string
		url        string
		settings   Settings
		body       io.Reader
		wantStatus int
		wantKind   string
	}{
		{desc: "hang before the headers: read timeout", url: hang.URL,
			settings: Settings{ReadTimeout: 100 * time.Millisecond}, wantStatus: 504, wantKind: KindRead},
		{desc: "backend stops accepting the body: write timeout", url: stallingBackend(t),
			settings: Settings{WriteTimeout: 200 * time.Millisecond, ReadTimeout: -1},
			body:     &endless{left: 1 << 30}, wantStatus: 504, wantKind: KindWrite},
		{desc: "unreachable: connect timeout", url: "http://" + blackHole(t),
			settings: Settings{ConnectTimeout: 200 * time.Millisecond}, wantStatus: 502, wantKind: KindConnect},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			pools := newPools(t, Options{})
			b, err := pools.NewBackendWith(tc.url, tc.settings)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release()
			method := http.MethodGet
			if tc.body != nil {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/", tc.body)
			if tc.body != nil {
				req.ContentLength = -1 // streamed, as a chunked upload
			}
			rec := httptest.NewRecorder()
			start := time.Now()
			err = b.Forward(rec, req)
			var pe *Error
			if !errors.As(err, &pe) || pe.Status != tc.wantStatus || pe.Kind != tc.wantKind || pe.Cut {
				t.Fatalf("Forward = %#v, want status %d kind %q", err, tc.wantStatus, tc.wantKind)
			}
			if pe.Timeout() != tc.wantKind {
				t.Errorf("Timeout() = %q, want %q", pe.Timeout(), tc.wantKind)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
				t.Errorf("something was written: %d bytes, header %v", rec.Body.Len(), rec.Header())
			}
			c := pools.Counters()
			got := map[string]int64{KindConnect: c.ConnectTimeouts, KindRead: c.ReadTimeouts, KindWrite: c.WriteTimeouts}
			for kind, n := range got {
				if want := int64(map[bool]int{true: 1}[kind == tc.wantKind]); n != want {
					t.Errorf("counter %s = %d, want %d", kind, n, want)
				}
			}
		})
	}
}

// forwardFront serves b with Forward behind a real server, as the edge would: the error is
// reported, and a cut response aborts the client connection.
func forwardFront(t *testing.T, b *Backend) (*httptest.Server, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := b.Forward(w, r)
		errs <- err
		var pe *Error
		if errors.As(err, &pe) {
			if pe.Cut {
				panic(http.ErrAbortHandler)
			}
			if pe.Status != StatusClientClosedRequest {
				w.WriteHeader(pe.Status)
			}
		}
	}))
	front.Config.ErrorLog = nil
	t.Cleanup(front.Close)
	return front, errs
}

func TestReadTimeoutMidBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer backend.Close()
	pools := newPools(t, Options{})
	b, err := pools.NewBackendWith(backend.URL, Settings{ReadTimeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	front, errs := forwardFront(t, b)
	res, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil || string(body) != "partial" {
		t.Errorf("client read %q, %v; want the partial body and an error", body, err)
	}
	var pe *Error
	if err := <-errs; !errors.As(err, &pe) || pe.Kind != KindRead || !pe.Cut {
		t.Fatalf("Forward = %v, want a cut read timeout", err)
	}
	if n := pools.Counters().ReadTimeouts; n != 1 {
		t.Errorf("read timeouts counted %d, want 1", n)
	}
}

// TestReadTimeoutSlowClient checks that time spent writing to a slow client is not a backend
// read timeout: only time waiting for the backend counts.
func TestReadTimeoutSlowClient(t *testing.T) {
	chunk := strings.Repeat("x", 64<<10)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 4 {
			io.WriteString(w, chunk)
		}
	}))
	defer backend.Close()
	b, err := newPools(t, Options{}).NewBackendWith(backend.URL, Settings{ReadTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rec := &slowWriter{ResponseRecorder: httptest.NewRecorder(), delay: 40 * time.Millisecond}
	if err := b.Forward(rec, httptest.NewRequest(http.MethodGet, "/", nil)); err != nil {
		t.Fatal(err)
	}
	if rec.Body.Len() != 4*len(chunk) {
		t.Errorf("relayed %d bytes, want %d", rec.Body.Len(), 4*len(chunk))
	}
}

type slowWriter struct {
	*httptest.ResponseRecorder
	delay time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	return w.ResponseRecorder.Write(p)
}

func TestMaxResponseBody(t *testing.T) {
	const limit = 1000
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		if r.URL.Query().Get("length") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		for sent := 0; sent < size; sent += 100 {
			io.WriteString(w, strings.Repeat("y", min(100, size-sent)))
			w.(http.Flusher).Flush() // chunked, in pieces
		}
	}))
	defer backend.Close()

	testCases := []struct {
		desc       string
		query      string
		wantStatus int  // what the client sees
		wantBytes  int  // body bytes the client gets
		wantCut    bool // the client's read fails
		wantErr    bool
	}{
		{desc: "under the limit", query: "size=999", wantStatus: 200, wantBytes: 999},
		{desc: "exactly the limit, chunked", query: "size=1000", wantStatus: 200, wantBytes: 1000},
		{desc: "exactly the limit, with length", query: "size=1000&length=1", wantStatus: 200, wantBytes: 1000},
		{desc: "Content-Length over the limit: 502 before anything", query: "size=5000&length=1", wantStatus: 502, wantErr: true},
		{desc: "chunked over the limit: cut after the limit", query: "size=5000", wantStatus: 200, wantBytes: limit, wantCut: true, wantErr: true},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			pools := newPools(t, Options{})
			b, err := pools.NewBackendWith(backend.URL, Settings{MaxResponseBody: limit})
			if err != nil {
				t.Fatal(err)
			}
			front, errs := forwardFront(t, b)
			res, err := http.Get(front.URL + "/?" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			body, rerr := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == 200 && len(body) != tc.wantBytes {
				t.Errorf("client got %d bytes, want %d", len(body), tc.wantBytes)
			}
			if (rerr != nil) != tc.wantCut {
				t.Errorf("client read error %v, want cut %v", rerr, tc.wantCut)
			}
			err = <-errs
			var pe *Error
			switch {
			case !tc.wantErr && err != nil:
				t.Errorf("Forward = %v", err)
			case tc.wantErr && (!errors.As(err, &pe) || pe.Kind != KindResponseTooLarge || pe.Status != 502 || pe.Cut != tc.wantCut):
				t.Errorf("Forward = %#v, want response_too_large, cut %v", err, tc.wantCut)
			}
			if want := int64(map[bool]int{true: 1}[tc.wantErr]); pools.Counters().ResponsesTooLarge != want {
				t.Errorf("counted %d, want %d", pools.Counters().ResponsesTooLarge, want)
			}
		})
	}
}
