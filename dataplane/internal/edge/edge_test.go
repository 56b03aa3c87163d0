package edge

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"google.golang.org/protobuf/types/known/durationpb"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/proto"
)

// eventLog is a Sink that keeps every event.
type eventLog struct {
	mu     sync.Mutex
	events []*proxyv1.RequestEvent
}

func (l *eventLog) Push(e *proxyv1.RequestEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) snapshot() []*proxyv1.RequestEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*proxyv1.RequestEvent(nil), l.events...)
}

// wait returns the events once there are n of them. The event is pushed when the handler
// returns, which can be just after the client has its response.
func (l *eventLog) wait(t *testing.T, n int) []*proxyv1.RequestEvent {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := l.snapshot()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("have %d events, want %d", len(evs), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// harness is an edge Handler behind a test server, with its Holder and event log.
type harness struct {
	front  *httptest.Server
	holder *Holder
	events *eventLog
	pools  *proxy.Pools
}

func newHarness(t testing.TB, opts proxy.Options) *harness {
	t.Helper()
	h := &harness{holder: &Holder{}, events: &eventLog{}, pools: proxy.NewPools(opts)}
	handler, err := New(Config{Runtimes: h.holder, Events: h.events})
	if err != nil {
		t.Fatal(err)
	}
	h.front = httptest.NewServer(handler)
	t.Cleanup(func() {
		h.front.Close()
		h.pools.Close()
	})
	return h
}

// apply builds a snapshot and serves it, as the control-plane client does.
func (h *harness) apply(t testing.TB, version uint64, routes ...*proxyv1.Route) {
	t.Helper()
	rt, err := Build(&proxyv1.Snapshot{Version: version, Routes: routes}, h.pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.holder.Store(rt)
}

// do sends a request to the edge as if for host.
func (h *harness) do(t testing.TB, method, host, target string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.front.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := h.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// seen is what an echo backend tells about the request it got.
type seen struct {
	Backend string      `json:"backend"`
	Host    string      `json:"host"`
	URI     string      `json:"uri"`
	Header  http.Header `json:"header"`
}

// echoBackend answers every request with a JSON description of it.
func echoBackend(t testing.TB, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Backend: name, Host: r.Host, URI: r.RequestURI, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func decode(t *testing.T, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("backend answer %q: %v", body, err)
	}
	return s
}

func newRoute(id, backend, prefix string, hosts ...string) *proxyv1.Route {
	return &proxyv1.Route{Id: id, Hosts: hosts, PathPrefix: prefix, BackendUrl: backend}
}

func withPolicy(r *proxyv1.Route, p *proxyv1.Policy) *proxyv1.Route {
	r.Policy = p
	return r
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestRouting(t *testing.T) {
	h := newHarness(t, proxy.Options{})
	site, api, wild := echoBackend(t, "site"), echoBackend(t, "api"), echoBackend(t, "wild")
	h.apply(t, 1,
		newRoute("site", site.URL, "/", "example.org"),
		newRoute("api", api.URL+"/v1", "/api", "example.org"),
		newRoute("wild", wild.URL, "/", "*.example.org"),
	)
	testCases := []struct {
		desc, host, target string
		wantBackend        string
		wantURI            string
	}{
		{desc: "host root", host: "example.org", target: "/", wantBackend: "site", wantURI: "/"},
		{desc: "host other path", host: "example.org", target: "/about?x=1", wantBackend: "site", wantURI: "/about?x=1"},
		{desc: "path route, backend path prepended", host: "example.org", target: "/api/users?id=7", wantBackend: "api", wantURI: "/v1/api/users?id=7"},
		{desc: "path route on segment boundary only", host: "example.org", target: "/apiary", wantBackend: "site", wantURI: "/apiary"},
		{desc: "host with port and case", host: "EXAMPLE.org:8080", target: "/api", wantBackend: "api", wantURI: "/v1/api"},
		{desc: "wildcard host", host: "shop.example.org", target: "/cart", wantBackend: "wild", wantURI: "/cart"},
		{desc: "wildcard host, deeper", host: "a.b.example.org", target: "/", wantBackend: "wild", wantURI: "/"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			res, body := h.do(t, http.MethodGet, tc.host, tc.target, nil, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", res.StatusCode, body)
			}
			s := decode(t, body)
			if s.Backend != tc.wantBackend || s.URI != tc.wantURI {
				t.Errorf("reached %s %s, want %s %s", s.Backend, s.URI, tc.wantBackend, tc.wantURI)
			}
			if s.Host != tc.host {
				t.Errorf("backend saw Host %q, want the client's %q", s.Host, tc.host)
			}
		})
	}
}

func TestErrorPages(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	down := closedPort(t)

	testCases := []struct {
		desc       string
		noSnapshot bool
		method     string
		host       string
		wantStatus int
		wantError  string // in the event
	}{
		{desc: "405 for CONNECT", method: http.MethodConnect, host: "down.test", wantStatus: 405, wantError: "CONNECT"},
		{desc: "503 before the first snapshot", noSnapshot: true, host: "example.org", wantStatus: 503, wantError: "no snapshot"},
		{desc: "404 for an unknown host", host: "unknown.test", wantStatus: 404, wantError: "no route"},
		{desc: "404 for a path no route of the host has", host: "paths.test", wantStatus: 404, wantError: "no route"},
		{desc: "502 when the backend is down", host: "down.test", wantStatus: 502, wantError: "connection refused"},
		{desc: "504 when the backend is too slow", host: "slow.test", wantStatus: 504, wantError: "timeout"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, proxy.Options{ResponseHeaderTimeout: 100 * time.Millisecond})
			if !tc.noSnapshot {
				h.apply(t, 3,
					newRoute("down", down, "/", "down.test"),
					withPolicy(newRoute("slow", slow.URL, "/", "slow.test"), &proxyv1.Policy{Timeouts: &proxyv1.Timeouts{Read: durationpb.New(100 * time.Millisecond)}}),
					newRoute("paths", down, "/only", "paths.test"),
				)
			}
			for i, accept := range []string{"text/html", "application/json"} {
				method := tc.method
				if method == "" {
					method = http.MethodGet
				}
				res, body := h.do(t, method, tc.host, "/x", nil, http.Header{"Accept": {accept}})
				id := res.Header.Get("X-Request-ID")
				if res.StatusCode != tc.wantStatus {
					t.Errorf("status %d, want %d", res.StatusCode, tc.wantStatus)
				}
				if !requestid.Valid(id) || !strings.Contains(body, id) {
					t.Errorf("request id %q missing from header or body:\n%s", id, body)
				}
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, strings.Split(accept, ",")[0]) {
					t.Errorf("Content-Type %q for Accept %q", ct, accept)
				}
				if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q", cc)
				}
				if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "refused") || strings.Contains(body, "timeout") {
					t.Errorf("page leaks internal details:\n%s", body)
				}
				ev := h.events.wait(t, i+1)[i]
				if ev.GetStatus() != int32(tc.wantStatus) || !strings.Contains(ev.GetError(), tc.wantError) || ev.GetRequestId() != id {
					t.Errorf("event status %d error %q id %q; want %d, %q, %q", ev.GetStatus(), ev.GetError(), ev.GetRequestId(), tc.wantStatus, tc.wantError, id)
				}
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1, newRoute("site", echoBackend(t, "site").URL, "/", "example.org"))
	testCases := []struct {
		desc     string
		incoming []string
		wantKept bool
	}{
		{desc: "well-formed id is kept", incoming: []string{"client-trace:42"}, wantKept: true},
		{desc: "uuid is kept", incoming: []string{"0f8fad5b-d9cb-469f-a165-70867728950e"}, wantKept: true},
		{desc: "none gets a new one", incoming: nil},
		{desc: "malformed is replaced", incoming: []string{"<script>alert(1)</script>"}},
		{desc: "too long is replaced", incoming: []string{strings.Repeat("a", 129)}},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			header := http.Header{}
			if tc.incoming != nil {
				header["X-Request-Id"] = tc.incoming
			}
			res, body := h.do(t, http.MethodGet, "example.org", "/", nil, header)
			got := res.Header.Values("X-Request-ID")
			if len(got) != 1 || !requestid.Valid(got[0]) {
				t.Fatalf("response X-Request-ID = %q, want one valid id", got)
			}
			if kept := tc.incoming != nil && got[0] == tc.incoming[0]; kept != tc.wantKept {
				t.Errorf("incoming %q, response %q: kept = %v, want %v", tc.incoming, got[0], kept, tc.wantKept)
			}
			if backendSaw := decode(t, body).Header.Values("X-Request-Id"); len(backendSaw) != 1 || backendSaw[0] != got[0] {
				t.Errorf("backend saw X-Request-ID %q, client got %q", backendSaw, got[0])
			}
		})
	}
}

