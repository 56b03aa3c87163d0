package limits_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/limits"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func mustNew(t testing.TB, cfg *proxyv1.Limits) *limits.Limits {
	t.Helper()
	l, err := limits.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNew(t *testing.T) {
	testCases := []struct {
		desc    string
		cfg     *proxyv1.Limits
		wantErr string
	}{
		{desc: "nil means no route limits", cfg: nil},
		{desc: "zero means no route limits", cfg: &proxyv1.Limits{}},
		{desc: "seed: pterodactyl", cfg: &proxyv1.Limits{MaxRequestBody: 104857600, MaxRequestHeaders: 16384, MaxResponseBody: 52428800}},
		{desc: "negative body", cfg: &proxyv1.Limits{MaxRequestBody: -1}, wantErr: "max_request_body must not be negative"},
		{desc: "negative headers", cfg: &proxyv1.Limits{MaxRequestHeaders: -5}, wantErr: "max_request_headers must not be negative"},
		{desc: "negative response", cfg: &proxyv1.Limits{MaxResponseBody: -5}, wantErr: "max_response_body must not be negative"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := limits.New(tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New: got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	vault := &proxyv1.Limits{MaxRequestBody: 10485760, MaxRequestHeaders: 8192, MaxResponseBody: 10485760}
	withHeader := func(name string, size int) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set(name, strings.Repeat("a", size)) }
	}
	testCases := []struct {
		desc       string
		cfg        *proxyv1.Limits
		nilLimits  bool
		target     string
		tweak      func(*http.Request)
		wantStatus int
		wantMsg    string
	}{
		{desc: "small GET passes", cfg: vault, target: "/"},
		{desc: "URL at the maximum passes", cfg: vault, target: "/" + strings.Repeat("a", limits.MaxRequestURI-1)},
		{desc: "URL over the maximum is 414", cfg: vault, target: "/" + strings.Repeat("a", limits.MaxRequestURI),
			wantStatus: 414, wantMsg: "The request URL is longer than the maximum of 8 KiB."},
		{desc: "query counts toward the URL", cfg: vault, target: "/?q=" + strings.Repeat("a", limits.MaxRequestURI),
			wantStatus: 414},
		{desc: "URL limit applies without route limits", nilLimits: true, target: "/" + strings.Repeat("a", limits.MaxRequestURI),
			wantStatus: 414},
		{desc: "nil limits pass everything else", nilLimits: true, target: "/",
			tweak: func(r *http.Request) { r.ContentLength = 1 << 40; withHeader("X-Big", 1<<20)(r) }},
		{desc: "headers under the limit pass", cfg: vault, target: "/", tweak: withHeader("Cookie", 7000)},
		{desc: "headers over the limit are 431", cfg: vault, target: "/", tweak: withHeader("Cookie", 8200),
			wantStatus: 431, wantMsg: "The request headers are larger than the maximum of 8 KiB."},
		{desc: "many small headers add up to 431", cfg: vault, target: "/", tweak: func(r *http.Request) {
			for i := range 300 {
				r.Header.Add("X-Many", strings.Repeat("b", 20)+string(rune('a'+i%26)))
			}
		}, wantStatus: 431},
		{desc: "Host counts toward the headers", cfg: &proxyv1.Limits{MaxRequestHeaders: 100}, target: "/",
			tweak: func(r *http.Request) { r.Host = strings.Repeat("h", 100) + ".example" }, wantStatus: 431},
		{desc: "no header limit: large headers pass", cfg: &proxyv1.Limits{MaxRequestBody: 10}, target: "/",
			tweak: withHeader("Cookie", 60000)},
		{desc: "Content-Length at the limit passes", cfg: vault, target: "/upload",
			tweak: func(r *http.Request) { r.ContentLength = 10485760 }},
		{desc: "Content-Length over the limit is 413", cfg: vault, target: "/upload",
			tweak:      func(r *http.Request) { r.ContentLength = 10485761 },
			wantStatus: 413, wantMsg: "The request body is larger than the maximum of 10 MiB."},
		{desc: "decimal units are shown as written", cfg: &proxyv1.Limits{MaxRequestBody: 1e6}, target: "/upload",
			tweak:      func(r *http.Request) { r.ContentLength = 1e6 + 1 },
			wantStatus: 413, wantMsg: "The request body is larger than the maximum of 1 MB."},
		{desc: "unknown length passes Check (LimitBody bounds it)", cfg: vault, target: "/upload",
			tweak: func(r *http.Request) { r.ContentLength = -1 }},
		{desc: "no body limit: any Content-Length passes", cfg: &proxyv1.Limits{MaxRequestHeaders: 8192}, target: "/upload",
			tweak: func(r *http.Request) { r.ContentLength = 1 << 40 }},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			var l *limits.Limits
			if !tc.nilLimits {
				l = mustNew(t, tc.cfg)
			}
			r := httptest.NewRequest(http.MethodPost, "http://example.com"+tc.target, nil)
			r.RequestURI = tc.target // as a server sets it for an origin-form request
			if tc.tweak != nil {
				tc.tweak(r)
			}
			status, msg := l.Check(r)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (msg %q)", status, tc.wantStatus, msg)
			}
			if tc.wantStatus == 0 && msg != "" {
				t.Errorf("msg %q for a request that passes", msg)
			}
			if tc.wantMsg != "" && msg != tc.wantMsg {
				t.Errorf("msg %q, want %q", msg, tc.wantMsg)
			}
		})
	}
}

