package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serve runs b.Serve behind a test server, writing the error's status as the edge would.
func serve(t *testing.T, b *Backend) (*httptest.Server, <-chan error) {
	t.Helper()
	errs := make(chan error, 16)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := b.Serve(w, r)
		errs <- err
		var pe *Error
		if errors.As(err, &pe) && pe.Status != StatusClientClosedRequest {
			w.WriteHeader(pe.Status)
		}
	}))
	t.Cleanup(front.Close)
	return front, errs
}

func newPools(t *testing.T, opts Options) *Pools {
	t.Helper()
	p := NewPools(opts)
	t.Cleanup(p.Close)
	return p
}

func TestRewrite(t *testing.T) {
	var got *http.Request
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		io.WriteString(w, "ok")
	}))
	defer backend.Close()

	b, err := newPools(t, Options{}).NewBackend(backend.URL + "/base")
	if err != nil {
		t.Fatal(err)
	}
	front, errs := serve(t, b)

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/x/y?q=1", nil)
	req.Host = "app.example.org"
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Real-IP", "6.6.6.6")
	req.Header.Set("Forwarded", "for=6.6.6.6")
	req.Header.Set("X-Forwarded-Host", "evil.test")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Request-ID", "rid-1")
	// A client that sends no Accept-Encoding, to see that the proxy adds none.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if err := <-errs; err != nil || string(body) != "ok" {
		t.Fatalf("Serve error %v, body %q", err, body)
	}

	if got.URL.Path != "/base/x/y" || got.URL.RawQuery != "q=1" {
		t.Errorf("backend saw %s?%s, want /base/x/y?q=1", got.URL.Path, got.URL.RawQuery)
	}
	for k, want := range map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Real-Ip":         "127.0.0.1",
		"X-Forwarded-Host":  "app.example.org",
		"X-Forwarded-Proto": "http",
		"X-Request-Id":      "rid-1",
		"Forwarded":         "",
		"Accept-Encoding":   "", // not added by the transport
	} {
		if v := strings.Join(got.Header.Values(k), ","); v != want {
			t.Errorf("backend header %s = %q, want %q", k, v, want)
		}
	}
	if got.Host != "app.example.org" {
		t.Errorf("backend Host = %q, want the client's", got.Host)
	}
}

func TestErrors(t *testing.T) {
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	testCases := []struct {
		desc       string
		url        string
		wantStatus int
		wantInErr  string
	}{
		{desc: "connection refused", url: closed, wantStatus: http.StatusBadGateway, wantInErr: "refused"},
		{desc: "unknown host", url: "http://backend.invalid", wantStatus: http.StatusBadGateway, wantInErr: "backend.invalid"},
		{desc: "response header timeout", url: slow.URL, wantStatus: http.StatusGatewayTimeout, wantInErr: "timeout"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			b, err := newPools(t, Options{ResponseHeaderTimeout: 100 * time.Millisecond}).NewBackend(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			front, errs := serve(t, b)
			res, err := http.Get(front.URL)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			var pe *Error
			if err := <-errs; !errors.As(err, &pe) || pe.Status != tc.wantStatus || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("Serve error = %v, want status %d containing %q", err, tc.wantStatus, tc.wantInErr)
			}
			if res.StatusCode != tc.wantStatus {
				t.Errorf("client got %d, want %d", res.StatusCode, tc.wantStatus)
			}
		})
	}
}

func TestClientGone(t *testing.T) {
	arrived := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	defer backend.Close()
	b, err := newPools(t, Options{}).NewBackend(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	front, errs := serve(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL, nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request succeeded after cancel")
	}
	var pe *Error
	if err := <-errs; !errors.As(err, &pe) || pe.Status != StatusClientClosedRequest {
		t.Fatalf("Serve error = %v, want status 499", err)
	}
}

func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	}))
	defer backend.Close()
	defer close(release)
	b, err := newPools(t, Options{}).NewBackend(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	front, _ := serve(t, b)
	res, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, len("data: first\n\n"))
	if _, err := io.ReadFull(res.Body, buf); err != nil || string(buf) != "data: first\n\n" {
		t.Fatalf("first event: %q, %v", buf, err)
	}
}

