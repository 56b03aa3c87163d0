package proxy

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestInterruptGrace: a request context that ends interrupts the exchange whether it ends
// before, during or after the grace, and whether the exchange waits on a read (the backend
// does not answer) or on a write (the backend does not read a request head larger than the
// socket buffers). The timeouts are an hour: only the interrupt can end the exchange.
func TestInterruptGrace(t *testing.T) {
	huge := strings.Repeat("x", 16<<20)
	for _, tc := range []struct {
		desc        string
		grace       time.Duration
		bigHead     bool          // the backend never reads: the head's write blocks
		cancelAfter time.Duration // after the backend got the request (or after Forward began); < 0: before Forward
	}{
		{desc: "read, cancelled before", grace: 50 * time.Millisecond, cancelAfter: -1},
		{desc: "read, cancelled during the grace", grace: 200 * time.Millisecond},
		{desc: "read, cancelled after the grace", grace: time.Millisecond, cancelAfter: 50 * time.Millisecond},
		{desc: "read, no grace", cancelAfter: 10 * time.Millisecond},
		{desc: "write, cancelled before", grace: 50 * time.Millisecond, bigHead: true, cancelAfter: -1},
		{desc: "write, cancelled during the grace", grace: 200 * time.Millisecond, bigHead: true, cancelAfter: 20 * time.Millisecond},
		{desc: "write, cancelled after the grace", grace: time.Millisecond, bigHead: true, cancelAfter: 50 * time.Millisecond},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			arrived := make(chan struct{}, 1)
			done := make(chan struct{})
			defer close(done)
			url := rawBackend(t, func(c net.Conn) {
				if !tc.bigHead {
					if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
						return
					}
					arrived <- struct{}{}
				}
				<-done // no answer, and no more reading
			})
			b, err := newPools(t, Options{}).NewBackendWith(url, Settings{ReadTimeout: time.Hour, WriteTimeout: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			b.pool.transport.interruptGrace = tc.grace
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://example.org/", nil)
			if tc.bigHead {
				req.Header.Set("X-Big", huge)
			}
			if tc.cancelAfter < 0 {
				cancel()
			} else {
				go func() {
					if !tc.bigHead {
						<-arrived
					}
					time.Sleep(tc.cancelAfter)
					cancel()
				}()
			}
			errc := make(chan error, 1)
			go func() { errc <- b.Forward(httptest.NewRecorder(), req) }()
			select {
			case err := <-errc:
				var pe *Error
				if !errors.As(err, &pe) || pe.Status != StatusClientClosedRequest {
					t.Fatalf("Forward = %v, want status 499", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the exchange was not interrupted")
			}
		})
	}
}

// TestNoRegistrationWithinGrace: an exchange without a request body that ends within the grace
// never registers with its context, and the context ending later leaves the idle connection
// alone.
func TestNoRegistrationWithinGrace(t *testing.T) {
	url, accepted := scriptedBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	b, err := newPools(t, Options{}).NewBackendWith(url, Settings{ReadTimeout: time.Hour, WriteTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr := b.pool.transport
	tr.interruptGrace = time.Hour
	for _, method := range []string{http.MethodGet, http.MethodGet} {
		t.Run(method, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			req := httptest.NewRequestWithContext(ctx, method, "http://example.org/", nil)
			w := httptest.NewRecorder()
			if err := b.Forward(w, req); err != nil || w.Code != http.StatusOK {
				t.Fatalf("Forward: %v, %q", err, w.Body.String())
			}
			tr.mu.Lock()
			if len(tr.idle) != 1 {
				tr.mu.Unlock()
				t.Fatalf("%d idle connections, want 1", len(tr.idle))
			}
			registered := tr.idle[0].intr.stop != nil
			tr.mu.Unlock()
			if registered {
				t.Error("the exchange registered with its context")
			}
			cancel() // the exchange is over: nothing happens to its connection
		})
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestIdleAfterGraceDeadline: a connection idle long enough to be peeked at on its way out of
// the pool is reused, though the read deadline of its last exchange (the grace's end, or the
// read timeout) has passed: the peek must not fail on it.
func TestIdleAfterGraceDeadline(t *testing.T) {
	url, accepted := scriptedBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	b, err := newPools(t, Options{}).NewBackendWith(url, Settings{ReadTimeout: peekAfter / 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 2 {
		if i == 1 {
			time.Sleep(peekAfter + 100*time.Millisecond)
		}
		w := httptest.NewRecorder()
		if err := b.Forward(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "http://example.org/", nil)); err != nil || w.Body.String() != "ok" {
			t.Fatalf("Forward %d: %v, %q", i+1, err, w.Body.String())
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestGraceOutlasted: an exchange whose reads outlast the grace (the head, and the body in the
// middle), over plain TCP and TLS, with and without a read timeout, registers its interrupt and
// completes: a read that times out at the grace's end goes on where it was.
func TestGraceOutlasted(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		io.WriteString(w, "first,")
		w.(http.Flusher).Flush()
		time.Sleep(30 * time.Millisecond)
		io.WriteString(w, "second")
	})
	// A grace of 1 ms ends while the head is awaited; one of 45 ms (most likely) in the body.
	for _, tc := range []struct {
		desc        string
		tls         bool
		readTimeout time.Duration
		grace       time.Duration
	}{
		{desc: "plain, read timeout", readTimeout: time.Hour, grace: time.Millisecond},
		{desc: "plain, no read timeout", readTimeout: -1, grace: time.Millisecond},
		{desc: "plain, read timeout, grace ends in the body", readTimeout: time.Hour, grace: 45 * time.Millisecond},
		{desc: "TLS, read timeout", tls: true, readTimeout: time.Hour, grace: time.Millisecond},
		{desc: "TLS, no read timeout", tls: true, readTimeout: -1, grace: time.Millisecond},
		{desc: "TLS, no read timeout, grace ends in the body", tls: true, readTimeout: -1, grace: 45 * time.Millisecond},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			backend := httptest.NewUnstartedServer(handler)
			if tc.tls {
				backend.StartTLS()
			} else {
				backend.Start()
			}
			defer backend.Close()
			b, err := newPools(t, Options{}).NewBackendWith(backend.URL, Settings{ReadTimeout: tc.readTimeout, WriteTimeout: -1})
			if err != nil {
				t.Fatal(err)
			}
			tr := b.pool.transport
			tr.interruptGrace = tc.grace
			if tc.tls {
				roots := x509.NewCertPool()
				roots.AddCert(backend.Certificate())
				tr.tls.RootCAs = roots
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := range 2 {
				w := httptest.NewRecorder()
				if err := b.Forward(w, httptest.NewRequestWithContext(ctx, http.MethodGet, "http://example.org/", nil)); err != nil || w.Body.String() != "first,second" {
					t.Fatalf("Forward %d: %v, %q", i+1, err, w.Body.String())
				}
				tr.mu.Lock()
				registered := len(tr.idle) == 1 && tr.idle[0].intr.stop != nil
				tr.mu.Unlock()
				if !registered {
					t.Fatalf("Forward %d: no idle connection that registered its interrupt", i+1)
				}
			}
		})
	}
}