func TestLimitBody(t *testing.T) {
	const limit = 1000
	l := mustNew(t, &proxyv1.Limits{MaxRequestBody: limit})
	testCases := []struct {
		desc     string
		size     int
		oneByte  bool // read through a reader giving one byte at a time
		wantErr  bool
		wantRead int
	}{
		{desc: "empty", size: 0, wantRead: 0},
		{desc: "under the limit", size: 999, wantRead: 999},
		{desc: "exactly the limit", size: limit, wantRead: limit},
		{desc: "exactly the limit, byte by byte", size: limit, oneByte: true, wantRead: limit},
		{desc: "one byte over", size: limit + 1, wantErr: true, wantRead: limit},
		{desc: "one byte over, byte by byte", size: limit + 1, oneByte: true, wantErr: true, wantRead: limit},
		{desc: "far over", size: 1 << 20, wantErr: true, wantRead: limit},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(make([]byte, tc.size))
			if tc.oneByte {
				src = iotest.OneByteReader(src)
			}
			r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(src))
			r.ContentLength = -1 // chunked
			l.LimitBody(r)
			n, err := io.Copy(io.Discard, r.Body)
			if int(n) != tc.wantRead {
				t.Errorf("read %d bytes, want %d", n, tc.wantRead)
			}
			var tooLarge *limits.BodyTooLargeError
			if got := errors.As(err, &tooLarge); got != tc.wantErr {
				t.Fatalf("error %v, want a *BodyTooLargeError: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if tooLarge.Limit != limit {
					t.Errorf("Limit %d, want %d", tooLarge.Limit, limit)
				}
				// It stays failed.
				if n, err := r.Body.Read(make([]byte, 10)); n != 0 || !errors.As(err, &tooLarge) {
					t.Errorf("read after the error: %d, %v", n, err)
				}
			}
		})
	}

	t.Run("declared length and no body are left alone", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("abc"))
		body := r.Body
		l.LimitBody(r)
		if r.Body != body {
			t.Error("a body of declared length was wrapped")
		}
		r = httptest.NewRequest(http.MethodGet, "/", nil)
		r.ContentLength = -1
		l.LimitBody(r)
		if r.Body != http.NoBody {
			t.Error("NoBody was wrapped")
		}
	})
	t.Run("no body limit leaves the body alone", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(strings.NewReader("abc")))
		r.ContentLength = -1
		body := r.Body
		mustNew(t, nil).LimitBody(r)
		var nilLimits *limits.Limits
		nilLimits.LimitBody(r)
		if r.Body != body {
			t.Error("body wrapped without a limit")
		}
	})
}

