package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/retry"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// scriptedBackend answers the requests of each connection with answers, in order, and counts
// the connections it accepted.
func scriptedBackend(t *testing.T, answers ...string) (url string, accepted *atomic.Int32) {
	t.Helper()
	accepted = &atomic.Int32{}
	var mu sync.Mutex
	next := 0
	url = rawBackend(t, func(c net.Conn) {
		accepted.Add(1)
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			mu.Lock()
			a := answers[next%len(answers)]
			next++
			mu.Unlock()
			if _, err := io.WriteString(c, a); err != nil {
				return
			}
		}
	})
	return url, accepted
}

// recorder is a Wrap that keeps every response the transport returned, in order.
type recorder struct {
	mu   sync.Mutex
	kept []*http.Response
}

func (r *recorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return rtFunc(func(req *http.Request) (*http.Response, error) {
		res, err := rt.RoundTrip(req)
		if res != nil {
			r.mu.Lock()
			r.kept = append(r.kept, res)
			r.mu.Unlock()
		}
		return res, err
	})
}

// clientHeader is the header relayed to the client, without what net/http's recorder adds.
func clientHeader(rec *httptest.ResponseRecorder) http.Header {
	h := rec.Result().Header.Clone()
	delete(h, "Date")
	return h
}

// TestForwardRecyclesResponse: Forward lets a connection read its next response into the
// previous one (header map included), and a response never shows a header of the one before.
// A response with no body left when Forward gets it (204, HEAD) is not recycled: its
// connection went back to the pool before Forward saw it.
func TestForwardRecyclesResponse(t *testing.T) {
	steps := []struct {
		method     string
		answer     string
		wantStatus int
		wantHeader http.Header
		wantBody   string
		wantTrail  http.Header
		recycled   bool // the next exchange reads into this step's response
	}{
		{method: "GET", answer: "HTTP/1.1 200 OK\r\nX-First: 1\r\nSet-Cookie: a=1\r\nContent-Length: 2\r\n\r\nr1",
			wantStatus: 200, wantHeader: http.Header{"X-First": {"1"}, "Set-Cookie": {"a=1"}, "Content-Length": {"2"}}, wantBody: "r1", recycled: true},
		{method: "GET", answer: "HTTP/1.1 404 Not Found\r\nX-Second: 2\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nr2\r\n0\r\nX-Sum: 9\r\n\r\n",
			wantStatus: 404, wantHeader: http.Header{"X-Second": {"2"}, "Trailer": {"X-Sum"}}, wantBody: "r2",
			wantTrail: http.Header{"X-Sum": {"9"}}, recycled: true},
		{method: "GET", answer: "HTTP/1.1 204 No Content\r\nX-Third: 3\r\n\r\n",
			wantStatus: 204, wantHeader: http.Header{"X-Third": {"3"}}},
		{method: "HEAD", answer: "HTTP/1.1 200 OK\r\nX-Fourth: 4\r\nContent-Length: 9\r\n\r\n",
			wantStatus: 200, wantHeader: http.Header{"X-Fourth": {"4"}, "Content-Length": {"9"}}},
		{method: "GET", answer: "HTTP/1.1 200 OK\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nr5",
			wantStatus: 200, wantHeader: http.Header{"Set-Cookie": {"b=2"}, "Content-Length": {"2"}}, wantBody: "r5", recycled: true},
		{method: "GET", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr6",
			wantStatus: 200, wantHeader: http.Header{"Content-Length": {"2"}}, wantBody: "r6"},
	}
	answers := make([]string, len(steps))
	for i, s := range steps {
		answers[i] = s.answer
	}
	url, accepted := scriptedBackend(t, answers...)
	var rec recorder
	b, err := newPools(t, Options{}).NewBackendWith(url, Settings{Wrap: rec.wrap})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range steps {
		w := httptest.NewRecorder()
		if err := b.Forward(w, httptest.NewRequest(s.method, "http://example.org/", nil)); err != nil {
			t.Fatalf("step %d: Forward: %v", i+1, err)
		}
		if w.Code != s.wantStatus || w.Body.String() != s.wantBody || !reflect.DeepEqual(clientHeader(w), s.wantHeader) {
			t.Errorf("step %d: client got %d %v %q, want %d %v %q", i+1, w.Code, clientHeader(w), w.Body.String(),
				s.wantStatus, s.wantHeader, s.wantBody)
		}
		if trailer := w.Result().Trailer; len(trailer)+len(s.wantTrail) > 0 && !reflect.DeepEqual(trailer, s.wantTrail) {
			t.Errorf("step %d: client got trailer %v, want %v", i+1, trailer, s.wantTrail)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	for i := range len(steps) - 1 {
		if got := rec.kept[i] == rec.kept[i+1]; got != steps[i].recycled {
			t.Errorf("step %d's response read into step %d's: %v, want %v", i+2, i+1, got, steps[i].recycled)
		}
	}
}

// TestKeptResponseDoesNotChange: a response of a caller that is not Forward (RoundTrip used
// directly, Upgrade) is never read into again, even when it came from a connection's spare
// and is kept while Forward recycles the responses around it on the same connection.
func TestKeptResponseDoesNotChange(t *testing.T) {
	url, accepted := scriptedBackend(t,
		"HTTP/1.1 200 OK\r\nX-N: 1\r\nContent-Length: 2\r\n\r\nr1",
		"HTTP/1.1 201 Created\r\nX-N: 2\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nr2",
		"HTTP/1.1 200 OK\r\nX-N: 3\r\nContent-Length: 2\r\n\r\nr3",
		"HTTP/1.1 202 Accepted\r\nX-N: 4\r\nContent-Length: 2\r\n\r\nr4",
	)
	b, err := newPools(t, Options{}).NewBackend(url)
	if err != nil {
		t.Fatal(err)
	}
	forward := func(want string) {
		t.Helper()
		w := httptest.NewRecorder()
		if err := b.Forward(w, httptest.NewRequest(http.MethodGet, "http://example.org/", nil)); err != nil || w.Body.String() != want {
			t.Fatalf("Forward: %v, %q, want %q", err, w.Body.String(), want)
		}
		if w.Header().Get("X-Kept") != "" {
			t.Fatalf("Forward %q got the kept response's header: %v", want, w.Header())
		}
	}
	forward("r1") // recycled: the connection's spare
	kept, err := b.pool.transport.RoundTrip(httptest.NewRequest(http.MethodGet, "http://example.org/", nil))
	if err != nil {
		t.Fatal(err)
	}
	if body, err := io.ReadAll(kept.Body); err != nil || string(body) != "r2" {
		t.Fatalf("RoundTrip body %q, %v", body, err)
	}
	kept.Body.Close()
	wantHeader := kept.Header.Clone()
	forward("r3")
	forward("r4")
	if kept.StatusCode != http.StatusCreated || kept.Status != "201 Created" || !reflect.DeepEqual(kept.Header, wantHeader) ||
		kept.Header.Get("X-N") != "2" || kept.Header.Get("X-Kept") != "yes" || kept.ContentLength != 2 {
		t.Fatalf("kept response changed: %d %q %v", kept.StatusCode, kept.Status, kept.Header)
	}
	if n, err := kept.Body.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("kept body read late: %d, %v", n, err)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestUpgradeResponseNotRecycled: a 101's response belongs to the Upgraded for good, even when
// read into the spare of a connection that Forward used before; the connection leaves the pool.
func TestUpgradeResponseNotRecycled(t *testing.T) {
	url, accepted := scriptedBackend(t,
		"HTTP/1.1 200 OK\r\nX-N: 1\r\nContent-Length: 2\r\n\r\nr1",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-N: 2\r\n\r\n",
	)
	var rec recorder
	b, err := newPools(t, Options{}).NewBackendWith(url, Settings{Wrap: rec.wrap})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := b.Forward(w, httptest.NewRequest(http.MethodGet, "http://example.org/", nil)); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "http://example.org/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	up, err := b.Upgrade(httptest.NewRecorder(), req)
	if err != nil || up == nil {
		t.Fatalf("Upgrade: %v, %v", up, err)
	}
	defer up.Conn.Close()
	if up.Response != rec.kept[0] {
		t.Fatal("the 101 was not read into the spare: the test does not test the reuse")
	}
	w = httptest.NewRecorder()
	if err := b.Forward(w, httptest.NewRequest(http.MethodGet, "http://example.org/", nil)); err != nil || w.Body.String() != "r1" {
		t.Fatalf("Forward after the upgrade: %v, %q", err, w.Body.String())
	}
	if up.Response.StatusCode != http.StatusSwitchingProtocols || up.Response.Header.Get("X-N") != "2" {
		t.Fatalf("101 response changed: %d %v", up.Response.StatusCode, up.Response.Header)
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the upgraded one left the pool)", n)
	}
}

// TestRetriedResponseNotRecycled: an attempt the retry middleware discards is never read into
// again, though its connection carries the next attempt; the client gets the last attempt's
// header only.
func TestRetriedResponseNotRecycled(t *testing.T) {
	url, accepted := scriptedBackend(t,
		"HTTP/1.1 503 Service Unavailable\r\nX-Attempt: 1\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy",
		"HTTP/1.1 200 OK\r\nX-Attempt: 2\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Attempt: 3\r\nContent-Length: 2\r\n\r\nok",
	)
	var rec recorder
	policy := &proxyv1.Retry{Enabled: true, MaxAttempts: 2, Backoff: "constant",
		InitialDelay: durationpb.New(time.Millisecond), MaxDelay: durationpb.New(time.Millisecond), RetryOn: []string{"503"}}
	wrap := func(rt http.RoundTripper) http.RoundTripper {
		rt, err := retry.New(policy, rec.wrap(rt))
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	b, err := newPools(t, Options{}).NewBackendWith(url, Settings{Wrap: wrap})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []http.Header{
		{"X-Attempt": {"2"}, "Content-Length": {"2"}},
		{"X-Attempt": {"3"}, "Content-Length": {"2"}},
	} {
		w := httptest.NewRecorder()
		if err := b.Forward(w, httptest.NewRequest(http.MethodGet, "http://example.org/", nil)); err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusOK || !reflect.DeepEqual(clientHeader(w), want) {
			t.Errorf("request %d: client got %d %v, want 200 %v", i+1, w.Code, clientHeader(w), want)
		}
	}
	if len(rec.kept) != 3 {
		t.Fatalf("%d attempts, want 3", len(rec.kept))
	}
	failed := rec.kept[0]
	if failed.StatusCode != http.StatusServiceUnavailable || !reflect.DeepEqual(failed.Header,
		http.Header{"X-Attempt": {"1"}, "Retry-After": {"1"}, "Content-Length": {"4"}}) {
		t.Errorf("discarded attempt changed: %d %v", failed.StatusCode, failed.Header)
	}
	if failed == rec.kept[1] || failed == rec.kept[2] {
		t.Error("a discarded attempt was read into again")
	}
	if rec.kept[1] != rec.kept[2] {
		t.Error("the relayed response was not recycled")
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestLargeHeaderMapDropped: a header map that held more than maxReusedHeader names is not
// kept for the connection's next response; a small one is.
func TestLargeHeaderMapDropped(t *testing.T) {
	var many strings.Builder
	for i := range maxReusedHeader + 1 {
		fmt.Fprintf(&many, "X-H%d: %d\r\n", i, i)
	}
	for _, tc := range []struct {
		desc     string
		header   string
		wantKept bool
	}{
		{"small", "X-A: 1\r\nX-B: 2\r\n", true},
		{"at the limit", many.String()[strings.Index(many.String(), "X-H3:"):], true}, // 62 + Content-Length
		{"over the limit", many.String(), false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			url, _ := scriptedBackend(t, "HTTP/1.1 200 OK\r\n"+tc.header+"Content-Length: 2\r\n\r\nok")
			b, err := newPools(t, Options{}).NewBackend(url)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Forward(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://example.org/", nil)); err != nil {
				t.Fatal(err)
			}
			tr := b.pool.transport
			tr.mu.Lock()
			defer tr.mu.Unlock()
			if len(tr.idle) != 1 || tr.idle[0].spare == nil {
				t.Fatalf("no idle connection with a spare response: %v", tr.idle)
			}
			if kept := tr.idle[0].spare.header != nil; kept != tc.wantKept {
				t.Errorf("header map kept: %v, want %v", kept, tc.wantKept)
			}
		})
	}
}

// TestReadResponseIntoRecycled: reading any seed response into a response that held another
// (recycled, header map included) gives what a fresh read gives: nothing of the previous one
// is left in the value, its header or its body's framing.
func TestReadResponseIntoRecycled(t *testing.T) {
	read := func(data string, method string, into *response) (*readResult, *response, error) {
		src := strings.NewReader(data)
		br := bufio.NewReaderSize(src, 4<<10)
		r, err := readResponseInto(br, &http.Request{Method: method}, into)
		if err != nil {
			return nil, nil, err
		}
		res := &r.Response
		out := &readResult{Status: res.Status, StatusCode: res.StatusCode, Proto: res.Proto,
			ProtoMajor: res.ProtoMajor, ProtoMinor: res.ProtoMinor, Header: res.Header.Clone(),
			ContentLength: res.ContentLength, TransferEncoding: res.TransferEncoding, Close: res.Close}
		b, err := io.ReadAll(&r.body.f)
		out.Body, out.BodyErr, out.Trailer = string(b), err, res.Trailer
		out.Consumed = len(data) - src.Len() - br.Buffered()
		return out, r, nil
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for i, prev := range responseSeeds {
			for j, seed := range responseSeeds {
				_, used, err := read(prev, method, nil)
				if err != nil {
					continue // not a response to recycle
				}
				want, _, wantErr := read(seed, method, nil)
				got, again, gotErr := read(seed, method, used)
				if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s seed %d read into seed %d's response:\n got  %+v, %v\n want %+v, %v", method, j, i, got, gotErr, want, wantErr)
				}
				if gotErr == nil && again != used {
					t.Fatalf("%s seed %d: not read into the recycled response", method, j)
				}
			}
		}
	}
}
