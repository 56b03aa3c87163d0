// Package waf is the data plane's web application firewall: a route's policy, compiled once
// per snapshot by New, inspects each request before it reaches the backend and reports the
// first rule that matched.
//
// What is inspected: the URL path, the query (names and values), the body's fields (form,
// JSON, multipart; the first max_request_size bytes, which are then given back to the request
// so that the backend receives the body whole), the headers and cookies (up to
// max_header_size bytes). Each value is normalised first (Normalize) and then read by the
// detectors of the enabled rules: libinjection for SQL injection and XSS, and the detectors of
// detect.go and command.go. Exclusions turn rules off for a path or for some fields.
package waf

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// DefaultMaxBody is how much of a body is inspected when max_request_size is 0: the body is
// held in memory while it is inspected, so it must have a bound.
const DefaultMaxBody = 1 << 20

// Policy is one route's WAF, immutable and safe for concurrent use. A nil *Policy inspects
// nothing.
type Policy struct {
	block      bool
	rules      ruleSet
	maxBody    int64
	maxHeaders int64 // 0: every header
	exclusions []exclusion
}

// exclusion turns rules off on a path (exact, or a prefix when it ends in "*"; "" is every
// path), for some fields or for the whole request.
type exclusion struct {
	path   string
	prefix bool
	params []string
	rules  ruleSet
}

// New compiles a route's WAF configuration. A nil or disabled configuration gives a nil Policy.
func New(cfg *proxyv1.Waf) (*Policy, error) {
	if !cfg.GetEnabled() {
		return nil, nil
	}
	p := &Policy{maxBody: cfg.GetMaxRequestSize(), maxHeaders: cfg.GetMaxHeaderSize()}
	switch cfg.GetMode() {
	case "", "block":
		p.block = true
	case "log":
	default:
		return nil, fmt.Errorf("waf: mode %q: want block or log", cfg.GetMode())
	}
	if p.maxBody < 0 || p.maxHeaders < 0 {
		return nil, fmt.Errorf("waf: max_request_size and max_header_size must not be negative")
	}
	if p.maxBody == 0 {
		p.maxBody = DefaultMaxBody
	}
	r := cfg.GetRules()
	for rule, on := range map[Rule]bool{SQLInjection: r.GetSqlInjection(), XSS: r.GetXss(),
		PathTraversal: r.GetPathTraversal(), SuspiciousHeaders: r.GetSuspiciousHeaders(), CommandInjection: r.GetCommandInjection()} {
		if on {
			p.rules |= 1 << rule
		}
	}
	for i, e := range cfg.GetExclusions() {
		ex := exclusion{path: e.GetPath(), params: e.GetParams()}
		if strings.HasSuffix(ex.path, "*") {
			ex.path, ex.prefix = strings.TrimSuffix(ex.path, "*"), true
		}
		if strings.Contains(ex.path, "*") {
			return nil, fmt.Errorf("waf: exclusions[%d]: path %q: '*' is only allowed at the end", i, e.GetPath())
		}
		for _, name := range e.GetRules() {
			rule, ok := ParseRule(name)
			if !ok {
				return nil, fmt.Errorf("waf: exclusions[%d]: unknown rule %q (want one of %s)", i, name, strings.Join(RuleNames(), ", "))
			}
			ex.rules |= 1 << rule
		}
		if len(e.GetRules()) == 0 {
			ex.rules = allRules
		}
		p.exclusions = append(p.exclusions, ex)
	}
	return p, nil
}

// Block reports whether a match refuses the request (mode block) rather than only being
// recorded (mode log).
func (p *Policy) Block() bool { return p != nil && p.block }

// Location is the part of the request a value came from.
type Location uint8

// Locations of inspected values.
const (
	LocPath Location = iota + 1
	LocQuery
	LocQueryName
	LocBody
	LocBodyName
	LocHeader
	LocCookie
	LocFileName
)

var locationNames = [...]string{"", "path", "query", "query name", "body", "body name", "header", "cookie", "file name"}

func (l Location) String() string {
	if int(l) < len(locationNames) {
		return locationNames[l]
	}
	return "unknown"
}

// Match is what a rule found. The zero Match means nothing was found.
type Match struct {
	Rule     Rule
	Pattern  string   // what matched: a libinjection fingerprint, "../../", a command
	Location Location // where
	Name     string   // the field, header or cookie name ("" for the path)
	Snippet  string   // the start of the normalised value, at most MaxSnippet bytes
}

// MaxSnippet bounds Match.Snippet.
const MaxSnippet = 256

// maxName bounds Match.Name: a field name is client data too.
const maxName = 64

// Found reports whether the Match is one.
func (m Match) Found() bool { return m.Location != 0 }

// Where describes the Match's location for a log or an event: "query q", "path".
func (m Match) Where() string {
	if m.Name == "" {
		return m.Location.String()
	}
	return m.Location.String() + " " + m.Name
}

// active returns the rules that apply to the request's path, and the exclusions that name
// fields (which apply per field).
func (p *Policy) active(path string) (ruleSet, []exclusion) {
	rules := p.rules
	var fields []exclusion
	for _, e := range p.exclusions {
		if e.path != "" && !(path == e.path || e.prefix && strings.HasPrefix(path, e.path)) {
			continue
		}
		if len(e.params) == 0 {
			rules &^= e.rules
		} else {
			fields = append(fields, e)
		}
	}
	return rules, fields
}