func TestBodyStatus(t *testing.T) {
	l := mustNew(t, &proxyv1.Limits{MaxRequestBody: 10 << 20})
	r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(bytes.NewReader(make([]byte, 11<<20))))
	r.ContentLength = -1
	l.LimitBody(r)
	_, readErr := io.Copy(io.Discard, r.Body)
	// The transport and ReverseProxy may wrap the body's error.
	wrapped := &url.Error{Op: "Post", URL: "http://backend/", Err: readErr}

	status, msg, ok := l.BodyStatus(wrapped)
	if !ok || status != http.StatusRequestEntityTooLarge || msg != "The request body is larger than the maximum of 10 MiB." {
		t.Errorf("BodyStatus = %d, %q, %v", status, msg, ok)
	}
	if _, _, ok := l.BodyStatus(errors.New("connection refused")); ok {
		t.Error("another error was taken for a body too large")
	}
	if _, _, ok := l.BodyStatus(nil); ok {
		t.Error("nil was taken for a body too large")
	}
}

func TestHumanSize(t *testing.T) {
	testCases := []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"}, {1, "1 byte"}, {999, "999 bytes"},
		{1000, "1 KB"}, {1024, "1 KiB"}, {8192, "8 KiB"}, {16384, "16 KiB"},
		{1048576, "1 MiB"}, {10485760, "10 MiB"}, {104857600, "100 MiB"}, {52428800, "50 MiB"},
		{1e6, "1 MB"}, {10e6, "10 MB"}, {1 << 30, "1 GiB"}, {5e9, "5 GB"}, {1 << 40, "1 TiB"},
		{1500000, "1.5 MB"}, {1536, "1.5 KiB"}, {1499999, "1.4 MB"}, {1001, "1 KB"}, {1100, "1.1 KB"},
	}
	for _, tc := range testCases {
		if got := limits.HumanSize(tc.n); got != tc.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// recorder is a backend that counts the request body bytes it receives.
type recorder struct {
	srv      *httptest.Server
	requests atomic.Int64
	received atomic.Int64
	done     chan struct{} // one value per finished request
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{done: make(chan struct{}, 16)}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { rec.done <- struct{}{} }()
		rec.requests.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		rec.received.Add(n)
		if err != nil {
			return // the proxy aborted the upload
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// wait waits until the backend finished one request.
func (rec *recorder) wait(t *testing.T) {
	t.Helper()
	select {
	case <-rec.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend did not finish the request")
	}
}

// limitingProxy is the shape the edge gives a route: Check, LimitBody, then a plain
// httputil.ReverseProxy whose error becomes 413 when the body crossed the limit.
func limitingProxy(t *testing.T, l *limits.Limits, backend string) *httptest.Server {
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if status, msg, ok := l.BodyStatus(err); ok {
				http.Error(w, msg, status)
				return
			}
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, msg := l.Check(r); status != 0 {
			http.Error(w, msg, status)
			return
		}
		l.LimitBody(r)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// chunked is a request body of unknown length: the client sends it chunked.
type chunked struct{ io.Reader }

func TestBackendNeverReceivesMoreThanTheLimit(t *testing.T) {
	const limit = 64 << 10
	l := mustNew(t, &proxyv1.Limits{MaxRequestBody: limit})
	testCases := []struct {
		desc         string
		size         int
		chunked      bool
		wantStatus   int  // 0: the client may see 413 or a broken connection
		wantContact  bool // the backend is contacted at all
		wantReceived int
	}{
		{desc: "chunked under the limit goes through", size: limit - 1, chunked: true,
			wantStatus: http.StatusCreated, wantContact: true, wantReceived: limit - 1},
		{desc: "chunked at the limit goes through", size: limit, chunked: true,
			wantStatus: http.StatusCreated, wantContact: true, wantReceived: limit},
		{desc: "chunked one byte over is cut and answered 413", size: limit + 1, chunked: true,
			wantStatus: http.StatusRequestEntityTooLarge, wantContact: true},
		{desc: "chunked far over is cut", size: 16 << 20, chunked: true, wantContact: true},
		{desc: "Content-Length over is 413 without contacting the backend", size: limit + 1,
			wantStatus: http.StatusRequestEntityTooLarge},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			rec := newRecorder(t)
			front := limitingProxy(t, l, rec.srv.URL)
			var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), tc.size))
			if tc.chunked {
				body = chunked{body}
			}
			resp, err := front.Client().Post(front.URL+"/upload", "application/octet-stream", body)
			if err == nil {
				msg, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if tc.wantStatus != 0 && resp.StatusCode != tc.wantStatus {
					t.Errorf("status %d (%s), want %d", resp.StatusCode, msg, tc.wantStatus)
				}
				if resp.StatusCode == http.StatusRequestEntityTooLarge && !strings.Contains(string(msg), "maximum of 64 KiB") {
					t.Errorf("413 body %q does not state the maximum", msg)
				}
			} else if tc.wantStatus != 0 {
				t.Fatalf("POST: %v", err)
			}
			if tc.wantContact {
				rec.wait(t)
			}
			if got := rec.requests.Load(); (got > 0) != tc.wantContact {
				t.Errorf("backend got %d requests, want contact: %v", got, tc.wantContact)
			}
			got := rec.received.Load()
			if got > limit {
				t.Errorf("backend received %d body bytes, more than the limit %d", got, limit)
			}
			if tc.wantReceived != 0 && got != int64(tc.wantReceived) {
				t.Errorf("backend received %d body bytes, want %d", got, tc.wantReceived)
			}
		})
	}
}

