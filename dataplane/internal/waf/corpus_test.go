package waf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	proxyv1 "github.com/proxy-manager/proxy-manager/pkg/gen/proxy/v1"
)

// corpusDir is the shared WAF corpus (../shared/waf-corpus beside the worktree).
var corpusDir = filepath.Join("..", "..", "..", "..", "shared", "waf-corpus")

type corpusRecord struct {
	ID        string            `json:"id"`
	Class     string            `json:"class"`
	Placement string            `json:"placement"`
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Query     string            `json:"query"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
	Expect    string            `json:"expect"`
}

// rawRequest writes a record as wafeval puts it on the wire.
func (c *corpusRecord) rawRequest() string {
	esc := func(s string) string {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] <= 0x20 || s[i] >= 0x7f {
				fmt.Fprintf(&b, "%%%02X", s[i])
			} else {
				b.WriteByte(s[i])
			}
		}
		return b.String()
	}
	method := c.Method
	if method == "" {
		method = "GET"
	}
	target := esc(c.Path)
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	if c.Query != "" {
		target += "?" + esc(c.Query)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: waf.test\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n", method, target)
	b.WriteString("Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n")
	keys := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch strings.ToLower(k) {
		case "content-length", "connection", "transfer-encoding", "host", "user-agent", "accept", "accept-language":
			if strings.ToLower(k) != "user-agent" && strings.ToLower(k) != "accept" && strings.ToLower(k) != "accept-language" {
				continue
			}
		}
		fmt.Fprintf(&b, "%s: %s\r\n", k, c.Headers[k])
	}
	if c.Body != "" || method == "POST" || method == "PUT" || method == "PATCH" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(c.Body))
	}
	b.WriteString("\r\n")
	b.WriteString(c.Body)
	return b.String()
}

func loadCorpus(t testing.TB, name string) []corpusRecord {
	f, err := os.Open(filepath.Join(corpusDir, name))
	if err != nil {
		if os.IsNotExist(err) {
			t.Skipf("WAF corpus not found at %s", corpusDir)
		}
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r corpusRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestCorpus replays the visible corpus through Inspect, as the data plane receives it, and
// checks the bar of issue 5: more detection than ModSecurity CRS 3.3.4 at paranoia level 1
// (75.1% of all attacks) with at most 1% false positives. The figures through the running data
// plane come from scripts/waf/measure.sh; WAF_CORPUS_VERBOSE=1 lists misses and false positives.
func TestCorpus(t *testing.T) {
	records := append(loadCorpus(t, "attacks.visible.jsonl"), loadCorpus(t, "benign.visible.jsonl")...)
	pol, err := New(&proxyv1.Waf{Enabled: true, Mode: "block", Rules: &proxyv1.WafRules{SqlInjection: true, Xss: true,
		PathTraversal: true, SuspiciousHeaders: true, CommandInjection: true}})
	if err != nil {
		t.Fatal(err)
	}
	verbose := os.Getenv("WAF_CORPUS_VERBOSE") != ""
	type tally struct{ total, blocked, unparsed int }
	by := map[string]*tally{}
	get := func(k string) *tally {
		if by[k] == nil {
			by[k] = &tally{}
		}
		return by[k]
	}
	for i := range records {
		rec := &records[i]
		kind := "attack"
		if rec.Expect == "allow" {
			kind = "benign"
		}
		all, cls := get(kind), get(kind+"/"+rec.Class)
		all.total++
		cls.total++
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(rec.rawRequest())))
		if err != nil { // the data plane answers 400 before any policy
			all.unparsed++
			cls.unparsed++
			continue
		}
		m := pol.Inspect(req)
		if m.Found() {
			all.blocked++
			cls.blocked++
		}
		if verbose && (m.Found() != (kind == "attack") || os.Getenv("WAF_CORPUS_ALL") != "") {
			t.Logf("%s %s %s %s/%s?%.120s body=%.80q match=%s %q", kind, rec.ID, rec.Placement, rec.Class, rec.Path, rec.Query, rec.Body, m.Rule, m.Pattern+" @"+m.Where())
		}
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rate := func(t *tally) float64 { return 100 * float64(t.blocked) / float64(t.total) }
	for _, k := range keys {
		t.Logf("%-18s %4d/%4d blocked (%5.1f%%), %d refused by the parser", k, by[k].blocked, by[k].total, rate(by[k]), by[k].unparsed)
	}
	// CRS 3.3.4 at paranoia level 1 on the same records (../shared/waf-corpus/README.md).
	for class, crs := range map[string]float64{"attack": 75.1, "attack/sqli": 79.7, "attack/xss": 82.8, "attack/traversal": 76.9, "attack/rce": 58.0} {
		if r := rate(by[class]); r <= crs {
			t.Errorf("%s: detection %.1f%%, want more than CRS's %.1f%%", class, r, crs)
		}
	}
	if r := rate(by["benign"]); r > 1 {
		t.Errorf("false positives %.1f%%, want at most 1%%", r)
	}
}