// check runs the enabled detectors on one value, in the order of the rules.
func check(rules ruleSet, loc Location, name, raw string, plus bool) Match {
	if rules == 0 || raw == "" || plain(raw) {
		return Match{}
	}
	var v string
	simple := unencoded(raw, plus)
	if simple {
		v = fold(raw, 0) // what Normalize and decodeOnce both give for it
	} else {
		v = Normalize(raw, plus)
	}
	var tv, tsql text
	tv.reset(v)
	for r := range numRules {
		if !rules.has(r) {
			continue
		}
		in := &tv
		if r == SQLInjection && !simple {
			in = tv.derive(decodeOnce(raw, plus), &tsql)
		}
		if pattern := detect(r, in, loc, name); pattern != "" {
			if len(v) > MaxSnippet {
				v = v[:MaxSnippet]
			}
			if len(name) > maxName {
				name = name[:maxName]
			}
			return Match{Rule: r, Pattern: pattern, Location: loc, Name: name, Snippet: v}
		}
	}
	return Match{}
}

func detect(r Rule, t *text, loc Location, name string) string {
	v := t.s
	switch r {
	case SQLInjection:
		if loc == LocPath {
			return eachSegment(v, detectSQLi)
		}
		if sqliCandidate(v) {
			return detectSQLi(t)
		}
	case XSS:
		if loc == LocPath {
			return eachSegment(v, detectXSS)
		}
		return detectXSS(t)
	case PathTraversal:
		return detectTraversal(t, loc == LocPath)
	case SuspiciousHeaders:
		return detectHeaders(t, loc)
	case CommandInjection:
		if m := detectCommand(t); m != "" {
			return m
		}
		if loc == LocFileName || loc == LocHeader && fileHeader(name) {
			return scriptFileName(v)
		}
	}
	return ""
}

// eachSegment runs a detector on each segment of a path: an injection is a segment, and the
// slashes before it would hide it from a tokenizer.
func eachSegment(path string, detector func(*text) string) string {
	var t text
	for path != "" {
		var seg string
		seg, path, _ = strings.Cut(path, "/")
		if seg != "" && sqliCandidate(seg) {
			t.reset(seg)
			if m := detector(&t); m != "" {
				return m
			}
		}
	}
	return ""
}

// unencoded reports whether s has nothing Normalize decodes: no escape ('%', '&', '\\', '+'
// when plus) and no byte outside ASCII. Normalize and decodeOnce then only lower its letters
// and drop its NUL bytes, as fold does (TestUnencoded).
func unencoded(s string, plus bool) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf, c == '%', c == '&', c == '\\', c == '+' && plus:
			return false
		}
	}
	return true
}

// rulesFor removes from rules those the field exclusions turn off for name.
func rulesFor(rules ruleSet, fields []exclusion, name string) ruleSet {
	for _, e := range fields {
		for _, p := range e.params {
			if strings.EqualFold(p, name) {
				rules &^= e.rules
			}
		}
	}
	return rules
}

// plain reports whether s is made only of characters no detector looks at: letters, digits,
// '_', single '-', and '/' not followed by a dot; '.' only in numbers (1.5, 10.0.0.1), since
// dotted names can be code (java.lang.Runtime) or files (shell.php). Most identifiers, numbers,
// tokens and paths are plain, and skip the normalisation and the detectors.
func plain(s string) bool {
	letters, dots := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letters = true
		case c == '_':
			if i > 0 && s[i-1] == '_' {
				return false // __proto__, __class__
			}
		case '0' <= c && c <= '9':
		case c == 'x' && i > 0 && s[i-1] == '0':
			return false // 0x2e0x2e0x2f: hexadecimal dots and slashes
		case c == '-':
			if i > 0 && s[i-1] == '-' {
				return false
			}
		case c == '.':
			dots = true
		case c == '/':
			if i+1 < len(s) && s[i+1] == '.' {
				return false
			}
		default:
			return false
		}
	}
	return !(letters && dots)
}

// sqliCandidate skips libinjection for a single word (no SQL without an operator, a quote or
// a second token).
func sqliCandidate(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c >= 0x80) {
			return true
		}
	}
	return false
}

// fileHeader reports whether a header carries a file name (X-Filename, X-File-Name).
func fileHeader(name string) bool {
	var buf [64]byte
	if len(name) <= len(buf) && isASCII(name) { // header names are: lowered without allocating
		n := buf[:len(name)]
		for i := range n {
			c := name[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			n[i] = c
		}
		return bytes.Contains(n, []byte("file")) && bytes.Contains(n, []byte("name"))
	}
	n := strings.ToLower(name) // Unicode folding: 'İ' lowers to 'i'
	return strings.Contains(n, "file") && strings.Contains(n, "name")
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// scriptFileName matches a file name a web server would run as a script: a PHP, JSP, ASP or
// CGI upload is a web shell. Spaces and trailing dots, which Windows drops, are ignored.
func scriptFileName(v string) string {
	n := strings.TrimRight(strings.ReplaceAll(v, " ", ""), ".")
	if k := strings.LastIndexAny(n, "/\\"); k >= 0 {
		n = n[k+1:]
	}
	k := strings.LastIndexByte(n, '.')
	if k < 0 {
		return ""
	}
	ext := n[k+1:]
	for _, e := range scriptExtensions {
		if ext == e {
			return "." + ext
		}
	}
	return ""
}

var scriptExtensions = []string{"php", "php3", "php4", "php5", "php7", "phpt", "phtml", "phar", "pht", "phps",
	"jsp", "jspx", "jsw", "jsv", "jspf", "asp", "aspx", "asa", "asax", "ascx", "ashx", "asmx", "cer", "cgi", "shtml"}