func TestBackendEchoingRequestIDIsNotDuplicated(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID"))
		w.Header().Add("X-Request-ID", "backend-own-id")
		w.Header().Set("Alt-Svc", `h3=":9999"`) // the backend's, unreachable for clients
	}))
	defer backend.Close()
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1, newRoute("site", backend.URL, "/", "example.org"))
	res, _ := h.do(t, http.MethodGet, "example.org", "/", nil, http.Header{"X-Request-Id": {"mine"}})
	if got := res.Header.Values("X-Request-ID"); len(got) != 1 || got[0] != "mine" {
		t.Errorf("X-Request-ID = %q, want exactly [mine]", got)
	}
	if got := res.Header.Values("Alt-Svc"); len(got) != 0 {
		t.Errorf("Alt-Svc = %q: the backend's advertisement reached the client", got)
	}
}

func TestForwardingHeaders(t *testing.T) {
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1, newRoute("site", echoBackend(t, "site").URL, "/", "example.org"))
	_, body := h.do(t, http.MethodGet, "example.org", "/", nil, http.Header{
		"X-Forwarded-For":   {"203.0.113.9, 10.0.0.1"},
		"X-Real-Ip":         {"203.0.113.9"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"spoofed.test"},
		"Forwarded":         {"for=203.0.113.9"},
	})
	got := decode(t, body).Header
	for k, want := range map[string]string{
		"X-Forwarded-For":   "127.0.0.1", // the client's own value is not trusted
		"X-Real-Ip":         "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "example.org",
		"Forwarded":         "",
	} {
		if v := strings.Join(got.Values(k), ", "); v != want {
			t.Errorf("backend got %s: %q, want %q", k, v, want)
		}
	}
}

