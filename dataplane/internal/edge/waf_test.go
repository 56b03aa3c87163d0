package edge

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/proxy-manager/proxy-manager/dataplane/internal/proxy"
	"github.com/proxy-manager/proxy-manager/dataplane/internal/requestid"
	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
	"google.golang.org/protobuf/proto"
)

// wafBackend counts its calls and hashes the bodies it receives.
type wafBackend struct {
	calls atomic.Int32
	mu    sync.Mutex
	sum   [32]byte
	size  int64
}

func (b *wafBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.calls.Add(1)
	h := sha256.New()
	n, _ := io.Copy(h, r.Body)
	b.mu.Lock()
	copy(b.sum[:], h.Sum(nil))
	b.size = n
	b.mu.Unlock()
}

func newWAFHarness(t *testing.T, cfg *proxyv1.Waf) (*harness, *securityLog, *wafBackend) {
	t.Helper()
	be := &wafBackend{}
	backend := httptest.NewServer(be)
	t.Cleanup(backend.Close)
	sec := &securityLog{}
	h := &harness{holder: &Holder{}, events: &eventLog{}, pools: proxy.NewPools(proxy.Options{})}
	handler, err := New(Config{Runtimes: h.holder, Events: h.events, Security: sec})
	if err != nil {
		t.Fatal(err)
	}
	h.front = httptest.NewServer(handler)
	t.Cleanup(func() {
		h.front.Close()
		h.pools.Close()
	})
	h.apply(t, 1, withPolicy(newRoute("panel", backend.URL, "/", "panel.test"), &proxyv1.Policy{Waf: cfg}))
	return h, sec, be
}

func allRules() *proxyv1.WafRules {
	return &proxyv1.WafRules{SqlInjection: true, Xss: true, PathTraversal: true, SuspiciousHeaders: true, CommandInjection: true}
}

func TestWAFBlocks(t *testing.T) {
	h, sec, be := newWAFHarness(t, &proxyv1.Waf{Enabled: true, Mode: "block", Rules: allRules()})

	res, body := h.do(t, http.MethodGet, "panel.test", "/search?q="+url.QueryEscape("1' OR '1'='1' --"), nil, nil)
	id := res.Header.Get(requestid.Header)
	if res.StatusCode != http.StatusForbidden || id == "" || !strings.Contains(body, id) {
		t.Fatalf("status %d, request id %q, page:\n%s", res.StatusCode, id, body)
	}
	if n := be.calls.Load(); n != 0 {
		t.Fatalf("the backend was called %d times for a blocked request", n)
	}
	evs := h.events.wait(t, 1)
	if evs[0].GetBlockedBy() != "waf" || evs[0].GetStatus() != 403 {
		t.Errorf("request event: blocked_by %q, status %d", evs[0].GetBlockedBy(), evs[0].GetStatus())
	}
	s := sec.all()
	if len(s) != 1 {
		t.Fatalf("%d security events, want 1", len(s))
	}
	ev := s[0]
	if ev.GetKind() != proxyv1.SecurityKind_SECURITY_KIND_WAF || ev.GetAction() != "blocked" || ev.GetRule() != "sql_injection" ||
		ev.GetPattern() == "" || !strings.Contains(ev.GetSnippet(), "or '1'='1'") || ev.GetRequestId() != id ||
		ev.GetRouteId() != "panel" || ev.GetReason() != "query q" {
		t.Errorf("security event %v", ev)
	}

	// A benign request with SQL words, "--" and "<" in prose goes through.
	res, _ = h.do(t, http.MethodGet, "panel.test", "/forum/search?q="+url.QueryEscape("select the best drink -- I <3 union jack"), nil, nil)
	if res.StatusCode != http.StatusOK || be.calls.Load() != 1 {
		t.Fatalf("benign request: status %d, backend calls %d", res.StatusCode, be.calls.Load())
	}
}