func TestParseBackendURL(t *testing.T) {
	testCases := []struct {
		desc    string
		url     string
		wantKey string
		wantErr string
	}{
		{desc: "http default port", url: "http://App:80/x", wantKey: "http://app:80"},
		{desc: "http implicit port", url: "http://app", wantKey: "http://app:80"},
		{desc: "https implicit port", url: "https://app/", wantKey: "https://app:443"},
		{desc: "IPv6", url: "http://[::1]:8080", wantKey: "http://[::1]:8080"},
		{desc: "other scheme", url: "ftp://app", wantErr: "scheme"},
		{desc: "relative", url: "/app", wantErr: "scheme"},
		{desc: "no host", url: "http:///x", wantErr: "no host"},
		{desc: "port only", url: "http://:80", wantErr: "no host"},
		{desc: "credentials", url: "http://u:p@app", wantErr: "credentials"},
		{desc: "fragment", url: "http://app/#x", wantErr: "fragment"},
		{desc: "unparsable", url: "http://a b", wantErr: "backend URL"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, key, addr, err := parseBackendURL(tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || key != tc.wantKey || !strings.HasSuffix(tc.wantKey, "://"+addr) {
				t.Fatalf("key = %q, addr %q, %v; want %q", key, addr, err, tc.wantKey)
			}
		})
	}
}

// connCounter counts the TCP connections a test backend accepts and closes.
type connCounter struct{ opened, closed atomic.Int32 }

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		c.opened.Add(1)
	case http.StateClosed, http.StateHijacked:
		c.closed.Add(1)
	}
}

func countingBackend(t *testing.T) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := &connCounter{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = cc.track
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

func get(t *testing.T, b *Backend) {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := b.Serve(rec, httptest.NewRequest(http.MethodGet, "/", nil)); err != nil || rec.Body.String() != "ok" {
		t.Fatalf("Serve: %v, body %q", err, rec.Body.String())
	}
}

func TestPoolsShareTransportsAcrossBackends(t *testing.T) {
	srv, cc := countingBackend(t)
	pools := newPools(t, Options{RetireAfter: time.Hour})
	old, err := pools.NewBackend(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	get(t, old)
	// The next snapshot: a new Backend for the same host, then the old one is released.
	next, err := pools.NewBackend(srv.URL + "/b")
	if err != nil {
		t.Fatal(err)
	}
	old.Release()
	old.Release() // idempotent
	get(t, next)
	if n := cc.opened.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1 (the warm one reused)", n)
	}
	if pools.Len() != 1 {
		t.Errorf("Len() = %d, want 1", pools.Len())
	}
}

func TestPoolsRetireUnusedTransports(t *testing.T) {
	srv, cc := countingBackend(t)
	pools := newPools(t, Options{RetireAfter: 20 * time.Millisecond})
	b, err := pools.NewBackend(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	get(t, b)
	b.Release()
	deadline := time.Now().Add(5 * time.Second)
	for pools.Len() != 0 || cc.closed.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after the grace period: %d transports, %d of %d connections closed", pools.Len(), cc.closed.Load(), cc.opened.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolsReacquireCancelsRetirement(t *testing.T) {
	srv, cc := countingBackend(t)
	pools := newPools(t, Options{RetireAfter: 50 * time.Millisecond})
	b, err := pools.NewBackend(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	get(t, b)
	b.Release()
	b2, err := pools.NewBackend(srv.URL) // back within the grace period
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	get(t, b2)
	if pools.Len() != 1 || cc.opened.Load() != 1 || cc.closed.Load() != 0 {
		t.Errorf("transports %d, connections opened %d closed %d; want 1, 1, 0", pools.Len(), cc.opened.Load(), cc.closed.Load())
	}
}

func TestPoolsClosed(t *testing.T) {
	pools := NewPools(Options{})
	pools.Close()
	if _, err := pools.NewBackend("http://app"); err == nil {
		t.Fatal("NewBackend after Close succeeded")
	}
}

func TestConcurrentAcquireRelease(t *testing.T) {
	pools := newPools(t, Options{RetireAfter: time.Millisecond})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				b, err := pools.NewBackend("http://app.test")
				if err != nil {
					t.Error(err)
					return
				}
				b.Release()
			}
		})
	}
	wg.Wait()
}
