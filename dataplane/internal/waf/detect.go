package waf

import (
	"regexp"
	"strings"

	"github.com/corazawaf/libinjection-go"
)

// The detectors read a normalised value (Normalize: decoded, lower-case) and return what
// matched, for the event, or "".

// detectSQLi: libinjection's SQL tokenizer and fingerprints (which know a sentence with SQL
// words from SQL), then NoSQL operators and LDAP filter injection.
//
// v is the value decoded once (as the application reads it): SQL is not decoded again by a
// database, and decoding more turns percent-encoded text into quotes that were never there.
func detectSQLi(t *text) string {
	v := t.s
	if ok, fp := isSQLi(v); ok && (!weakFingerprint(fp) || quoteBreakout(v)) {
		return "libinjection sqli " + fp
	}
	// A fragment meant to follow a number in the query (" or 1=1 --", ") waitfor delay"):
	// libinjection reads it in that context.
	if leftOperand(v) {
		if ok, fp := isSQLi("1 " + v); ok {
			return "libinjection sqli 1" + fp
		}
	}
	if m := sqlGrammar.find(t); m != "" {
		return "sql " + m
	}
	if strings.IndexByte(v, '$') >= 0 {
		if m := noSQLOperator.FindString(v); m != "" {
			return "nosql " + m
		}
	}
	if t.contains(&dbDot) {
		if m := mongoShell.FindString(v); m != "" {
			return "nosql " + m
		}
	}
	if strings.IndexByte(v, '(') >= 0 && strings.IndexByte(v, ')') >= 0 && strings.ContainsAny(v, "|&!=") || strings.Contains(v, ":=") {
		if m := ldapFilter.FindString(v); m != "" {
			return "ldap " + m
		}
	}
	return ""
}

// isSQLi is libinjection.IsSQLi(v), with v given in upper case: libinjection upper-cases
// each word it looks up (an allocation per word) and reads letters in either case, so upper-
// case input gives the same answer, cheaper. Its one case-sensitive test is a search for
// "sp_password": such a value is given as it is. FuzzIsSQLi compares the two.
func isSQLi(v string) (bool, string) {
	if strings.Contains(v, "sp_password") {
		return libinjection.IsSQLi(v)
	}
	return libinjection.IsSQLi(upperASCII(v))
}

func upperASCII(s string) string {
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		b[i] = c
	}
	return string(b)
}

// weakFingerprint: a fingerprint of strings, words, operators and comments only, without a
// number, a SQL keyword or a function. libinjection gives those to text that has quotes and
// punctuation in it (HTML, search syntax, passwords) as well as to injections.
func weakFingerprint(fp string) bool {
	return strings.Trim(fp, "so&nvck()") == ""
}

// quoteBreakout: the value starts by closing a string ("' or '", "admin'--", "a' regexp
// '"): a quote in its first word, near its start. Text has its quotes further in.
func quoteBreakout(v string) bool {
	v = strings.TrimLeft(v, " \t\r\n")
	i := strings.IndexAny(v, "'\"`")
	return i >= 0 && i < 16 && !strings.ContainsAny(v[:i], " \t\r\n")
}

// leftOperand reports whether v starts like the continuation of an expression: a closing
// parenthesis, a comma or a SQL operator word.
func leftOperand(v string) bool {
	v = strings.TrimLeft(v, " \t\r\n\v\f")
	if v == "" {
		return false
	}
	if v[0] == ')' || v[0] == ',' || v[0] == ';' {
		return true
	}
	for _, w := range [...]string{"or ", "and ", "union ", "having ", "waitfor ", "limit ", "procedure ", "into ", "xor "} {
		if strings.HasPrefix(v, w) {
			return true
		}
	}
	return false
}