func TestOneEventPerRequest(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "created!") // 8 bytes
	}))
	defer backend.Close()
	h := newHarness(t, proxy.Options{})
	api := newRoute("api", backend.URL, "/api", "example.org")
	api.Policy = &proxyv1.Policy{Logging: &proxyv1.Logging{MaskIpMethod: "last_two_octets"}}
	h.apply(t, 7, api, newRoute("site", backend.URL, "/", "example.org"))

	before := time.Now()
	res, body := h.do(t, http.MethodPost, "example.org", "/api/items?token=secret", strings.NewReader("hello"),
		http.Header{"User-Agent": {"edge-test/1.0"}, "X-Request-Id": {"req-1"}})
	after := time.Now()
	if res.StatusCode != http.StatusCreated || body != "created!" {
		t.Fatalf("status %d body %q", res.StatusCode, body)
	}
	evs := h.events.wait(t, 1)
	time.Sleep(50 * time.Millisecond) // a second event would have arrived by now
	if evs = h.events.snapshot(); len(evs) != 1 {
		t.Fatalf("%d events for one request, want 1", len(evs))
	}
	ev := evs[0]
	want := &proxyv1.RequestEvent{
		RequestId:       "req-1",
		RouteId:         "api",
		Host:            "example.org",
		Method:          "POST",
		Path:            "/api/items",
		Status:          201,
		BytesIn:         5,
		BytesOut:        8,
		ClientIp:        "127.0.xxx.xxx",
		UserAgent:       "edge-test/1.0",
		Backend:         backend.URL,
		Protocol:        "HTTP/1.1",
		SnapshotVersion: 7,
	}
	got := proto.Clone(ev).(*proxyv1.RequestEvent)
	got.Time, got.Duration = nil, nil
	if !proto.Equal(got, want) {
		t.Errorf("event\n got %v\nwant %v", got, want)
	}
	if ts := ev.GetTime().AsTime(); ts.Before(before.Add(-time.Millisecond)) || ts.After(after) {
		t.Errorf("event time %v not within the request (%v .. %v)", ts, before, after)
	}
	if d := ev.GetDuration().AsDuration(); d <= 0 || d > after.Sub(before) {
		t.Errorf("event duration %v, request took %v", d, after.Sub(before))
	}

	// Several requests, one event each, default masking on a route without a policy.
	for range 5 {
		h.do(t, http.MethodGet, "example.org", "/", nil, nil)
	}
	evs = h.events.wait(t, 6)
	time.Sleep(50 * time.Millisecond)
	ids := map[string]bool{}
	for _, ev := range h.events.snapshot()[1:] {
		ids[ev.GetRequestId()] = true
		if ev.GetClientIp() != "127.0.0.xxx" || ev.GetRouteId() != "site" || ev.GetBytesIn() != 0 {
			t.Errorf("event %v", ev)
		}
	}
	if len(ids) != 5 || len(h.events.snapshot()) != 6 {
		t.Errorf("%d distinct ids in %d events, want 5 in 6", len(ids), len(h.events.snapshot()))
	}
}