func FuzzLimitedBody(f *testing.F) {
	f.Add(int64(10), 10, 3)
	f.Add(int64(10), 11, 1)
	f.Add(int64(1), 0, 7)
	f.Add(int64(4096), 10000, 4095)
	f.Fuzz(func(t *testing.T, limit int64, size, chunk int) {
		if limit <= 0 || limit > 1<<20 || size < 0 || size > 1<<20 || chunk <= 0 || chunk > 1<<16 {
			t.Skip()
		}
		l := mustNew(t, &proxyv1.Limits{MaxRequestBody: limit})
		r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(bytes.NewReader(make([]byte, size))))
		r.ContentLength = -1
		l.LimitBody(r)
		var total int64
		buf := make([]byte, chunk)
		var err error
		for {
			var n int
			n, err = r.Body.Read(buf)
			total += int64(n)
			if err != nil {
				break
			}
		}
		var tooLarge *limits.BodyTooLargeError
		over := int64(size) > limit
		if over != errors.As(err, &tooLarge) || (!over && err != io.EOF) {
			t.Fatalf("limit %d, size %d: error %v", limit, size, err)
		}
		if total > limit || (!over && total != int64(size)) {
			t.Fatalf("limit %d, size %d: read %d", limit, size, total)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	l := mustNew(b, &proxyv1.Limits{MaxRequestBody: 10 << 20, MaxRequestHeaders: 16 << 10})
	r := httptest.NewRequest(http.MethodGet, "http://vault.example.org/api/sync?excludeDomains=true", nil)
	r.RequestURI = "/api/sync?excludeDomains=true"
	for k, v := range map[string]string{
		"User-Agent":      "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Accept":          "application/json",
		"Accept-Language": "en-US,en;q=0.5",
		"Accept-Encoding": "gzip, deflate, br, zstd",
		"Authorization":   "Bearer " + strings.Repeat("t", 600),
		"Cookie":          "session=" + strings.Repeat("c", 200),
	} {
		r.Header.Set(k, v)
	}
	b.ReportAllocs()
	for b.Loop() {
		if status, _ := l.Check(r); status != 0 {
			b.Fatal(status)
		}
		l.LimitBody(r)
	}
}
