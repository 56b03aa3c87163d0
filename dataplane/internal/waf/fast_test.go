package waf

import (
	"strings"
	"testing"

	"github.com/corazawaf/libinjection-go"
)

// The fast paths of the detectors must give exactly what the plain code they replace gives:
// these tests compare them on the corpus values and on fuzzed input. Run the fuzzers with
// go test -run=^$ -fuzz=FuzzLiterals -fuzztime=30s (and FuzzXSSPrecheck).

// allLits are every literal list the detectors test, with the gates' triggers.
func allLits() []lits {
	out := []lits{sensitiveFiles, wrappers, metadataHosts, scannerSignatures, scriptWords, scriptURLWords,
		{dbDot, utf7Prefix, onWord, dataColon, colonSlash, schemeSep, httpSlash}, scriptSink.triggers, scriptCode.triggers, lineInjection.triggers}
	for _, gs := range []gates{sqlGrammar, codeExec, quotedCode, remoteInclude} {
		for _, g := range gs {
			out = append(out, g.triggers)
		}
	}
	return out
}

// firstSlow is what text.first replaces: one strings.Contains per literal.
func firstSlow(v string, ls lits) string {
	for _, l := range ls {
		if strings.Contains(v, l.s) {
			return l.s
		}
	}
	return ""
}

func checkLiterals(t *testing.T, v, w string) {
	var tx text
	tx.reset(v)
	for _, ls := range allLits() {
		if got, want := tx.first(ls), firstSlow(v, ls); got != want {
			t.Fatalf("first(%q) = %q, strings.Contains finds %q", v, got, want)
		}
		if got, want := tx.any(ls), firstSlow(v, ls) != ""; got != want {
			t.Fatalf("any(%q) = %v, want %v", v, got, want)
		}
	}
	l := newLiteral(w)
	if got, want := tx.contains(&l), strings.Contains(v, w); got != want {
		t.Fatalf("contains(%q, %q) = %v, want %v", v, w, got, want)
	}
	for c := range 256 {
		if got, want := tx.hasByte(byte(c)), strings.IndexByte(v, byte(c)) >= 0; got != want {
			t.Fatalf("hasByte(%q, %d) = %v, want %v", v, c, got, want)
		}
	}
}

// xssPrecheck is the condition detectXSS tests before libinjection: without a '<' or an '='
// libinjection.IsXSS is false.
func checkXSSPrecheck(t *testing.T, v string) {
	if !strings.ContainsAny(v, "<=") && libinjection.IsXSS(v) {
		t.Fatalf("libinjection.IsXSS(%q) without '<' or '='", v)
	}
}

// corpusValues are the normalised values of the corpus records: paths, query pairs, headers,
// bodies.
func corpusValues(t *testing.T) []string {
	var out []string
	for _, name := range []string{"attacks.visible.jsonl", "benign.visible.jsonl"} {
		for _, r := range loadCorpus(t, name) {
			raws := []string{r.Path, r.Query, r.Body}
			for _, kv := range strings.Split(r.Query+"&"+r.Body, "&") {
				k, v, _ := strings.Cut(kv, "=")
				raws = append(raws, k, v)
			}
			for _, h := range r.Headers {
				raws = append(raws, h)
			}
			for _, raw := range raws {
				out = append(out, raw, Normalize(raw, true), decodeOnce(raw, true))
			}
		}
	}
	return out
}

func TestFastPathsOnCorpus(t *testing.T) {
	for _, v := range corpusValues(t) {
		checkLiterals(t, v, "")
		checkXSSPrecheck(t, v)
	}
}

func fastSeeds(f *testing.F) {
	for _, s := range []string{"", "/etc/passwd", "x onerror=alert(1)", "<svg/onload=1>", "a' or 1=1--", "${jndi:ldap://x}", "\r\nset-cookie: a", "169.254.169.254"} {
		f.Add(s, "on")
	}
}

func FuzzLiterals(f *testing.F) {
	fastSeeds(f)
	f.Fuzz(func(t *testing.T, v, w string) { checkLiterals(t, v, w) })
}

func FuzzXSSPrecheck(f *testing.F) {
	fastSeeds(f)
	f.Fuzz(func(t *testing.T, v, _ string) { checkXSSPrecheck(t, v) })
}

// checkUnencoded: for a value unencoded accepts, Normalize and decodeOnce are fold.
func checkUnencoded(t *testing.T, v string, plus bool) {
	if !unencoded(v, plus) {
		return
	}
	want := fold(v, 0)
	if got := Normalize(v, plus); got != want {
		t.Fatalf("Normalize(%q, %v) = %q, fold gives %q", v, plus, got, want)
	}
	if got := decodeOnce(v, plus); got != want {
		t.Fatalf("decodeOnce(%q, %v) = %q, fold gives %q", v, plus, got, want)
	}
}

// checkNeeds: every match of a gate's expression has the bytes the gate needs.
func checkNeeds(t *testing.T, v string) {
	for _, gs := range []gates{sqlGrammar, codeExec, quotedCode, remoteInclude, {scriptSink, scriptCode, lineInjection}} {
		for _, g := range gs {
			if m := g.re.FindString(v); m != "" {
				for i := 0; i < len(g.needs); i++ {
					if !strings.Contains(v, g.needs[i:i+1]) {
						t.Fatalf("%s matches %q, which has no %q", g.re, v, g.needs[i])
					}
				}
			}
		}
	}
}

func TestUnencodedAndNeedsOnCorpus(t *testing.T) {
	for _, v := range corpusValues(t) {
		checkUnencoded(t, v, false)
		checkUnencoded(t, v, true)
		checkNeeds(t, v)
	}
}

func FuzzUnencodedAndNeeds(f *testing.F) {
	fastSeeds(f)
	f.Fuzz(func(t *testing.T, v, _ string) {
		checkUnencoded(t, v, false)
		checkUnencoded(t, v, true)
		checkNeeds(t, v)
	})
}

func checkIsSQLi(t *testing.T, v string) {
	ok, fp := isSQLi(v)
	wantOK, wantFP := libinjection.IsSQLi(v)
	if ok != wantOK || fp != wantFP {
		t.Fatalf("isSQLi(%q) = %v %q, libinjection.IsSQLi gives %v %q", v, ok, fp, wantOK, wantFP)
	}
}

func TestIsSQLiOnCorpus(t *testing.T) {
	for _, v := range corpusValues(t) {
		checkIsSQLi(t, v)
		checkIsSQLi(t, "1 "+v)
	}
}

func FuzzIsSQLi(f *testing.F) {
	fastSeeds(f)
	f.Add("x' sP_password", "")
	f.Add("0x4142 union select b'01', e'\\n', n'x', q'[x]', u&'x', x'41' #", "")
	f.Fuzz(func(t *testing.T, v, _ string) { checkIsSQLi(t, v) })
}

func TestFileHeader(t *testing.T) {
	for _, name := range []string{"X-Filename", "X-File-Name", "X-FILE-NAME", "Content-Type", "X-Fİle-Name", "Filename-X", "X-Name", "X-File", ""} {
		n := strings.ToLower(name)
		if got, want := fileHeader(name), strings.Contains(n, "file") && strings.Contains(n, "name"); got != want {
			t.Errorf("fileHeader(%q) = %v, want %v", name, got, want)
		}
	}
}
