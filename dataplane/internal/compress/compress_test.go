package compress

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func mustNew(t testing.TB, cfg *proxyv1.Compression) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// The seeds' examples.
var (
	seedCommunity = &proxyv1.Compression{Enabled: true, Algorithms: []string{"brotli", "gzip"}, Level: 6, MinSize: 1024,
		ContentTypes: []string{"text/html", "text/css", "text/javascript", "application/javascript", "application/json", "text/plain", "application/xml"}}
	seedPterodactyl = &proxyv1.Compression{Enabled: true, Algorithms: []string{"gzip"}, Level: 6, MinSize: 512,
		ContentTypes: []string{"application/json"}}
	seedFull = &proxyv1.Compression{Enabled: true, Algorithms: []string{"gzip"}, Level: 6, MinSize: 1024}
	seedTask = &proxyv1.Compression{Enabled: true, Algorithms: []string{"brotli", "gzip"}, Level: 6, MinSize: 1024,
		ContentTypes: []string{"text/html", "text/css", "application/javascript", "application/json"}}
)

func decode(t testing.TB, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return b
	case "gzip":
		gr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = gr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unknown encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

// body is a deterministic HTML page of about n bytes, varied enough not to compress absurdly.
func body(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("player server community guild match lobby ranked queue season patch notes map spawn raid boss loot admin panel backup world plugin mod")
	var b bytes.Buffer
	b.WriteString("<!doctype html><html><head><title>Community</title></head><body>\n")
	for b.Len() < n {
		fmt.Fprintf(&b, `<div class="post" id="p%d"><a href="/u/%d">%s</a><p>`, rng.IntN(100000), rng.IntN(5000), words[rng.IntN(len(words))])
		for range 8 + rng.IntN(20) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "</p><time>2026-%02d-%02dT%02d:%02d</time></div>\n", 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60))
	}
	return b.Bytes()[:n]
}