// A match in a field whose name is not valid UTF-8 still gives an event that can be marshalled.
func TestWAFEventIsValidProto(t *testing.T) {
	h, sec, _ := newWAFHarness(t, &proxyv1.Waf{Enabled: true, Mode: "block", Rules: allRules()})
	res, _ := h.do(t, http.MethodGet, "panel.test", "/?%ff%fe="+url.QueryEscape("<script>alert(1)</script>"), nil, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d", res.StatusCode)
	}
	s := sec.all()
	if len(s) != 1 {
		t.Fatalf("%d security events", len(s))
	}
	if _, err := proto.Marshal(s[0]); err != nil {
		t.Errorf("marshal %v: %v", s[0], err)
	}
}

func TestWAFLogMode(t *testing.T) {
	h, sec, be := newWAFHarness(t, &proxyv1.Waf{Enabled: true, Mode: "log", Rules: allRules()})
	res, _ := h.do(t, http.MethodGet, "panel.test", "/download/..%2f..%2f..%2fetc%2fpasswd", nil, nil)
	if res.StatusCode != http.StatusOK || be.calls.Load() != 1 {
		t.Fatalf("log mode: status %d, backend calls %d", res.StatusCode, be.calls.Load())
	}
	evs := h.events.wait(t, 1)
	if evs[0].GetBlockedBy() != "" {
		t.Errorf("log mode: blocked_by %q", evs[0].GetBlockedBy())
	}
	s := sec.all()
	if len(s) != 1 || s[0].GetAction() != "logged" || s[0].GetRule() != "path_traversal" {
		t.Fatalf("security events %v", s)
	}
}

func TestWAFExclusions(t *testing.T) {
	h, sec, be := newWAFHarness(t, &proxyv1.Waf{Enabled: true, Mode: "block", Rules: allRules(), Exclusions: []*proxyv1.WafExclusion{
		{Path: "/api/files/*", Params: []string{"content"}, Rules: []string{"command_injection", "xss"}},
		{Path: "/admin/scripts"},
	}})
	script := url.Values{"content": {"#!/bin/bash\ncurl -o /tmp/x https://example.com/x; <script>alert(1)</script>"}}.Encode()
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for _, tc := range []struct {
		desc, path, body string
		want             int
	}{
		{"excluded field on an excluded prefix", "/api/files/write", script, 200},
		{"the same field elsewhere", "/api/other", script, 403},
		{"another field on the excluded prefix", "/api/files/write", strings.Replace(script, "content=", "other=", 1), 403},
		{"a rule not excluded on the field", "/api/files/write", "content=" + url.QueryEscape("' or 1=1 --"), 403},
		{"a whole path excluded", "/admin/scripts", script, 200},
		{"an exact path is not a prefix", "/admin/scripts/2", script, 403},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			res, _ := h.do(t, http.MethodPost, "panel.test", tc.path, strings.NewReader(tc.body), form)
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
		})
	}
	if n := be.calls.Load(); n != 2 {
		t.Errorf("backend calls %d, want 2", n)
	}
	if n := len(sec.all()); n != 4 {
		t.Errorf("%d security events, want 4", n)
	}
}

// A body larger than what the WAF inspects reaches the backend whole, byte for byte.
func TestWAFLargeBodyReachesBackend(t *testing.T) {
	h, _, be := newWAFHarness(t, &proxyv1.Waf{Enabled: true, Rules: allRules(), MaxRequestSize: 64 << 10})
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; b.Len() < 3<<20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":"player","note":"just a sentence, with -- and <3 and ../ in it"}`)
	}
	b.WriteString(`]}`)
	want := sha256.Sum256(b.Bytes())
	for _, chunked := range []bool{false, true} {
		var body io.Reader = bytes.NewReader(b.Bytes())
		if chunked {
			body = io.MultiReader(body) // unknown length: sent chunked
		}
		res, _ := h.do(t, http.MethodPost, "panel.test", "/api/save", body, http.Header{"Content-Type": {"application/json"}})
		be.mu.Lock()
		sum, size := be.sum, be.size
		be.mu.Unlock()
		if res.StatusCode != 200 || sum != want || size != int64(b.Len()) {
			t.Fatalf("chunked=%v: status %d, backend got %d bytes (sent %d), same bytes: %v", chunked, res.StatusCode, size, b.Len(), sum == want)
		}
	}
}