var (
	// sqlGrammar: constructs found in SQL and nowhere else: time delays, system tables and
	// variables, file access, stacked statements, MySQL's versioned comments.
	sqlGrammar = gates{
		gate(`\bwaitfor\s+delay\b|\b(benchmark|pg_sleep|sleep)\s*\(\s*\d|dbms_pipe\.|\bxp_cmdshell\b|\bsp_(executesql|password|oacreate)\b|\binformation_schema\b|\bmaster\.\.sys|\bpg_(group|user|shadow|catalog)\b|\bmysql\.(user|db)\b|\bload_file\s*\(|\binto\s+(out|dump)file\b`,
			"waitfor", "sleep", "benchmark", "dbms_", "xp_", "sp_", "information_schema", "master..", "pg_", "mysql.", "load_file", "outfile", "dumpfile"),
		gate(`@@(version|servername|datadir|hostname)|/\*!\d*`, "@@", "/*!"),
		gate(`\bselect\s+(@@|\*\s+from\b|current_user\b|session_user\b|(user|version|database)\s*\()|\bunion(\s+all|\s+distinct)?\s*\(?\s*select\b`, "select"),
		gate(`;\s*(drop\s+(table|database)|truncate\b|insert\s+into|delete\s+from|alter\s+table|create\s+(table|user|function)|declare\s+@|exec(ute)?\s+(master|xp_|sp_|immediate)|shutdown\b|replace\s*\()|\bexec(ute)?\s+(master\.|xp_|sp_|immediate\b)`,
			"drop", "truncate", "insert", "delete", "alter", "create", "declare", "exec", "shutdown", "replace"),
		gateNeeding("=", `\b(or|and|having)\s+\d+\s*=\s*\d+`, "or ", " or", "and ", " and", "having"),
		gate(`\border\s+by\s+\d+\s*(--|#|/\*|$)`, "order"),
	}
	noSQLOperator = regexp.MustCompile(`\$(where|ne|eq|gt|gte|lt|lte|regex|or|and|nor|not|nin|in|exists|expr|elemmatch|all|size|type|mod|text|function|accumulator)\b\s*(\]|:|=|'|"|$)`)
	mongoShell    = regexp.MustCompile(`\bdb\.[a-z0-9_]+\.(insert|find|update|remove|drop|delete|aggregate|replace)[a-z]*\s*\(`)
	// A filter opened inside a value ((|(, (&() or a closed filter followed by another
	// condition ()(uid=).
	// An absolute filter ((&), (|)) or an extensible match (attr:2.5.13.18:=).
	ldapFilter = regexp.MustCompile(`\(\s*[&|!]\s*\(|\)\s*[&|!]?\s*\(\s*[&|!]?\s*[a-z][a-z0-9._-]*\s*[~<>]?=|\(\s*[&|]\s*\)|[a-z]:\d+(\.\d+)+:=`)
)

// detectXSS: libinjection's HTML5 tokenizer in the contexts a value can land in, then what
// it leaves out: tags that load or run something, event attributes of any name (browsers add
// new ones), script URLs and CSS that runs script, and script written without any tag.
func detectXSS(t *text) string {
	if t.contains(&utf7Prefix) {
		var tmp text
		t = t.derive(utf7.Replace(t.s), &tmp) // UTF-7: +ADw-script+AD4-
	}
	v := t.s
	// libinjection finds nothing without a '<' (a tag, a comment, a doctype) or an '=' (an
	// attribute's value): its HTML5 tokenizer makes no other token it judges.
	if (t.hasByte('<') || t.hasByte('=')) && libinjection.IsXSS(v) {
		return "libinjection xss"
	}
	if t.hasByte('<') {
		if m := activeTag.FindString(v); m != "" {
			return m
		}
	}
	if t.hasByte('=') && t.contains(&onWord) {
		if m := eventAttribute.FindString(v); m != "" {
			return m
		}
	}
	if t.any(scriptURLWords) {
		c := stripControls(v)
		if m := scriptURL.FindString(c); m != "" {
			return m
		}
	}
	if t.contains(&dataColon) {
		if m := dataURL.FindString(v); m != "" {
			return m
		}
	}
	if m := scriptSink.find(t); m != "" {
		return m
	}
	if scriptCode.find(t) != "" || (t.hasByte('\'') || t.hasByte('"') || t.hasByte('+') || t.hasByte('/')) && t.any(scriptWords) {
		if m := scriptCode.re.FindString(jsCanon(v)); m != "" {
			return m
		}
	}
	return ""
}