func jsonBody(n int) []byte {
	rng := rand.New(rand.NewPCG(3, 4))
	var b bytes.Buffer
	b.WriteString(`{"servers":[`)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"uuid":"%08x-%04x","name":"server-%d","node":"node-%d","memory":%d,"disk":%d,"cpu":%d,"status":"%s"},`,
			i, rng.Uint32(), rng.IntN(65536), i, rng.IntN(4), 1024*rng.IntN(16), 1024*rng.IntN(64), 100*rng.IntN(4), []string{"running", "offline", "starting"}[rng.IntN(3)])
	}
	return b.Bytes()[:n]
}

func TestNegotiate(t *testing.T) {
	all := mustNew(t, &proxyv1.Compression{Enabled: true, Algorithms: []string{"brotli", "zstd", "gzip"}})
	gzipOnly := mustNew(t, seedPterodactyl)
	testCases := []struct {
		desc   string
		p      *Policy
		accept []string
		want   string
	}{
		{"no header", all, nil, ""},
		{"empty", all, []string{""}, ""},
		{"browser: server order", all, []string{"gzip, deflate, br, zstd"}, "br"},
		{"gzip only", all, []string{"gzip"}, "gzip"},
		{"x-gzip", all, []string{"x-gzip"}, "gzip"},
		{"case-insensitive", all, []string{"GZIP"}, "gzip"},
		{"q-values win over order", all, []string{"br;q=0.5, gzip;q=0.9, zstd;q=0.1"}, "gzip"},
		{"equal q: server order", all, []string{"gzip;q=0.8, zstd;q=0.8"}, "zstd"},
		{"q=0 refuses", all, []string{"br;q=0, gzip"}, "gzip"},
		{"all refused", all, []string{"br;q=0, gzip;q=0, zstd;q=0"}, ""},
		{"star", all, []string{"*"}, "br"},
		{"star with exclusions", all, []string{"*;q=0.5, br;q=0"}, "zstd"},
		{"star q=0", all, []string{"*;q=0"}, ""},
		{"star q=0 but gzip named", all, []string{"gzip;q=0.3, *;q=0"}, "gzip"},
		{"identity only", all, []string{"identity"}, ""},
		{"identity;q=0 with nothing acceptable", all, []string{"identity;q=0, deflate"}, ""},
		{"identity;q=0 and gzip", all, []string{"identity;q=0, gzip"}, "gzip"},
		{"spaces and params", all, []string{" gzip ; q=1.0 , br ; q=0.999"}, "gzip"},
		{"malformed q counts as 0", all, []string{"br;q=abc, gzip"}, "gzip"},
		{"q above 1 is malformed", all, []string{"br;q=2, gzip"}, "gzip"},
		{"several header lines", all, []string{"deflate", "zstd"}, "zstd"},
		{"route without br", gzipOnly, []string{"br, zstd"}, ""},
		{"route without br, gzip offered", gzipOnly, []string{"br, gzip;q=0.1"}, "gzip"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			a := tc.p.negotiate(tc.accept)
			got := ""
			if a != nil {
				got = a.name
			}
			if got != tc.want {
				t.Errorf("negotiate(%q) = %q, want %q", tc.accept, got, tc.want)
			}
		})
	}
}

func TestParseQ(t *testing.T) {
	for params, want := range map[string]int{"": 1000, "q=1": 1000, "q=1.000": 1000, "q=0": 0, "q=0.5": 500, "q=0.123": 123,
		"q=0.1234": 0, "Q=0.7": 700, "level=2;q=0.2": 200, "q=1.5": 0, "q=": 0} {
		if got := parseQ(params); got != want {
			t.Errorf("parseQ(%q) = %d, want %d", params, got, want)
		}
	}
}

// serve runs handler behind the policy and returns the recorded response and the result.
func serve(t testing.TB, p *Policy, req *http.Request, handler http.HandlerFunc) (*httptest.ResponseRecorder, Result) {
	t.Helper()
	rec := httptest.NewRecorder()
	w, finish := p.Wrap(rec, req)
	handler(w, req)
	return rec, finish()
}

func get(accept string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	if accept != "" {
		r.Header.Set("Accept-Encoding", accept)
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []string{"br", "zstd", "gzip"} {
		for _, level := range []int32{0, 1, 6, 11} {
			for _, src := range []struct {
				name string
				b    []byte
				ct   string
			}{{"html", body(64 << 10), "text/html; charset=utf-8"}, {"json", jsonBody(200 << 10), "application/json"}} {
				t.Run(fmt.Sprintf("%s/%d/%s", alg, level, src.name), func(t *testing.T) {
					p := mustNew(t, &proxyv1.Compression{Enabled: true, Algorithms: []string{alg}, Level: level, MinSize: 1024})
					rec, res := serve(t, p, get(alg), func(w http.ResponseWriter, r *http.Request) {
						w.Header().Set("Content-Type", src.ct)
						// Odd-sized writes, as a proxy's copy loop makes.
						for b := src.b; len(b) > 0; {
							n := min(len(b), 7777)
							if _, err := w.Write(b[:n]); err != nil {
								t.Fatal(err)
							}
							b = b[n:]
						}
					})
					if got := rec.Header().Get("Content-Encoding"); got != alg {
						t.Fatalf("Content-Encoding = %q, want %q", got, alg)
					}
					if !bytes.Equal(decode(t, alg, rec.Body.Bytes()), src.b) {
						t.Fatal("decoded body differs")
					}
					if res.Encoding != alg || res.BytesIn != int64(len(src.b)) || res.BytesOut != int64(rec.Body.Len()) {
						t.Errorf("Result = %+v, body %d → %d", res, len(src.b), rec.Body.Len())
					}
					if res.Saved() <= 0 {
						t.Errorf("saved %d bytes", res.Saved())
					}
				})
			}
		}
	}
}

// Encoders come back from the pool clean: many responses through one policy stay correct.
func TestPoolReuse(t *testing.T) {
	for _, alg := range []string{"br", "zstd", "gzip"} {
		p := mustNew(t, &proxyv1.Compression{Enabled: true, Algorithms: []string{alg}})
		for i := range 20 {
			src := body(2000 + i*997)
			rec, _ := serve(t, p, get(alg), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = w.Write(src)
			})
			if !bytes.Equal(decode(t, alg, rec.Body.Bytes()), src) {
				t.Fatalf("%s: response %d decoded wrong", alg, i)
			}
		}
	}
}

func TestSkipRules(t *testing.T) {
	big := body(4096)
	testCases := []struct {
		desc    string
		method  string
		accept  string
		status  int
		headers map[string]string
		body    []byte
		want    string
	}{
		{"compressed", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html"}, big, "gzip"},
		{"404 page compressed too", "GET", "gzip", 404, map[string]string{"Content-Type": "text/html"}, big, "gzip"},
		{"HEAD", "HEAD", "gzip", 200, map[string]string{"Content-Type": "text/html"}, nil, ""},
		{"no Accept-Encoding", "GET", "", 200, map[string]string{"Content-Type": "text/html"}, big, ""},
		{"already encoded", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html", "Content-Encoding": "br"}, big, "br"},
		{"206", "GET", "gzip", 206, map[string]string{"Content-Type": "text/html", "Content-Range": "bytes 0-4095/9000"}, big, ""},
		{"Content-Range on 200", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html", "Content-Range": "bytes */9000"}, big, ""},
		{"204", "GET", "gzip", 204, map[string]string{"Content-Type": "text/html"}, nil, ""},
		{"304", "GET", "gzip", 304, map[string]string{"Content-Type": "text/html"}, nil, ""},
		{"no-transform", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html", "Cache-Control": "public, No-Transform"}, big, ""},
		{"other type", "GET", "gzip", 200, map[string]string{"Content-Type": "image/png"}, big, ""},
		{"no type", "GET", "gzip", 200, nil, big, ""},
		{"type with parameters, upper case", "GET", "gzip", 200, map[string]string{"Content-Type": "Text/HTML ; charset=utf-8"}, big, "gzip"},
		{"svg by default", "GET", "gzip", 200, map[string]string{"Content-Type": "image/svg+xml"}, big, "gzip"},
		{"below min_size by Content-Length", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html", "Content-Length": "100"}, big[:100], ""},
		{"at min_size by Content-Length", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html", "Content-Length": "1024"}, big[:1024], "gzip"},
		{"below min_size, length unknown", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html"}, big[:1023], ""},
		{"at min_size, length unknown", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html"}, big[:1024], "gzip"},
		{"empty body", "GET", "gzip", 200, map[string]string{"Content-Type": "text/html"}, nil, ""},
	}
	p := mustNew(t, &proxyv1.Compression{Enabled: true, MinSize: 1024})
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/", nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			rec, res := serve(t, p, req, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.headers {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				if len(tc.body) > 0 {
					_, _ = w.Write(tc.body)
				}
			})
			if rec.Code != tc.status {
				t.Errorf("status = %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Encoding"); got != tc.want {
				t.Fatalf("Content-Encoding = %q, want %q", got, tc.want)
			}
			compressed := tc.want != "" && tc.headers["Content-Encoding"] == ""
			if compressed {
				if !bytes.Equal(decode(t, tc.want, rec.Body.Bytes()), tc.body) {
					t.Error("decoded body differs")
				}
				if res.Encoding != tc.want {
					t.Errorf("Result.Encoding = %q", res.Encoding)
				}
				if rec.Header().Get("Content-Length") != "" {
					t.Error("Content-Length kept on a compressed response")
				}
			} else {
				if !bytes.Equal(rec.Body.Bytes(), tc.body) {
					t.Errorf("body changed: %d bytes, want %d", rec.Body.Len(), len(tc.body))
				}
				if res.Encoding != "" || res.BytesIn != res.BytesOut {
					t.Errorf("Result = %+v", res)
				}
				if rec.Header().Get("Vary") != "" {
					t.Errorf("Vary = %q on an uncompressed response", rec.Header().Get("Vary"))
				}
			}
		})
	}
}

// A held-back small body goes out with its length known.
func TestSmallBodyGetsContentLength(t *testing.T) {
	p := mustNew(t, seedFull)
	rec, res := serve(t, p, get("gzip"), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("hello "))
		_, _ = w.Write([]byte("world"))
	})
	if rec.Body.String() != "hello world" || rec.Header().Get("Content-Length") != "11" {
		t.Errorf("body %q, Content-Length %q", rec.Body.String(), rec.Header().Get("Content-Length"))
	}
	if res != (Result{BytesIn: 11, BytesOut: 11}) {
		t.Errorf("Result = %+v", res)
	}
}

func TestHeaders(t *testing.T) {
	testCases := []struct {
		desc     string
		in       map[string][]string
		wantVary []string
		wantETag string
	}{
		{"no Vary", nil, []string{"Accept-Encoding"}, ""},
		{"Vary appended", map[string][]string{"Vary": {"Origin"}}, []string{"Origin", "Accept-Encoding"}, ""},
		{"Vary present", map[string][]string{"Vary": {"origin, accept-encoding"}}, []string{"origin, accept-encoding"}, ""},
		{"Vary *", map[string][]string{"Vary": {"*"}}, []string{"*"}, ""},
		{"strong ETag weakened", map[string][]string{"Etag": {`"abc"`}}, []string{"Accept-Encoding"}, `W/"abc"`},
		{"weak ETag kept", map[string][]string{"Etag": {`W/"abc"`}}, []string{"Accept-Encoding"}, `W/"abc"`},
	}
	p := mustNew(t, &proxyv1.Compression{Enabled: true})
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			rec, _ := serve(t, p, get("gzip"), func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.in {
					w.Header()[k] = v
				}
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Content-Length", "4096")
				w.Header().Set("Accept-Ranges", "bytes")
				_, _ = w.Write(body(4096))
			})
			if got := rec.Header().Values("Vary"); fmt.Sprint(got) != fmt.Sprint(tc.wantVary) {
				t.Errorf("Vary = %q, want %q", got, tc.wantVary)
			}
			if got := rec.Header().Get("Etag"); got != tc.wantETag {
				t.Errorf("ETag = %q, want %q", got, tc.wantETag)
			}
			if rec.Header().Get("Content-Length") != "" || rec.Header().Get("Accept-Ranges") != "" {
				t.Errorf("Content-Length or Accept-Ranges kept: %v", rec.Header())
			}
		})
	}
}

// Each chunk a streaming backend flushes reaches the client while the handler still runs,
// compressed, and the whole stream decodes; also when the length was unknown and the first
// chunk was below min_size.
func TestStreamingFlush(t *testing.T) {
	for _, alg := range []string{"br", "zstd", "gzip"} {
		t.Run(alg, func(t *testing.T) {
			p := mustNew(t, &proxyv1.Compression{Enabled: true, Algorithms: []string{alg}, MinSize: 1024})
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cw, finish := p.Wrap(w, r)
				defer finish()
				cw.Header().Set("Content-Type", "text/plain")
				_, _ = cw.Write([]byte("first chunk\n"))
				if err := http.NewResponseController(cw).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
				<-release
				_, _ = cw.Write([]byte("second chunk\n"))
			}))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept-Encoding", alg)
			res, err := srv.Client().Do(req)
			if err != nil {
				close(release)
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.Header.Get("Content-Encoding") != alg {
				close(release)
				t.Fatalf("Content-Encoding = %q", res.Header.Get("Content-Encoding"))
			}
			var dec io.Reader
			switch alg {
			case "gzip":
				dec, err = gzip.NewReader(res.Body)
			case "br":
				dec = brotli.NewReader(res.Body)
			case "zstd":
				var zr *zstd.Decoder
				zr, err = zstd.NewReader(res.Body)
				if err == nil {
					defer zr.Close()
				}
				dec = zr
			}
			if err != nil {
				close(release)
				t.Fatal(err)
			}
			first := make([]byte, len("first chunk\n"))
			done := make(chan error, 1)
			go func() { _, err := io.ReadFull(dec, first); done <- err }()
			select {
			case err := <-done:
				if err != nil || string(first) != "first chunk\n" {
					close(release)
					t.Fatalf("first chunk %q, %v", first, err)
				}
			case <-time.After(5 * time.Second):
				close(release)
				t.Fatal("first chunk did not arrive before the handler ended")
			}
			close(release)
			rest, err := io.ReadAll(dec)
			if err != nil || string(rest) != "second chunk\n" {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

// Hijack and Unwrap reach the writer below.
func TestHijackUnwrap(t *testing.T) {
	p := mustNew(t, &proxyv1.Compression{Enabled: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw, finish := p.Wrap(w, r)
		if u, ok := cw.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != w {
			t.Error("Unwrap does not return the writer below")
		}
		conn, brw, err := http.NewResponseController(cw).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		_ = brw.Flush()
		if res := finish(); res != (Result{}) {
			t.Errorf("Result after hijack = %+v", res)
		}
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(b) != "hi" {
		t.Errorf("body %q", b)
	}
}

// Nothing written (the backend failed): finish leaves the writer for the caller's error page.
func TestNothingWritten(t *testing.T) {
	p := mustNew(t, &proxyv1.Compression{Enabled: true})
	rec := httptest.NewRecorder()
	_, finish := p.Wrap(rec, get("gzip"))
	if res := finish(); res != (Result{}) {
		t.Errorf("Result = %+v", res)
	}
	if rec.Header().Get("Content-Encoding") != "" || rec.Body.Len() != 0 {
		t.Error("finish wrote something")
	}
}

func TestSeeds(t *testing.T) {
	for name, cfg := range map[string]*proxyv1.Compression{"community": seedCommunity, "pterodactyl": seedPterodactyl, "full": seedFull, "task": seedTask} {
		t.Run(name, func(t *testing.T) {
			p := mustNew(t, cfg)
			json := jsonBody(8000)
			rec, res := serve(t, p, get("gzip, deflate, br, zstd"), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(json)
			})
			want := cfg.Algorithms[0]
			if want == "brotli" {
				want = "br"
			}
			if res.Encoding != want || !bytes.Equal(decode(t, want, rec.Body.Bytes()), json) {
				t.Errorf("Result %+v", res)
			}
			// Small responses are not compressed: below min_size.
			small := jsonBody(int(cfg.MinSize) - 1)
			rec, res = serve(t, p, get("gzip, br"), func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(small)
			})
			if res.Encoding != "" || !bytes.Equal(rec.Body.Bytes(), small) {
				t.Errorf("small: Result %+v", res)
			}
		})
	}
	// The community site's level 6 runs brotli at the cap, gzip at 6.
	if got := mustNew(t, seedCommunity).Levels(); got["br"] != MaxBrotliLevel || got["gzip"] != 6 {
		t.Errorf("levels = %v", got)
	}
}

func TestValidation(t *testing.T) {
	testCases := []struct {
		desc    string
		cfg     *proxyv1.Compression
		wantErr string
	}{
		{"unknown algorithm", &proxyv1.Compression{Enabled: true, Algorithms: []string{"deflate"}}, "unknown algorithm"},
		{"duplicate", &proxyv1.Compression{Enabled: true, Algorithms: []string{"br", "brotli"}}, "twice"},
		{"level", &proxyv1.Compression{Enabled: true, Level: 12}, "level"},
		{"negative level", &proxyv1.Compression{Enabled: true, Level: -1}, "level"},
		{"negative min_size", &proxyv1.Compression{Enabled: true, MinSize: -1}, "min_size"},
		{"bad type", &proxyv1.Compression{Enabled: true, ContentTypes: []string{"html"}}, "media type"},
		{"type with params", &proxyv1.Compression{Enabled: true, ContentTypes: []string{"text/html; charset=utf-8"}}, "media type"},
	}
	for _, tc := range testCases {
		t.Run(tc.desc, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
	for _, cfg := range []*proxyv1.Compression{nil, {Algorithms: []string{"gzip"}}} {
		if p := mustNew(t, cfg); p != nil {
			t.Errorf("New(%v) = %v, want nil", cfg, p)
		}
	}
	var p *Policy
	rec := httptest.NewRecorder()
	if w, _ := p.Wrap(rec, get("gzip")); w != http.ResponseWriter(rec) {
		t.Error("a nil Policy wrapped the writer")
	}
}

func TestWildcardType(t *testing.T) {
	p := mustNew(t, &proxyv1.Compression{Enabled: true, ContentTypes: []string{"text/*"}})
	for ct, want := range map[string]bool{"text/html": true, "text/csv; x=1": true, "text/": false, "textual/x": false, "application/json": false} {
		if got := p.typeMatches(ct); got != want {
			t.Errorf("typeMatches(%q) = %v", ct, got)
		}
	}
}
