package edge

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/events"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/h1"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// serveH1 serves handler with the data plane's HTTP/1.1 server on a loopback port and returns its
// address.
func serveH1(tb testing.TB, handler *Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &h1.Server{Handler: handler, Reject: handler.Reject, ErrorLog: log.New(io.Discard, "", 0)}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	tb.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return ln.Addr().String()
}

// h1RoundTrip sends one keep-alive request and reads its response (a head with a
// Content-Length), without allocating on the client side.
func h1RoundTrip(b *testing.B, conn net.Conn, br *bufio.Reader, req []byte) {
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(req); err != nil {
		b.Fatal(err)
	}
	n := -1
	status, err := br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		b.Fatalf("status line %q: %v", status, err)
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatalf("read response head: %v", err)
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				b.Fatal(err)
			}
		}
	}
	if n < 0 {
		b.Fatal("response without Content-Length")
	}
	if _, err := br.Discard(n); err != nil {
		b.Fatalf("read response body: %v", err)
	}
}

// BenchmarkEdgeH1AllPolicies is BenchmarkEdgeAllPolicies behind the data plane's own HTTP/1.1
// server, as production serves it, over one keep-alive loopback connection: the figures
// include the server's request context and copy, which an httptest recorder does not have
// (and the backend's net/http server, as in the other benchmarks of the chain).
func BenchmarkEdgeH1AllPolicies(b *testing.B) {
	for _, bc := range []struct {
		name   string
		policy *proxyv1.Policy
	}{{"bare", nil}, {"all", allPolicies()}} {
		b.Run(bc.name, func(b *testing.B) {
			backend := benchBackend(b)
			pools := proxy.NewPools(proxy.Options{})
			b.Cleanup(pools.Close)
			var holder Holder
			r := newRoute("api", backend.URL, "/api", "example.org")
			r.Policy = bc.policy
			rt, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{r}}, pools, BuildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			holder.Store(rt)
			h, err := New(Config{Runtimes: &holder, Events: events.NewQueue(4096)})
			if err != nil {
				b.Fatal(err)
			}
			conn, err := net.Dial("tcp", serveH1(b, h))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			req := []byte("GET /api/items HTTP/1.1\r\nHost: example.org\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n")
			br := bufio.NewReaderSize(conn, 8<<10)
			for range 3 {
				h1RoundTrip(b, conn, br, req)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h1RoundTrip(b, conn, br, req)
			}
		})
	}
}

// front is a server the edge can be behind, with a client for it.
type front struct {
	name  string
	start func(t *testing.T, h *Handler) (base string, client *http.Client)
	proto int // the HTTP major version the client gets
}

// fronts are the data plane's HTTP/1.1 server, whose writer times the slow-request timeout and
// sets the request's context in place (the edge's fast path), and net/http over HTTP/2 and
// HTTP/1.1, whose writers do neither (the fallback HTTP/2 and HTTP/3 take).
var fronts = []front{
	{"h1", func(t *testing.T, h *Handler) (string, *http.Client) {
		c := &http.Client{Transport: &http.Transport{}}
		t.Cleanup(c.CloseIdleConnections)
		return "http://" + serveH1(t, h), c
	}, 1},
	{"net/http HTTP/2", func(t *testing.T, h *Handler) (string, *http.Client) {
		srv := httptest.NewUnstartedServer(h)
		srv.EnableHTTP2 = true
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL, srv.Client()
	}, 2},
	{"net/http HTTP/1.1", func(t *testing.T, h *Handler) (string, *http.Client) {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL, srv.Client()
	}, 1},
}

// startEdge serves snap through f; it returns the front's URL, a client and the event log.
func startEdge(t *testing.T, f front, snap *proxyv1.Snapshot) (string, *http.Client, *eventLog) {
	t.Helper()
	pools := proxy.NewPools(proxy.Options{})
	t.Cleanup(pools.Close)
	holder, events := &Holder{}, &eventLog{}
	rt, err := Build(snap, pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder.Store(rt)
	h, err := New(Config{Runtimes: holder, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	base, client := f.start(t, h)
	return base, client, events
}

// countConns returns a request whose new client connections are added to n.
func countConns(req *http.Request, n *atomic.Int32) *http.Request {
	return req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		if !ci.Reused {
			n.Add(1)
		}
	}}))
}