var (
	utf7 = strings.NewReplacer("+adw-", "<", "+ad4-", ">", "+aci-", "\"", "+acc-", "'")
	// Tags that run script or load a resource, and namespaced tags of XML dialects; not the
	// tags a post about HTML names (<form>, <input>, <video>).
	activeTag = regexp.MustCompile(`<\s*/?\s*(script|iframe|frame|frameset|object|embed|applet|svg|math|style|link|meta|base|xml|import|set|animate|animatetransform|animatemotion|feimage|handler|layer|ilayer|bgsound|marquee|isindex|portal|xmp|plaintext|noscript|noembed|(v|xi|xml|xsl|svg|html|xlink):[a-z]+)\b|\b(dynsrc|lowsrc)\s*=|\bsrc\s*=\s*['"]?\s*(javascript|vbscript|livescript|mocha|data):`)
	// An event handler attribute, whatever its name, in a tag or after a quote that closes one.
	eventAttribute = regexp.MustCompile(`(^|[\s"'/;<>])on[a-z]{3,}\s*=`)
	// A script URL (browsers ignore the tabs and newlines in it: stripControls) or CSS that
	// runs script.
	scriptURL = regexp.MustCompile(`\b(java|vb|live)script:[^\s]|url\s*\(\s*['"]?\s*(java|vb)script|-moz-binding|behavior\s*:\s*url|expression\(`)
	dataURL   = regexp.MustCompile(`\bdata:\s*(text/html|image/svg|application/(x-)?javascript|text/javascript|[^,]*,.*<)`)
	// A sink written as code: a call with no space before its parenthesis (prose puts one),
	// or the DOM properties an injected script reads.
	scriptSink = gate(`(^|[^a-z0-9_])(alert|prompt|confirm|eval|settimeout|setinterval|execscript|fromcharcode|atob|btoa)(\(|`+"`"+`)|document\.(cookie|domain|write|location)|window\.(location|open)|\.innerhtml\b`,
		"alert", "prompt", "confirm", "eval", "settimeout", "setinterval", "execscript", "fromcharcode", "atob", "btoa", "document.", "window.", ".innerhtml")
	// Script with its gaps and string pieces removed (jsCanon): properties of the global
	// objects read with brackets (top['al'+'ert']), sinks called indirectly (alert.call,
	// alert?.(), (alert)(), [1].find(alert)), tagged templates, new Function.
	scriptCode = gate(`(^|[^a-z0-9_$])(top|self|window|parent|frames|globalthis|document)\[|document\.(cookie|domain|write|location|body|createelement)|window\.(location|open|name)|(^|[^a-z0-9_$])newfunction\(|reflect\.(apply|construct)|\.call`+"`"+`|(alert|prompt|confirm|eval)(\.call|\.apply|\?\.\(|\)\()|[(,\[](alert|prompt|confirm|eval)[),\]]`,
		"top[", "self[", "window[", "parent[", "frames[", "globalthis[", "document[", "document.", "window.", "function(", "reflect.", ".call", "alert", "prompt", "confirm", "eval")
)

// scriptWords are what scriptCode looks for, for a value whose script may be cut up by
// quotes, comments or spaces (document /**/ . cookie).
var scriptWords = newLits("top", "self", "window", "parent", "frames", "globalthis", "document", "function", "reflect", "call", "alert", "prompt", "confirm", "eval")

// Literals the detectors test before they run a regular expression.
var (
	dbDot, utf7Prefix, onWord, dataColon = newLiteral("db."), newLiteral("+ad"), newLiteral("on"), newLiteral("data:")
	scriptURLWords                       = newLits("script", "url", "expression")
)