func TestEventStringsAreValidProto(t *testing.T) {
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1)
	conn, err := net.Dial("tcp", h.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A path that decodes to invalid UTF-8 and a User-Agent with a raw high byte.
	fmt.Fprintf(conn, "GET /caf%%FF/%s HTTP/1.1\r\nHost: example.org\r\nUser-Agent: agent\xff\r\nConnection: close\r\n\r\n", strings.Repeat("a", 5000))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ev := h.events.wait(t, 1)[0]
	if _, err := proto.Marshal(ev); err != nil {
		t.Fatalf("event does not marshal: %v", err)
	}
	if len(ev.GetPath()) > maxPathLen {
		t.Errorf("path of %d bytes kept", len(ev.GetPath()))
	}
}

func TestStreaming(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release // the backend is not finished until the client has the first event
		_, _ = io.WriteString(w, "data: second\n\n")
	}))
	defer backend.Close()
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1, newRoute("sse", backend.URL, "/", "example.org"))

	req, _ := http.NewRequest(http.MethodGet, h.front.URL+"/events", nil)
	req.Host = "example.org"
	res, err := h.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	first, err := r.ReadString('\n')
	if err != nil || first != "data: first\n" {
		t.Fatalf("first line %q, %v", first, err)
	}
	close(release)
	rest, _ := io.ReadAll(r)
	if string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest %q", rest)
	}
	ev := h.events.wait(t, 1)[0]
	if ev.GetBytesOut() != int64(len("data: first\n\ndata: second\n\n")) || ev.GetError() != "" {
		t.Errorf("event bytes out %d error %q", ev.GetBytesOut(), ev.GetError())
	}
}

func TestUpgradePassesThrough(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-Request-Id: backend-own\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString(line)
		_ = brw.Flush()
	}))
	defer backend.Close()
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1, newRoute("ws", backend.URL, "/", "example.org"))

	conn, err := net.Dial("tcp", h.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /socket HTTP/1.1\r\nHost: example.org\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ids := res.Header.Values("X-Request-ID"); res.StatusCode != http.StatusSwitchingProtocols || len(ids) != 1 || ids[0] == "backend-own" {
		t.Fatalf("status %d, X-Request-ID %q; want 101 with the edge's id only", res.StatusCode, ids)
	}
	_, _ = io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
	conn.Close()
	if ev := h.events.wait(t, 1)[0]; ev.GetStatus() != http.StatusSwitchingProtocols {
		t.Errorf("event status %d, want 101", ev.GetStatus())
	}
}

func TestAbortedResponseStillGetsAnEvent(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, "only ten b")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the backend dies half-way
	}))
	defer backend.Close()
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1, newRoute("site", backend.URL, "/", "example.org"))
	req, _ := http.NewRequest(http.MethodGet, h.front.URL, nil)
	req.Host = "example.org"
	res, err := h.front.Client().Do(req)
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatal("client read a complete response")
	}
	ev := h.events.wait(t, 1)[0]
	if ev.GetStatus() != 200 || !strings.Contains(ev.GetError(), "aborted") || ev.GetBytesOut() != 10 {
		t.Errorf("event status %d error %q bytes out %d", ev.GetStatus(), ev.GetError(), ev.GetBytesOut())
	}
}

func TestClientGoneIs499(t *testing.T) {
	arrived := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	defer backend.Close()
	h := newHarness(t, proxy.Options{})
	h.apply(t, 1, newRoute("site", backend.URL, "/", "example.org"))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.front.URL, nil)
	req.Host = "example.org"
	if res, err := h.front.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatal("request completed")
	}
	if ev := h.events.wait(t, 1)[0]; ev.GetStatus() != 499 || ev.GetError() == "" {
		t.Errorf("event status %d error %q, want 499", ev.GetStatus(), ev.GetError())
	}
}

func TestSwapWhileServing(t *testing.T) {
	a, b := echoBackend(t, "a"), echoBackend(t, "b")
	// A short grace period, so that transports are retired while requests run.
	h := newHarness(t, proxy.Options{RetireAfter: 5 * time.Millisecond})
	h.apply(t, 1, newRoute("site", a.URL, "/", "example.org"))

	const clients, perClient, swaps = 4, 50, 20
	var sent, failed atomic.Int32
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range perClient {
				req, _ := http.NewRequest(http.MethodGet, h.front.URL+"/", nil)
				req.Host = "example.org"
				res, err := h.front.Client().Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					t.Error(err)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Add(1)
					t.Errorf("status %d: %s", res.StatusCode, body)
				}
			}
		})
	}
	for v := uint64(2); v < 2+swaps; v++ {
		backend := a.URL
		if v%2 == 1 {
			backend = b.URL
		}
		h.apply(t, v, newRoute("site", backend, "/", "example.org"), newRoute("other", b.URL, "/", fmt.Sprintf("v%d.test", v)))
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	if sent.Load() != clients*perClient || failed.Load() != 0 {
		t.Fatalf("sent %d, failed %d", sent.Load(), failed.Load())
	}
	evs := h.events.wait(t, clients*perClient)
	for _, ev := range evs {
		if ev.GetStatus() != 200 || ev.GetSnapshotVersion() < 1 || ev.GetSnapshotVersion() > swaps+1 {
			t.Errorf("event status %d version %d", ev.GetStatus(), ev.GetSnapshotVersion())
		}
	}
}