// TestSlowRequestTimeoutByFront: the slow-request timeout answers 504 with the same event
// whichever server the request came through: the data plane's HTTP/1.1 server, which ends the
// request's own context (slowreq.Canceler), or net/http over HTTP/2 and HTTP/1.1, whose
// requests get a context of slowreq's own. On HTTP/1.1 the connection then serves its next
// request, which the earlier timeout does not touch.
func TestSlowRequestTimeoutByFront(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "late")
	}))
	defer backend.Close()
	for _, f := range fronts {
		t.Run(f.name, func(t *testing.T) {
			base, client, events := startEdge(t, f, &proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{withPolicy(newRoute("s", backend.URL, "/", "s.test"), &proxyv1.Policy{
				SlowRequest: &proxyv1.SlowRequest{Enabled: true, Warning: durationpb.New(100 * time.Millisecond), Critical: durationpb.New(200 * time.Millisecond), Timeout: durationpb.New(400 * time.Millisecond)},
				Retry:       &proxyv1.Retry{Enabled: true, RetryOn: []string{"502"}},
			})}})
			var conns atomic.Int32
			for i, tc := range []struct {
				delay       string
				wantStatus  int
				wantSlow    string
				wantTimeout string
			}{
				{delay: "0s", wantStatus: 200},
				{delay: "5s", wantStatus: 504, wantSlow: "critical", wantTimeout: "slow_request"},
				{delay: "0s", wantStatus: 200}, // the connection of the timeout, on HTTP/1.1
				{delay: "5s", wantStatus: 504, wantSlow: "critical", wantTimeout: "slow_request"},
			} {
				req, err := http.NewRequest(http.MethodGet, base+"/?d="+tc.delay, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = "s.test"
				res, err := client.Do(countConns(req, &conns))
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				ev := events.wait(t, i+1)[i]
				if res.ProtoMajor != f.proto || res.StatusCode != tc.wantStatus || ev.GetSlow() != tc.wantSlow || ev.GetTimeout() != tc.wantTimeout {
					t.Errorf("request %d (delay %s): HTTP/%d status %d slow %q timeout %q; want HTTP/%d %d %q %q", i, tc.delay,
						res.ProtoMajor, res.StatusCode, ev.GetSlow(), ev.GetTimeout(), f.proto, tc.wantStatus, tc.wantSlow, tc.wantTimeout)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d client connections, want 1 (a timeout keeps the connection)", n)
			}
		})
	}
}

// TestBackendContextByFront: what the edge passes down to the backend's round trip in the
// request's context (the client resolved through trusted proxies, the retry counter) arrives
// whichever server the request came through; behind h1 it is set on the request in place
// (SetRequestContext), and the next request of the connection has none of it.
func TestBackendContextByFront(t *testing.T) {
	var mu sync.Mutex
	seenIDs := map[string]bool{}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !seenIDs[r.URL.Query().Get("id")]
		seenIDs[r.URL.Query().Get("id")] = true
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusBadGateway) // retried, where the method allows it
			return
		}
		io.WriteString(w, r.Header.Get("X-Forwarded-For")+" | "+r.Header.Get("X-Real-Ip"))
	}))
	defer backend.Close()
	for _, f := range fronts {
		t.Run(f.name, func(t *testing.T) {
			base, client, events := startEdge(t, f, &proxyv1.Snapshot{Version: 1, Edge: &proxyv1.Edge{TrustedProxies: []string{"127.0.0.1"}},
				Routes: []*proxyv1.Route{withPolicy(newRoute("r", backend.URL, "/", "r.test"), &proxyv1.Policy{
					Retry:       &proxyv1.Retry{Enabled: true, MaxAttempts: 2, Backoff: "constant", InitialDelay: durationpb.New(time.Millisecond), MaxDelay: durationpb.New(time.Millisecond), RetryOn: []string{"502"}},
					SlowRequest: &proxyv1.SlowRequest{Enabled: true, Timeout: durationpb.New(5 * time.Second)},
				})}})
			var conns atomic.Int32
			for i, tc := range []struct {
				method, realIP string
				wantStatus     int
				wantBody       string
				wantRetries    uint32
			}{
				{method: "GET", realIP: "2001:db8::7", wantStatus: 200, wantBody: "2001:db8::7, 127.0.0.1 | 2001:db8::7", wantRetries: 1},
				{method: "GET", wantStatus: 200, wantBody: "127.0.0.1 | 127.0.0.1", wantRetries: 1},
				{method: "POST", realIP: "2001:db8::8", wantStatus: 502, wantRetries: 0},
				{method: "GET", realIP: "2001:db8::9", wantStatus: 200, wantBody: "2001:db8::9, 127.0.0.1 | 2001:db8::9", wantRetries: 1},
			} {
				req, err := http.NewRequest(tc.method, base+"/?id="+url.QueryEscape(f.name)+strconv.Itoa(i), strings.NewReader("x"))
				if err != nil {
					t.Fatal(err)
				}
				req.Host = "r.test"
				if tc.realIP != "" {
					req.Header.Set("X-Real-Ip", tc.realIP)
				}
				res, err := client.Do(countConns(req, &conns))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				ev := events.wait(t, i+1)[i]
				if res.StatusCode != tc.wantStatus || string(body) != tc.wantBody || ev.GetRetryCount() != tc.wantRetries {
					t.Errorf("request %d: status %d body %q retry_count %d; want %d %q %d", i, res.StatusCode, body, ev.GetRetryCount(), tc.wantStatus, tc.wantBody, tc.wantRetries)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d client connections, want 1", n)
			}
		})
	}
}