// jsCanon removes from v what script can be cut up with: white space, /* comments */,
// quotes and '+' (string concatenation).
func jsCanon(v string) string {
	v = stripComments(v)
	if !strings.ContainsAny(v, " \t\r\n\v\f'\"+") {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\r', '\n', '\v', '\f', '\'', '"', '+':
		default:
			b = append(b, v[i])
		}
	}
	return string(b)
}

// stripControls removes tabs, newlines and other control characters.
func stripControls(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x20 {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// detectTraversal: ../ sequences climbing out of a directory, well-known sensitive files,
// stream wrappers and cloud metadata addresses. hidden also refuses hidden files and
// directories (/.git/, /.env): only for the URL path, where nginx configurations refuse them
// too; /.well-known/ is allowed.
func detectTraversal(t *text, hidden bool) string {
	var tmp text
	t = t.derive(pathCanon(t.s), &tmp)
	c := t.s
	if n, deep := dotDots(c); n >= 2 {
		return "../../"
	} else if n == 1 && (deep || strings.HasPrefix(c, "/../")) {
		return "../ out of the root or to a system path"
	}
	if i := strings.Index(c, "$/"); i >= 2 && c[i-2] == '/' && 'a' <= c[i-1] && c[i-1] <= 'z' {
		return c[i-2 : i+2] // a Windows administrative share (\\host\c$\)
	}
	if f := t.first(sensitiveFiles); f != "" {
		return f
	}
	if t.contains(&colonSlash) { // also every "://"
		if w := t.first(wrappers); w != "" {
			return w
		}
	}
	if t.contains(&schemeSep) {
		if m := remoteInclude.find(t); m != "" {
			return m
		}
	}
	if m := t.first(metadataHosts); m != "" {
		return m
	}
	if hidden {
		if h := hiddenSegment(c); h != "" {
			return h
		}
	}
	return ""
}

// pathCanon rewrites the path separators of other systems and encodings to '/', drops
// control characters and shell quoting ("/et'c/pa'ss'wd"), and the globbing of a path
// (/etc/pas[s]wd).
func pathCanon(v string) string {
	if strings.Contains(v, "0x") || strings.Contains(v, "..") {
		v = canonReplacer.Replace(v)
	}
	if !strings.ContainsAny(v, "\\'\"[]?*\x01\x02\x03\x04\x05\x06\x07\x08\t\n\v\f\r") {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20, c == '\'', c == '"', c == '[', c == ']':
		case c == '\\':
			b = append(b, '/')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

var canonReplacer = strings.NewReplacer("0x2e", ".", "0x2f", "/", "0x5c", "/", "..2f", "../", "..5c", "../")

// dotDots counts the path segments made of two dots or more (.., ..., ..;), and says whether
// one of them is followed by an absolute system directory.
func dotDots(c string) (n int, deep bool) {
	for i := 0; i < len(c); {
		j := strings.Index(c[i:], "..")
		if j < 0 {
			break
		}
		start := i + j
		end := start + 2
		for end < len(c) && (c[end] == '.' || c[end] == ';') {
			end++
		}
		startOK := start == 0 || c[start-1] == '/' || c[start-1] == '=' || c[start-1] == ' '
		endOK := end == len(c) || c[end] == '/'
		if startOK && endOK {
			n++
			rest := c[end:]
			for _, d := range systemDirs {
				if strings.HasPrefix(rest, d) {
					deep = true
				}
			}
		}
		i = end
	}
	return n, deep
}

var (
	systemDirs = []string{"/etc/", "/windows/", "/winnt/", "/boot.ini", "/proc/", "/var/", "/usr/", "/root/", "/home/", "/.ssh", "/.htaccess", "/.htpasswd", "/.env", "/.git"}
	// Files an application never serves and attackers always ask for.
	sensitiveFiles = newLits(
		"etc/passwd", "etc/shadow", "etc/gshadow", "etc/group", "etc/hosts", "etc/issue", "etc/master.passwd", "etc/sudoers",
		"etc/subuid", "etc/subgid", "etc/crontab", "etc/fstab", "/sys/class/", "/sys/kernel/", "ntuser.dat",
		"proc/self/", "/proc/version", "boot.ini", "win.ini", "system.ini", "windows/system32", "winnt/system32",
		"repair/sam", "/.htaccess", "/.htpasswd", "web.config", "/id_rsa", "/.ssh/", "/.aws/", "/.docker/",
		"/.kube/", "/.git/", "wp-config.php", "/var/log/", "httpd.conf", "/var/lib/php/sess",
	)
	// A URL cut by a trailing '?' (the rest of the path the application appends becomes its
	// query: remote file inclusion), and Apache's unix: socket proxy syntax (SSRF).
	remoteInclude = gates{gate(`^\s*(https?|ftps?)://[^?\s]*\?$|\bunix:[^|]*\|\s*https?:`, "?", "unix:")}
	wrappers      = newLits("file:/", "php://", "phar://", "zip://", "expect://", "glob://", "data://", "gopher://", "dict://", "jar:file", "netdoc:/")
	metadataHosts = newLits("169.254.169.254", "metadata.google.internal", "100.100.100.200", "fd00:ec2::254", "metadata.azure")
	colonSlash    = newLiteral(":/")
	schemeSep     = newLiteral("://")
)

// hiddenSegment returns a path segment that starts with a dot, other than /.well-known/.
func hiddenSegment(p string) string {
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '/' || p[i+1] != '.' {
			continue
		}
		seg := p[i+1:]
		if k := strings.IndexByte(seg, '/'); k >= 0 {
			seg = seg[:k]
		}
		if seg == "." || seg == ".." || seg == ".well-known" || len(seg) < 2 {
			continue
		}
		return "/" + seg
	}
	return ""
}

// detectHeaders: scanners and attack tools by their signature, CR/LF injection (a header or
// a response smuggled in a value), a request line smuggled in a value.
func detectHeaders(t *text, loc Location) string {
	v := t.s
	if loc == LocHeader {
		if s := t.first(scannerSignatures); s != "" {
			return s
		}
	}
	if t.hasByte('\r') || t.hasByte('\n') {
		if m := crlfHeader.FindString(v); m != "" {
			return "crlf " + strings.TrimSpace(m)
		}
		if loc == LocQueryName || loc == LocHeader || loc == LocPath {
			return "crlf"
		}
		// A header or a mail or IMAP command on a line of its own: fields of a URL or a cookie
		// have no lines (bodies do: a textarea).
		if m := lineInjection.find(t); m != "" && (loc == LocQuery || loc == LocCookie || strings.Contains(m, " to:") || strings.Contains(m, " from:")) {
			return "crlf " + strings.TrimSpace(m)
		}
	}
	if t.contains(&httpSlash) {
		if m := requestLine.FindString(v); m != "" {
			return m
		}
	}
	return ""
}

var (
	scannerSignatures = newLits(
		"sqlmap", "nikto", "nmap", "masscan", "zgrab", "openvas", "arachni", "fuzz faster u fool", "ffuf/", "wfuzz",
		"dirbuster", "gobuster", "nuclei", "acunetix", "netsparker", "w3af", "havij", "wpscan", "whatweb", "nessus",
		"commix", "jaeles", "burpcollaborator", "oast.", "interact.sh", "dnslog.", "zmeu", "morfeus", "paros/",
	)
	httpSlash     = newLiteral("http/")
	crlfHeader    = regexp.MustCompile(`[\r\n]\s*(set-cookie|content-length|content-type|location|refresh|transfer-encoding|access-control-[a-z-]+|x-xss-protection|content-security-policy|http/\d)\s*[:/]`)
	lineInjection = gate(`[\r\n]\s*([a-z][a-z0-9-]*\s*:\s*\S|(rcpt\s+to|mail\s+from)\s*:|(quit|data|helo|ehlo|vrfy|expn|noop|rset)\s*($|[\r\n])|[a-z]\d+\s+(capability|fetch|login|select|logout|list)\b)`, "\n", "\r")
	requestLine   = regexp.MustCompile(`\b(get|post|head|put|delete|options|trace|connect|patch)\s+\S+\s+http/\d`)
)