func TestBuildErrors(t *testing.T) {
	pools := proxy.NewPools(proxy.Options{})
	defer pools.Close()
	withMask := func(r *proxyv1.Route, m string) *proxyv1.Route {
		r.Policy = &proxyv1.Policy{Logging: &proxyv1.Logging{MaskIpMethod: m}}
		return r
	}
	testCases := []struct {
		desc    string
		snap    *proxyv1.Snapshot
		wantErr string
	}{
		{desc: "nil", snap: nil, wantErr: "no snapshot"},
		{desc: "duplicate host and path", snap: &proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{
			newRoute("a", "http://a", "/", "x.test"), newRoute("b", "http://b", "/", "x.test")}}, wantErr: "already served"},
		{desc: "bad backend", snap: &proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{
			newRoute("a", "http://a", "/", "a.test"), newRoute("b", "tcp://b", "/", "b.test")}}, wantErr: `route "b"`},
		{desc: "unknown mask method", snap: &proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{
			withMask(newRoute("a", "http://a", "/", "a.test"), "scramble")}}, wantErr: "mask method"},
		{desc: "hash without key", snap: &proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{
			withMask(newRoute("a", "http://a", "/", "a.test"), "hash")}}, wantErr: "needs a key"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Build(tc.snap, pools, BuildOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestFailedBuildReleasesTransports(t *testing.T) {
	pools := proxy.NewPools(proxy.Options{RetireAfter: time.Millisecond})
	defer pools.Close()
	_, err := Build(&proxyv1.Snapshot{Routes: []*proxyv1.Route{
		newRoute("a", "http://a.test", "/", "a.test"), newRoute("b", "http://b.test", "/", "b.test"), newRoute("c", "gopher://c", "/", "c.test"),
	}}, pools, BuildOptions{})
	if err == nil {
		t.Fatal("Build succeeded")
	}
	deadline := time.Now().Add(5 * time.Second)
	for pools.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d transports still held after a failed Build", pools.Len())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHolderStoreClosesPrevious(t *testing.T) {
	pools := proxy.NewPools(proxy.Options{RetireAfter: time.Millisecond})
	defer pools.Close()
	var holder Holder
	rt1, err := Build(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{newRoute("a", "http://a.test", "/", "a.test")}}, pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder.Store(rt1)
	holder.Store(rt1) // storing the same runtime again must not close it
	rt2, err := Build(&proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{newRoute("b", "http://b.test", "/", "b.test")}}, pools, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pools.Len() != 2 {
		t.Fatalf("Len() = %d, want 2 while both runtimes exist", pools.Len())
	}
	holder.Store(rt2)
	if holder.Load() != rt2 {
		t.Fatal("Load() is not the stored runtime")
	}
	deadline := time.Now().Add(5 * time.Second)
	for pools.Len() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Len() = %d, want 1 after the old runtime's transport retired", pools.Len())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	if _, err := New(Config{Events: &eventLog{}}); err == nil {
		t.Error("New without Runtimes succeeded")
	}
	if _, err := New(Config{Runtimes: &Holder{}}); err == nil {
		t.Error("New without Events succeeded")
	}
}

func TestApplier(t *testing.T) {
	h := newHarness(t, proxy.Options{})
	backend := echoBackend(t, "site")
	a := &Applier{Holder: h.holder, Pools: h.pools}
	if err := a.Apply(&proxyv1.Snapshot{Version: 1, Routes: []*proxyv1.Route{newRoute("site", backend.URL, "/", "example.org")}}); err != nil {
		t.Fatal(err)
	}
	bad := &proxyv1.Snapshot{Version: 2, Routes: []*proxyv1.Route{newRoute("site", "not a url", "/", "example.org")}}
	if err := a.Apply(bad); err == nil {
		t.Fatal("a bad snapshot was applied")
	}
	if v := h.holder.Load().Version(); v != 1 {
		t.Fatalf("serving version %d after a refused snapshot, want 1", v)
	}
	if res, _ := h.do(t, http.MethodGet, "example.org", "/", nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d after a refused snapshot", res.StatusCode)
	}
}
